//! `integrator shims [--shim-dir DIR]`: what the git shim needs beside it, built or
//! refreshed (install.sh runs it after copying the shims; running it again after a git
//! upgrade refreshes the links):
//!
//! - `DIR/git-exec-path/`: the shadow exec-path, so the `git` that git's own children run
//!   is the shim (README "Nested git");
//! - `DIR/hooks/pre-push` and, when run inside a repository, that repository's remote URLs
//!   in `DIR/guarded-remotes`, so a push to them from any repository is guarded
//!   (README "Guarded remotes").
//!
//! Prints one line per change and nothing when everything was already in place.

use crate::error::{exit, Error, Result};
use crate::guard::{destination, exec_path};
use crate::repo::Repo;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct ShimsArgs {
    /// The directory holding the git and gh shims (default ~/.teleclaude/shims, as install.sh).
    #[arg(long, value_name = "DIR")]
    pub shim_dir: Option<PathBuf>,
}

pub(crate) fn exec(cwd: &Path, args: ShimsArgs) -> Result<i32> {
    let dir = match args.shim_dir {
        Some(d) => d,
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".teleclaude/shims"),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if !crate::shim_marker::is_shim(&dir.join("git")) {
        return Err(Error::usage_hint(
            format!("{} holds no git shim", dir.display()),
            "install.sh REPO --shim-dir DIR installs the shims, then runs this",
        ));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let real = crate::shim_marker::real_program("git", &path)
        .ok_or_else(|| Error::failed_hint("no real git on PATH", "install git 2.38 or newer"))?;
    // Everything is read and checked before anything is written: a bad config writes nothing.
    let remote = match Repo::open(cwd) {
        Ok(repo) => Some(remote_keys(&repo)?),
        Err(_) => None,
    };
    if exec_path::build(&dir, &real)? {
        println!(
            "wrote {}: git's children find the shim as `git` (the other programs of {}'s exec-path are links)",
            dir.join(exec_path::DIR).display(),
            real.display()
        );
    }
    write_destination_hook(&dir)?;
    if let Some(remote) = remote {
        register_remote(remote, &dir)?;
    }
    Ok(exit::OK)
}

/// `DIR/hooks/pre-push`: install.sh's hook block, running the `pre-push` beside this binary.
fn write_destination_hook(dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot locate integrator", e))?;
    let target = exe.with_file_name("pre-push");
    let quoted = format!("'{}'", target.to_string_lossy().replace('\'', r"'\''"));
    let text = format!(
        "#!/bin/sh\n{}\n# Written by `integrator shims`: the git shim makes git run it for a push from a repository\n\
         # without the guard, to refuse protected branches of the remotes in ../{}.\nhook={quoted}\n\
         if [ ! -x \"$hook\" ]; then\n\techo \"teleclaude-integrator: error: the pre-push guard $hook is missing; push refused\" >&2\n\
         \texit 1\nfi\nexec \"$hook\" \"$@\"\n{}\n",
        crate::hook_block::HOOK_BEGIN,
        destination::FILE,
        crate::hook_block::HOOK_END
    );
    let hook = dir.join(destination::HOOKS).join("pre-push");
    if std::fs::read_to_string(&hook).is_ok_and(|t| t == text) && crate::shim_marker::is_executable(&hook) {
        return Ok(());
    }
    crate::store::write_atomic(&hook, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format_args!("cannot make {} executable", hook.display()), e))?;
    println!("wrote {}", hook.display());
    Ok(())
}

/// The integrator's remote in a repository: its name, the keys of the URLs git resolves for
/// it (fetch and push; none when there is no such remote), and the repository's common dir.
struct Remote {
    name: String,
    keys: Option<Vec<String>>,
    repo: PathBuf,
    git_dir: PathBuf,
}

/// Read the repository's config (an invalid one is an error) and its remote's URLs.
fn remote_keys(repo: &Repo) -> Result<Remote> {
    let name = repo.config()?.integrator.remote;
    let (common_dir, git_dir) = (repo.loc.common_dir.clone(), repo.git.dir().to_path_buf());
    let mut keys = Vec::new();
    for push in [false, true] {
        let mut q = vec!["remote", "get-url", "--all"];
        if push {
            q.push("--push");
        }
        q.extend(["--", name.as_str()]);
        let Ok(out) = repo.git.capture(&q) else {
            return Ok(Remote { name, keys: None, repo: common_dir, git_dir });
        };
        keys.extend(out.lines().filter(|l| !l.is_empty()).map(|u| destination::url_key(u, repo.git.dir())));
    }
    keys.dedup();
    Ok(Remote { name, keys: Some(keys), repo: common_dir, git_dir })
}

/// Register the remote's keys in `DIR/guarded-remotes`, guarded by its repository.
fn register_remote(remote: Remote, dir: &Path) -> Result<()> {
    let Some(keys) = remote.keys else {
        println!("note: no remote `{}` in {}: no guarded remote registered", remote.name, remote.git_dir.display());
        return Ok(());
    };
    let registry = dir.join(destination::FILE);
    for key in destination::register(&registry, &keys, &remote.repo)? {
        println!("registered {key} in {} (guarded by {})", registry.display(), remote.repo.display());
    }
    Ok(())
}
