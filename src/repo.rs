//! Finding the repository: its git dir, its common dir (shared by every linked worktree,
//! home of the state), its main working tree and the configuration files that apply.

use crate::config::{Config, Sources};
use crate::error::{Error, Result};
use crate::git::Git;
use crate::store::StateDir;
use std::path::{Path, PathBuf};

/// Where a repository's pieces are.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    /// This worktree's git dir (`.git`, or `.git/worktrees/<name>`).
    pub git_dir: PathBuf,
    /// The common dir shared by all worktrees.
    pub common_dir: PathBuf,
}

impl Location {
    pub(crate) fn state(&self) -> StateDir {
        StateDir::for_common_dir(&self.common_dir)
    }

    /// The main working tree: the parent of a common dir named `.git` (None when bare).
    pub(crate) fn main_worktree(&self) -> Option<PathBuf> {
        (self.common_dir.file_name()? == ".git").then(|| self.common_dir.parent().map(Path::to_path_buf)).flatten()
    }

    /// Is this the main checkout (not a linked worktree)?
    pub(crate) fn is_main_checkout(&self) -> bool {
        self.git_dir == self.common_dir
    }

    pub(crate) fn config_sources(&self) -> Sources {
        Sources { policy: self.main_worktree().map(|w| w.join("teleclaude.toml")), local: self.state().config() }
    }
}

/// A repository opened through git itself (the integrator's view).
#[derive(Clone, Debug)]
pub(crate) struct Repo {
    pub git: Git,
    pub loc: Location,
    pub state: StateDir,
}

impl Repo {
    /// Open the repository containing `cwd`, asking git where its dirs are.
    pub(crate) fn open(cwd: &Path) -> Result<Repo> {
        Repo::open_with(Git::new(cwd)?)
    }

    /// Open the repository containing the gateway's directory, running git through it.
    pub(crate) fn open_with(git: Git) -> Result<Repo> {
        let cwd = git.dir().to_path_buf();
        let out = git.output(&["rev-parse", "--path-format=absolute", "--git-common-dir", "--git-dir"], None)?;
        if !out.ok() {
            return Err(Error::usage_hint(
                format!("{} is not inside a git repository", cwd.display()),
                "run integrator from the repository (or `cd REPO && integrator …`)",
            ));
        }
        let mut lines = out.stdout.lines();
        let common_dir = canonical(lines.next().unwrap_or_default());
        let git_dir = canonical(lines.next().unwrap_or_default());
        let loc = Location { git_dir, common_dir };
        // Run git from the main working tree when there is one, else from the common dir.
        let home = loc.main_worktree().filter(|p| p.is_dir()).unwrap_or_else(|| loc.common_dir.clone());
        let state = loc.state();
        Ok(Repo { git: git.in_dir(&home), loc, state })
    }

    pub(crate) fn config(&self) -> Result<Config> {
        Config::load(&self.loc.config_sources())
    }
}

fn canonical(p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// Find the repository of `cwd` without running git (hooks and shims must stay fast).
/// Honours `GIT_DIR` / `GIT_COMMON_DIR`, `.git` files (`gitdir: …`) and `commondir` files.
pub(crate) fn discover_native(cwd: &Path, git_dir_env: Option<&Path>) -> Option<Location> {
    let git_dir = match git_dir_env {
        Some(d) => cwd.join(d),
        None => {
            let mut dir = Some(cwd);
            let mut found = None;
            while let Some(d) = dir {
                let dotgit = d.join(".git");
                if dotgit.is_dir() {
                    found = Some(dotgit);
                    break;
                }
                if dotgit.is_file() {
                    let text = std::fs::read_to_string(&dotgit).ok()?;
                    let target = text.strip_prefix("gitdir:")?.trim();
                    found = Some(d.join(target));
                    break;
                }
                if d.join("HEAD").is_file() && d.join("objects").is_dir() && d.join("refs").is_dir() {
                    found = Some(d.to_path_buf());
                    break;
                }
                dir = d.parent();
            }
            found?
        }
    };
    let git_dir = canonical(git_dir.to_str()?);
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => canonical(git_dir.join(text.trim()).to_str()?),
        Err(_) => git_dir.clone(),
    };
    Some(Location { git_dir, common_dir })
}
