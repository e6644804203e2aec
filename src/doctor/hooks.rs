//! The `hook` check: every worktree's hooks dir (usually one shared dir) holds the
//! install.sh block, and the block execs an existing, executable `pre-push`.

use super::{install_command, sh_quote, Env, Finding, Installed};
use crate::error::Result;
use crate::hook_block::{parse_hook_block, HookBlock};
use crate::repo::Repo;
use crate::shim_marker::is_executable;
use std::path::{Path, PathBuf};

/// One entry of `git worktree list --porcelain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WorktreeEntry {
    pub path: PathBuf,
    pub bare: bool,
    pub prunable: bool,
}

/// Parse `git worktree list --porcelain` (blank-line separated records).
pub(crate) fn parse_worktrees(out: &str) -> Vec<WorktreeEntry> {
    let mut entries: Vec<WorktreeEntry> = Vec::new();
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            entries.push(WorktreeEntry { path: PathBuf::from(p), bare: false, prunable: false });
        } else if let Some(e) = entries.last_mut() {
            if line == "bare" {
                e.bare = true;
            } else if line == "prunable" || line.starts_with("prunable ") {
                e.prunable = true;
            }
        }
    }
    entries
}

/// The hooks dirs git uses for the repository's worktrees, each with the worktrees using it.
fn hooks_dirs(repo: &Repo) -> Result<Vec<(PathBuf, Vec<PathBuf>)>> {
    let list = repo.git.capture(&["worktree", "list", "--porcelain"])?;
    let mut dirs: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for wt in parse_worktrees(&list) {
        if wt.prunable || !wt.path.is_dir() {
            continue;
        }
        let out = repo.git.in_dir(&wt.path).capture(&["rev-parse", "--path-format=absolute", "--git-path", "hooks"])?;
        let dir = PathBuf::from(out.trim_end_matches('\n'));
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, users)) => users.push(wt.path),
            None => dirs.push((dir, vec![wt.path])),
        }
    }
    Ok(dirs)
}

/// Check every hooks dir; also report where the pieces were installed (for the fixes).
pub(crate) fn check(repo: &Repo, env: &Env) -> Result<(Vec<Finding>, Installed)> {
    let dirs = hooks_dirs(repo)?;
    let blocks: Vec<Option<HookBlock>> = dirs
        .iter()
        .map(|(dir, _)| std::fs::read_to_string(dir.join("pre-push")).ok().and_then(|t| parse_hook_block(&t)))
        .collect();
    let installed = blocks
        .iter()
        .flatten()
        .next()
        .and_then(|b| {
            Some(Installed { bin_dir: b.target.parent()?.to_path_buf(), shim_dir: b.shim_dir.clone()?, recorded: true })
        })
        .unwrap_or_else(|| Installed::defaults(env));
    let root = repo.git.dir().to_path_buf();
    let findings = dirs
        .iter()
        .zip(&blocks)
        .map(|((dir, users), block)| check_dir(dir, users, block.as_ref(), &root, &installed))
        .collect();
    Ok((findings, installed))
}

fn check_dir(dir: &Path, users: &[PathBuf], block: Option<&HookBlock>, root: &Path, installed: &Installed) -> Finding {
    let hook = dir.join("pre-push");
    let used_by = users.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let install = install_command(root, installed);
    if !hook.exists() {
        return Finding::fail("hook", format!("no pre-push hook in {} (used by {used_by})", dir.display()), install);
    }
    let Some(block) = block else {
        return Finding::fail(
            "hook",
            format!(
                "{} is not the teleclaude-integrator guard (no marker block); install.sh keeps it as pre-push.local and chains it",
                hook.display()
            ),
            install,
        );
    };
    if !is_executable(&hook) {
        return Finding::fail(
            "hook",
            format!("{} is not executable: git skips it and pushes go unguarded", hook.display()),
            format!("chmod +x {}", sh_quote(&hook)),
        );
    }
    if !is_executable(&block.target) {
        return Finding::fail(
            "hook",
            format!(
                "{} execs {}, which is missing or not executable: every push is refused",
                hook.display(),
                block.target.display()
            ),
            install,
        );
    }
    Finding::pass("hook", format!("{} runs {} (used by {used_by})", hook.display(), block.target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output of `git worktree list --porcelain` with a linked and a pruned worktree.
    const WORKTREES: &str = "worktree /tmp/r/clone\nHEAD 5d3c0f6d0e7a0f4a1c1b3c9d8e2f7a6b5c4d3e2f\nbranch refs/heads/main\n\nworktree /tmp/r/wt\nHEAD 5d3c0f6d0e7a0f4a1c1b3c9d8e2f7a6b5c4d3e2f\nbranch refs/heads/feature\n\nworktree /tmp/r/gone\nHEAD 5d3c0f6d0e7a0f4a1c1b3c9d8e2f7a6b5c4d3e2f\ndetached\nprunable gitdir file points to non-existent location\n\n";

    #[test]
    fn worktree_list() {
        let wts = parse_worktrees(WORKTREES);
        let paths: Vec<_> = wts.iter().map(|w| w.path.to_str().unwrap()).collect();
        assert_eq!(paths, ["/tmp/r/clone", "/tmp/r/wt", "/tmp/r/gone"]);
        assert_eq!(wts.iter().map(|w| w.prunable).collect::<Vec<_>>(), [false, false, true]);
        let bare = parse_worktrees("worktree /srv/r.git\nbare\n\n");
        assert!(bare[0].bare);
    }
}
