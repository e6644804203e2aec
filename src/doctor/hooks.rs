//! The `hook` check: every worktree's hooks dir (usually one shared dir) holds the
//! install.sh block, and the block execs an existing, executable `pre-push`.

use super::{install_command, sh_quote, Env, Finding, Installed};
use crate::error::Result;
use crate::repo::Repo;
use crate::shim_marker::is_executable;
use std::path::{Path, PathBuf};

/// The lines install.sh writes around its block (kept identical to install.sh).
pub const HOOK_BEGIN: &str = "# >>> teleclaude-integrator pre-push >>>";
pub const HOOK_END: &str = "# <<< teleclaude-integrator pre-push <<<";

/// What a hook's marker block says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookBlock {
    /// The absolute `pre-push` the block execs (`hook='…'`).
    pub target: PathBuf,
    /// The shim dir recorded at install time (`# shims: …`).
    pub shim_dir: Option<PathBuf>,
}

/// Parse the install.sh block out of a hook script; None when there is no complete block.
pub fn parse_hook_block(text: &str) -> Option<HookBlock> {
    let mut lines = text.lines().skip_while(|l| *l != HOOK_BEGIN);
    lines.next()?;
    let mut target = None;
    let mut shim_dir = None;
    for line in lines {
        if line == HOOK_END {
            return Some(HookBlock { target: target?, shim_dir });
        }
        if let Some(v) = line.strip_prefix("hook=") {
            target = sh_unquote(v).map(PathBuf::from);
        } else if let Some(v) = line.strip_prefix("# shims: ") {
            shim_dir = Some(PathBuf::from(v));
        }
    }
    None
}

/// Undo install.sh's quoting: `'…'` pieces joined by `\'`.
fn sh_unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else {
            let r = rest.strip_prefix('\'')?;
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

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

    #[test]
    fn hook_block_round_trip() {
        let text = format!(
            "#!/bin/sh\n{HOOK_BEGIN}\n# shims: /h/.teleclaude/shims\nhook='/h/it'\\''s/pre-push'\nexec \"$hook\" \"$@\"\n{HOOK_END}\n"
        );
        assert_eq!(
            parse_hook_block(&text),
            Some(HookBlock {
                target: PathBuf::from("/h/it's/pre-push"),
                shim_dir: Some(PathBuf::from("/h/.teleclaude/shims")),
            })
        );
        assert_eq!(parse_hook_block("#!/bin/sh\necho foreign\n"), None);
        // A block cut short is not a block.
        assert_eq!(parse_hook_block(&format!("{HOOK_BEGIN}\nhook='/x'\n")), None);
    }
}
