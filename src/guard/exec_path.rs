//! The shadow exec-path (README "Nested git"): git puts its exec-path first on `PATH` for
//! every command it runs (`rebase -x`, `bisect run`, `grep -O`, hooks, `!` aliases, its
//! own subprocesses), so a `git` they run is the real one, not the shim. Beside the shim
//! lies `git-exec-path/`: a link to each program of the real git's exec-path, except
//! `git` and the builtins' dashed forms (`git-push`, the same file as `git`), which link to
//! the shim (it reads `git-push ARGS` as `git push ARGS`). The shim exports `GIT_EXEC_PATH` pointing there, so
//! git's children find the shim first; the shim itself still finds the real git on `PATH`
//! after its own entry.
//!
//! Two more links say which git the directory mirrors: `.real-git` (the real git install
//! found) and `.exec-path` (its exec-path). The shim uses the directory only while
//! `.real-git` is the very file it is about to exec and `.exec-path` still resolves — two
//! `stat`s, no file read — so an upgraded or moved git is never handed another git's
//! programs. `integrator shims` (install.sh runs it) builds and refreshes it;
//! `integrator doctor` fails when it is missing or stale.

use crate::error::{Error, Result};
use crate::git::Git;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The shadow directory's name inside the shim dir.
pub(crate) const DIR: &str = "git-exec-path";
/// The link to the real git the directory was built for.
const REAL_LINK: &str = ".real-git";
/// The link to that git's exec-path.
const EXEC_LINK: &str = ".exec-path";
/// The variable git reads its exec-path from (and prepends to its children's `PATH`).
pub(crate) const ENV: &str = "GIT_EXEC_PATH";

/// The shadow directory to export for the real git found at `real` (its metadata), given
/// the `PATH` entry the shim was found in: `<dir>/git-exec-path`, or `dir` itself when the
/// shim runs from inside the shadow (git's child). None when absent or built for another git.
pub(crate) fn active(own_dir: &Path, real: &Metadata) -> Option<PathBuf> {
    for dir in [own_dir.join(DIR), own_dir.to_path_buf()] {
        let Ok(built_for) = std::fs::metadata(dir.join(REAL_LINK)) else {
            continue;
        };
        let same = built_for.dev() == real.dev() && built_for.ino() == real.ino();
        let resolves = std::fs::metadata(dir.join(EXEC_LINK)).is_ok_and(|m| m.is_dir());
        return (same && resolves).then_some(dir);
    }
    None
}

/// The shim dir the shim belongs to: `own_dir`, or its parent when `own_dir` is the shadow.
pub(crate) fn shim_home(own_dir: &Path) -> PathBuf {
    match own_dir.parent() {
        Some(parent) if std::fs::symlink_metadata(own_dir.join(REAL_LINK)).is_ok() => parent.to_path_buf(),
        _ => own_dir.to_path_buf(),
    }
}

/// The links the shadow of `real_git` must hold, sorted by name.
pub(crate) fn plan(real_git: &Path, shim_dir: &Path) -> Result<Vec<(OsString, PathBuf)>> {
    let git = Git::with_exe(real_git, shim_dir).without_env(ENV);
    let exec = git.capture(&["--exec-path"])?;
    let exec = std::fs::canonicalize(exec.trim())
        .map_err(|e| Error::io(format_args!("{} --exec-path names {}", real_git.display(), exec.trim()), e))?;
    let entries = std::fs::read_dir(&exec).map_err(|e| Error::io(format_args!("cannot list {}", exec.display()), e))?;
    // The builtins' dashed forms (`git-push`: the same file as `git`) are the shim too.
    let file_id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let git = file_id(&exec.join("git"));
    let mut links: Vec<(OsString, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .map(|name| {
            let target = exec.join(&name);
            let builtin = name.to_string_lossy().starts_with("git") && git.is_some() && file_id(&target) == git;
            (name, if builtin { PathBuf::from("../git") } else { target })
        })
        .collect();
    links.push((REAL_LINK.into(), std::path::absolute(real_git).unwrap_or_else(|_| real_git.to_path_buf())));
    links.push((EXEC_LINK.into(), exec));
    links.sort();
    Ok(links)
}

/// The links `dir` holds now (a non-link entry shows as an empty target), sorted.
fn current(dir: &Path) -> Option<Vec<(OsString, PathBuf)>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut links: Vec<(OsString, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name(), std::fs::read_link(e.path()).unwrap_or_default()))
        .collect();
    links.sort();
    Some(links)
}

/// How the shadow beside the shims compares with what the real git needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Fresh,
    Missing,
    /// What differs, in a few words.
    Stale(String),
}

pub(crate) fn check(shim_dir: &Path, real_git: &Path) -> Result<Status> {
    let want = plan(real_git, shim_dir)?;
    let Some(have) = current(&shim_dir.join(DIR)) else {
        return Ok(Status::Missing);
    };
    if have == want {
        return Ok(Status::Fresh);
    }
    let differ: Vec<String> = want
        .iter()
        .filter(|w| !have.contains(w))
        .chain(have.iter().filter(|h| !want.contains(h)))
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .take(5)
        .collect();
    Ok(Status::Stale(format!("built for another git: {} differ", differ.join(", "))))
}

/// Build (or rebuild) `<shim_dir>/git-exec-path` for `real_git`. True when it changed.
pub(crate) fn build(shim_dir: &Path, real_git: &Path) -> Result<bool> {
    let want = plan(real_git, shim_dir)?;
    let dir = shim_dir.join(DIR);
    if current(&dir).as_ref() == Some(&want) {
        return Ok(false);
    }
    let cannot = |e| Error::io(format_args!("cannot write {}", dir.display()), e);
    // Built aside, then swapped in: a shim never sees a half-built directory.
    let tmp = tempfile::Builder::new().prefix(".git-exec-path.").tempdir_in(shim_dir).map_err(cannot)?;
    for (name, target) in &want {
        std::os::unix::fs::symlink(target, tmp.path().join(name)).map_err(cannot)?;
    }
    if std::fs::symlink_metadata(&dir).is_ok() {
        std::fs::remove_dir_all(&dir).map_err(cannot)?;
    }
    std::fs::rename(tmp.keep(), &dir).map_err(cannot)?;
    Ok(true)
}
