//! The project error type and the one place that turns an error into a message and an
//! exit code (SPEC §14).

use std::fmt;

/// Exit codes of SPEC §14.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const LEASE_BUSY: i32 = 75;
    pub const SHIM_RECURSION: i32 = 126;
}

#[derive(Debug)]
pub enum Error {
    /// Bad flags, bad input or bad configuration: exit 2, nothing written.
    Usage { message: String, hint: Option<String> },
    /// Several validation failures found at once (every one is printed).
    Invalid { what: String, violations: Vec<String> },
    /// The lease is held by another live process: exit 75.
    LeaseBusy(String),
    /// A guard refused the command: exit 1. The message is printed as is.
    Refused(String),
    /// The operation itself failed (git failure not tied to a candidate, lost lease, I/O).
    Failed { message: String, hint: Option<String> },
    /// A nested shim chain went too deep: exit 126.
    ShimRecursion(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage { message: message.into(), hint: None }
    }
    pub fn usage_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage { message: message.into(), hint: Some(hint.into()) }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed { message: message.into(), hint: None }
    }
    pub fn failed_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed { message: message.into(), hint: Some(hint.into()) }
    }
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Error::failed(format!("{context}: {err}"))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } | Error::Invalid { .. } => exit::USAGE,
            Error::LeaseBusy(_) => exit::LEASE_BUSY,
            Error::Refused(_) | Error::Failed { .. } => exit::FAILED,
            Error::ShimRecursion(_) => exit::SHIM_RECURSION,
        }
    }

    /// The text printed to stderr, with the `integrator: error:` prefix where it applies.
    pub fn render(&self, program: &str) -> String {
        match self {
            Error::Usage { message, hint } | Error::Failed { message, hint } => {
                let mut s = format!("{program}: error: {message}");
                if let Some(h) = hint {
                    s.push_str(&format!("\nhint: {h}"));
                }
                s
            }
            Error::Invalid { what, violations } => {
                let mut s = format!(
                    "{program}: error: invalid {what}: {} violation{}",
                    violations.len(),
                    if violations.len() == 1 { "" } else { "s" }
                );
                for v in violations {
                    s.push_str(&format!("\n  - {v}"));
                }
                s
            }
            Error::LeaseBusy(line) => line.clone(),
            Error::Refused(text) => text.clone(),
            Error::ShimRecursion(m) => format!("{program}: error: {m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("integrator"))
    }
}

impl std::error::Error for Error {}

/// Print the error and return its exit code: the single exit point of every binary.
pub fn report(program: &str, err: &Error) -> i32 {
    eprintln!("{}", err.render(program));
    err.exit_code()
}

/// Die quietly on a closed stdout (`integrator log | head`) like every Unix tool,
/// instead of a panic from `println!`.
pub fn default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
