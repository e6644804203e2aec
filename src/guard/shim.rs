//! What both shims share: finding the real program on PATH after the shim's own entry,
//! counting nested shim calls, running the real program for a lookup, and `exec`.

use crate::error::{Error, Result};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Counts nested shim calls; above [`MAX_DEPTH`] the shim stops (exit 126).
pub const DEPTH_ENV: &str = "TELECLAUDE_SHIM_DEPTH";
pub const MAX_DEPTH: u32 = 20;

/// The real program behind a shim and how deep the shim chain is.
#[derive(Clone, Debug)]
pub struct Real {
    pub exe: PathBuf,
    depth: u32,
}

/// The current depth, refusing to go deeper than [`MAX_DEPTH`].
pub fn check_depth(name: &str) -> Result<u32> {
    let depth = std::env::var(DEPTH_ENV).ok().and_then(|d| d.trim().parse::<u32>().ok()).unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err(Error::ShimRecursion(format!(
            "the {name} shim called itself more than {MAX_DEPTH} times \
             ({DEPTH_ENV}={depth}); the real {name} must come after the shim directory on PATH"
        )));
    }
    Ok(depth)
}

/// Find the real `name`: the first executable on PATH after the entry holding this shim,
/// skipping any file that is this shim (same inode) or a byte-identical copy of it.
pub fn find_real(name: &str) -> Result<Real> {
    let depth = check_depth(name)?;
    let me = std::env::current_exe().ok();
    let me_meta = me.as_deref().and_then(|p| std::fs::metadata(p).ok());
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let is_me =
        |meta: &std::fs::Metadata| me_meta.as_ref().is_some_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
    // Start after the shim's own entry; when the shim was run by absolute path and is not
    // on PATH, every entry is a candidate.
    let own = dirs.iter().position(|d| std::fs::metadata(d.join(name)).map(|m| is_me(&m)).unwrap_or(false));
    let start = own.map_or(0, |i| i + 1);
    for dir in &dirs[start..] {
        let cand = dir.join(name);
        let Ok(meta) = std::fs::metadata(&cand) else {
            continue;
        };
        if !meta.is_file() || meta.mode() & 0o111 == 0 || is_me(&meta) {
            continue;
        }
        if let (Some(me), Some(m)) = (&me, &me_meta) {
            if meta.len() == m.len() && same_bytes(me, &cand) {
                continue;
            }
        }
        return Ok(Real { exe: cand, depth });
    }
    Err(Error::ShimRecursion(format!(
        "no real {name} on PATH after the {name} shim (every candidate is the shim itself)"
    )))
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The output of a lookup run with the real program.
pub struct Lookup {
    pub success: bool,
    pub stdout: String,
}

impl Real {
    /// Run the real program for a lookup: the user's own environment (so their config
    /// overrides apply), stdin closed, output captured, stderr discarded.
    pub fn lookup<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Lookup> {
        let out = Command::new(&self.exe)
            .args(args)
            .env(DEPTH_ENV, (self.depth + 1).to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| Error::io(format_args!("cannot run {}", self.exe.display()), e))?;
        Ok(Lookup { success: out.status.success(), stdout: String::from_utf8_lossy(&out.stdout).into_owned() })
    }

    /// Replace this process with the real program: same argv (argv[0] included), stdio,
    /// tty, signals; the exit code is the real program's own. Returns only on failure.
    ///
    /// `execv` directly rather than `Command::exec`: on the pass-through path every
    /// microsecond counts, and `Command` copies the whole environment into a map first.
    pub fn exec(&self, argv: &[OsString]) -> Error {
        use std::os::unix::ffi::OsStrExt;
        let fail = |why: &dyn std::fmt::Display| Error::failed(format!("cannot run {}: {why}", self.exe.display()));
        let Ok(exe) = CString::new(self.exe.as_os_str().as_bytes()) else {
            return fail(&"the path contains a NUL byte");
        };
        let Ok(args) = argv.iter().map(|a| CString::new(a.as_bytes())).collect::<std::result::Result<Vec<_>, _>>()
        else {
            return fail(&"an argument contains a NUL byte");
        };
        let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // The shims are single-threaded: nothing else reads the environment meanwhile.
        std::env::set_var(DEPTH_ENV, (self.depth + 1).to_string());
        // SAFETY: `exe` and every pointer in `ptrs` are NUL-terminated strings that outlive
        // the call, and `ptrs` ends with a null pointer, as execv requires. SIGPIPE goes
        // back to its default first: an ignored signal would be inherited by the program.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::execv(exe.as_ptr(), ptrs.as_ptr());
        }
        fail(&std::io::Error::last_os_error())
    }
}
