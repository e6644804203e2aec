//! What both shims share: finding the real program on PATH after the shim's own entry,
//! counting nested shim calls, running the real program for a lookup, and `exec` (both
//! started through `crate::shell`).

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Counts nested shim calls; above [`MAX_DEPTH`] the shim stops (exit 126).
pub(crate) const DEPTH_ENV: &str = "TELECLAUDE_SHIM_DEPTH";
pub(crate) const MAX_DEPTH: u32 = 20;

/// The real program behind a shim and how deep the shim chain is.
#[derive(Clone, Debug)]
pub(crate) struct Real {
    pub exe: PathBuf,
    depth: u32,
    /// The PATH entry holding the shim (None when run by a path not on PATH).
    pub own_dir: Option<PathBuf>,
    /// `exe`'s metadata (after symlinks), to tell which file it is.
    pub meta: std::fs::Metadata,
}

/// The current depth, refusing to go deeper than [`MAX_DEPTH`].
pub(crate) fn check_depth(name: &str) -> Result<u32> {
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
pub(crate) fn find_real(name: &str) -> Result<Real> {
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
        let own_dir = own.map(|i| dirs[i].clone());
        return Ok(Real { exe: cand, depth, own_dir, meta });
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
pub(crate) struct Lookup {
    pub success: bool,
    pub stdout: String,
}

impl Real {
    /// Run the real program for a lookup: the user's own environment (so their config
    /// overrides apply), stdin closed, output captured, stderr discarded.
    pub(crate) fn lookup<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Lookup> {
        let (success, stdout) = crate::shell::output_of(&self.exe, args, (DEPTH_ENV, &(self.depth + 1).to_string()))
            .map_err(|e| Error::io(format_args!("cannot run {}", self.exe.display()), e))?;
        Ok(Lookup { success, stdout })
    }

    /// Replace this process with the real program (see [`crate::shell::exec`]): same argv,
    /// stdio, tty, signals; the exit code is the real program's own; `set` added to the
    /// environment. Returns only on failure.
    pub(crate) fn exec(&self, argv: &[OsString], set: &[(&str, &OsStr)]) -> Error {
        // The shims are single-threaded: nothing else reads the environment meanwhile.
        std::env::set_var(DEPTH_ENV, (self.depth + 1).to_string());
        for (k, v) in set {
            std::env::set_var(k, v);
        }
        let why = crate::shell::exec(&self.exe, argv);
        Error::failed(format!("cannot run {}: {why}", self.exe.display()))
    }
}
