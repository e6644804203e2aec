//! The project error type and the one place that turns an error into a message and an
//! exit code (SPEC §14).

use std::fmt;

/// Exit codes of SPEC §14.
pub(crate) mod exit {
    pub(crate) const OK: i32 = 0;
    pub(crate) const FAILED: i32 = 1;
    pub(crate) const USAGE: i32 = 2;
    pub(crate) const LEASE_BUSY: i32 = 75;
    pub(crate) const SHIM_RECURSION: i32 = 126;
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

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

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

    /// The error's sentence alone: no `integrator: error:` prefix and no hint (a refusal's
    /// text is whole, its own hint included), for embedding in another message: a warning,
    /// another error, a status line. Only `render` adds the prefix, so a wrapped error
    /// never reads `… integrator: error: …`.
    pub fn sentence(&self) -> String {
        match self {
            Error::Usage { message, .. } | Error::Failed { message, .. } => message.clone(),
            Error::Invalid { what, violations } => {
                let mut s = format!(
                    "invalid {what}: {} violation{}",
                    violations.len(),
                    if violations.len() == 1 { "" } else { "s" }
                );
                for v in violations {
                    s.push_str(&format!("\n  - {v}"));
                }
                s
            }
            Error::LeaseBusy(text) | Error::Refused(text) | Error::ShimRecursion(text) => text.clone(),
        }
    }

    /// The text printed to stderr: the sentence with the `integrator: error:` prefix where
    /// it applies, then the hint.
    pub fn render(&self, program: &str) -> String {
        let mut s = match self {
            // Printed as is: a lease line and a guard's refusal carry their own marker.
            Error::LeaseBusy(_) | Error::Refused(_) => self.sentence(),
            _ => format!("{program}: error: {}", self.sentence()),
        };
        if let Error::Usage { hint: Some(h), .. } | Error::Failed { hint: Some(h), .. } = self {
            s.push_str(&format!("\nhint: {h}"));
        }
        s
    }
}

/// The sentence, as embedded in other text; `render` is what a program prints.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sentence())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_prefixes_and_hints_as_printed() {
        let invalid = Error::Invalid { what: "event".into(), violations: vec!["a".into(), "b".into()] };
        let cases = [
            (Error::usage_hint("bad flag", "use --x"), "git: error: bad flag\nhint: use --x"),
            (Error::failed("push failed"), "git: error: push failed"),
            (invalid, "git: error: invalid event: 2 violations\n  - a\n  - b"),
            (Error::LeaseBusy("lease held by run 1".into()), "lease held by run 1"),
            (Error::Refused("MAIN_GUARDRAIL_BLOCKED: x\nhint: y".into()), "MAIN_GUARDRAIL_BLOCKED: x\nhint: y"),
            (Error::ShimRecursion("too deep".into()), "git: error: too deep"),
        ];
        for (err, printed) in cases {
            assert_eq!(err.render("git"), printed);
            assert!(!err.sentence().contains("error:"), "{err:?}");
        }
    }

    #[test]
    fn a_wrapped_error_renders_one_prefix() {
        let inner = Error::usage_hint("invalid configuration in c.toml: key `k`", "see README");
        let outer = Error::failed_hint(format!("the guard could not read its policy: {}", inner.sentence()), "fix it");
        assert_eq!(
            outer.render("git"),
            "git: error: the guard could not read its policy: invalid configuration in c.toml: key `k`\nhint: fix it"
        );
        assert_eq!(format!("warning: {inner}"), "warning: invalid configuration in c.toml: key `k`");
        let twice = Error::failed(format!("cannot record: {outer}"));
        assert_eq!(twice.render("integrator").matches("error:").count(), 1, "{}", twice.render("integrator"));
    }
}
