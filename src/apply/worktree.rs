//! The private worktrees where `verify` and `bookkeeping` run, and the guard on the
//! repository's shared config file that no check may change.

use super::sign_flag;
use crate::error::{Error, Result};
use crate::git::Git;
use crate::store::StateDir;
use std::path::{Path, PathBuf};

/// The private worktree under the state dir where `verify` and `bookkeeping` run. A run
/// keeps one and moves it from merge to merge, so a check costs the diff, not the tree.
#[derive(Clone, Debug)]
pub(crate) struct Worktree {
    pub path: PathBuf,
    /// The repository's shared config file, which no check may change.
    repo_config: PathBuf,
}

/// How a check (`verify`, `bookkeeping`) ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Checked {
    Passed {
        output: String,
    },
    Failed {
        code: i32,
        output: String,
    },
    /// It could not run at all (126 not executable, 127 not found): a configuration error.
    CannotRun {
        code: i32,
        output: String,
    },
    /// `verify_timeout_secs` passed first; its process group was killed.
    TimedOut {
        secs: u64,
        output: String,
    },
    /// It changed the repository's config file, which was restored.
    ChangedConfig {
        output: String,
    },
}

impl Worktree {
    /// Check out `commit` (detached) in `<state>/worktree`, created anew, and make sure git
    /// resolves that directory to itself — never to the user's checkout.
    pub(crate) fn prepare(git: &Git, dir: &StateDir, commit: &str) -> Result<Worktree> {
        Worktree::clean_stale(git, dir)?;
        Worktree::add(git, dir, dir.worktree(), commit)
    }

    /// The private worktree of speculative verify's slot `slot` (1, 2, …), at `commit`:
    /// `<state>/speculative/worktree<slot>`, created anew.
    pub(crate) fn prepare_slot(git: &Git, dir: &StateDir, slot: usize, commit: &str) -> Result<Worktree> {
        let path = dir.speculative().join(format!("worktree{slot}"));
        if path.exists() {
            discard(git, &path)?;
        }
        std::fs::create_dir_all(dir.speculative())
            .map_err(|e| Error::io(format_args!("cannot create {}", dir.speculative().display()), e))?;
        Worktree::add(git, dir, path, commit)
    }

    fn add(git: &Git, dir: &StateDir, path: PathBuf, commit: &str) -> Result<Worktree> {
        let p = path.to_string_lossy().to_string();
        git.capture(&["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--force", &p, commit])?;
        let common = dir.root().parent().unwrap_or(dir.root());
        let wt = Worktree { path: std::fs::canonicalize(&path).unwrap_or(path), repo_config: common.join("config") };
        let top = git.in_dir(&wt.path).capture(&["rev-parse", "--show-toplevel"])?;
        if Path::new(top.trim()) != wt.path {
            return Err(Error::failed(format!(
                "the private worktree {} resolves to {}; refusing to run there",
                wt.path.display(),
                top.trim()
            )));
        }
        Ok(wt)
    }

    /// Move the kept worktree to `commit`: an incremental checkout, then every file the
    /// last check left (untracked and ignored included) removed.
    pub(crate) fn move_to(&self, git: &Git, commit: &str) -> Result<()> {
        let g = git.in_dir(&self.path);
        g.capture(&["-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--force", "--detach", commit, "--"])?;
        g.capture(&["clean", "-ffdxq"])?;
        Ok(())
    }

    /// Remove the private worktree — and git's record of it — that a killed run left
    /// behind, so `git worktree list` shows only the user's own worktrees. Costs no git
    /// process when there is nothing to clean.
    pub(crate) fn clean_stale(git: &Git, dir: &StateDir) -> Result<()> {
        let paths = [dir.worktree(), dir.speculative()];
        if !paths.iter().any(|p| p.exists()) && !registered(dir) {
            return Ok(());
        }
        discard(git, &paths[0])?;
        remove_dir(&paths[1])?;
        // A locked entry whose directory is gone survives both `remove` and `prune`, and
        // then makes every later `worktree add` there fail: drop git's record of it.
        for admin in admin_dirs(dir) {
            std::fs::remove_dir_all(&admin)
                .map_err(|e| Error::io(format_args!("cannot remove {}", admin.display()), e))?;
        }
        let _ = git.output(&["worktree", "prune"], None);
        Ok(())
    }

    /// Run a check there (see [`crate::shell::check`]) with `set` added to its
    /// environment. `guarded`: a change it made to the repository's config file is undone
    /// and reported; unguarded, for checks that run side by side, whose config is guarded
    /// once for all of them (a [`ConfigSnapshot`] taken before the first starts).
    pub(crate) fn run_check(
        &self,
        command: &str,
        agent_env: &str,
        timeout_secs: u64,
        set: &[(&str, &str)],
        guarded: bool,
    ) -> Result<Checked> {
        let before = guarded.then(|| self.config_snapshot());
        let clean = crate::shell::Clean::Check { agent_env };
        let timeout = (timeout_secs > 0).then(|| std::time::Duration::from_secs(timeout_secs));
        let ran = crate::shell::check(command, &self.path, clean, set, timeout)
            .map_err(|e| Error::io(format_args!("cannot run `{command}`"), e))?;
        let output = ran.output;
        if let Some(before) = before {
            if before.restore()? {
                return Ok(Checked::ChangedConfig { output });
            }
        }
        Ok(match ran.code {
            None => Checked::TimedOut { secs: timeout_secs, output },
            Some(0) => Checked::Passed { output },
            Some(code @ (126 | 127)) => Checked::CannotRun { code, output },
            Some(code) => Checked::Failed { code, output },
        })
    }

    /// The repository's shared config file as it is now.
    pub(crate) fn config_snapshot(&self) -> ConfigSnapshot {
        ConfigSnapshot { path: self.repo_config.clone(), bytes: std::fs::read(&self.repo_config).ok() }
    }

    /// Commit whatever the bookkeeping command changed on top of `parent`.
    pub(crate) fn commit_changes(&self, git: &Git, parent: &str, slug: &str, sha: &str) -> Result<String> {
        let g = git.in_dir(&self.path);
        g.capture(&["add", "-A"])?;
        let tree = g.capture(&["write-tree"])?.trim().to_string();
        let parent_tree = g.capture(&["rev-parse", &format!("{parent}^{{tree}}")])?.trim().to_string();
        if tree == parent_tree {
            return Ok(parent.to_string());
        }
        let msg = format!("Bookkeeping for {slug}\n\nIntegrated-Slug: {slug}\nIntegrated-Sha: {sha}\n");
        Ok(g.capture(&["commit-tree", sign_flag(&g), &tree, "-p", parent, "-m", &msg])?.trim().to_string())
    }

    pub(crate) fn remove(self, git: &Git) {
        let _ = git.output(&["worktree", "remove", "--force", &self.path.to_string_lossy()], None);
    }
}

/// The repository's shared config file as it was before a check (or a round of checks
/// side by side) started: what the checks must leave it as.
pub(crate) struct ConfigSnapshot {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
}

impl ConfigSnapshot {
    /// Put the file back as it was; true when it had changed.
    pub(crate) fn restore(&self) -> Result<bool> {
        let now = std::fs::read(&self.path).ok();
        if now == self.bytes {
            return Ok(false);
        }
        match &self.bytes {
            Some(bytes) => crate::store::write_atomic(&self.path, bytes)?,
            None => std::fs::remove_file(&self.path)
                .map_err(|e| Error::io(format_args!("cannot remove {}", self.path.display()), e))?,
        }
        Ok(true)
    }
}

/// Remove the worktree at `path`, if any: git's record of it, then its directory.
fn discard(git: &Git, path: &Path) -> Result<()> {
    // `-f -f`: a run killed inside `git worktree add` leaves the entry locked.
    let _ = git.output(&["worktree", "remove", "--force", "--force", &path.to_string_lossy()], None);
    remove_dir(path)
}

/// Remove the directory `path` and all in it, if it exists.
fn remove_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| Error::io(format_args!("cannot remove {}", path.display()), e))?;
    }
    Ok(())
}

/// Does git still list a worktree at `<state>/worktree` or under `<state>/speculative`?
fn registered(dir: &StateDir) -> bool {
    !admin_dirs(dir).is_empty()
}

/// git's records (`<common>/worktrees/<name>/`) of worktrees at `<state>/worktree` (or a
/// speculative slot's under `<state>/speculative`): those
/// whose `gitdir` points there, and those a `worktree add` of ours (named `worktree`,
/// `worktree1`, …) was killed in before it wrote `gitdir` (still locked "initializing").
fn admin_dirs(dir: &StateDir) -> Vec<PathBuf> {
    let Some(common) = dir.root().parent() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(common.join("worktrees")) else { return Vec::new() };
    let root = std::fs::canonicalize(dir.root()).unwrap_or_default();
    let ours = [dir.worktree(), root.join("worktree"), dir.speculative(), root.join("speculative")];
    let our_name = |admin: &Path| {
        let name = admin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.strip_prefix("worktree").is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|admin| match std::fs::read_to_string(admin.join("gitdir")) {
            Ok(g) => ours.iter().any(|o| Path::new(g.trim()).starts_with(o)),
            Err(_) => {
                our_name(admin)
                    && std::fs::read_to_string(admin.join("locked")).is_ok_and(|l| l.trim() == "initializing")
            }
        })
        .collect()
}
