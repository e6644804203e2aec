//! `integrator.cleanup_worktrees` (default false): after a candidate lands, remove the
//! agent's linked worktree that holds its branch — only when that worktree is clean and
//! still on the integrated sha, never when it holds changes, never the main worktree.

use crate::error::Result;
use crate::git::Git;
use std::path::{Path, PathBuf};

/// One entry of `git worktree list --porcelain`.
#[derive(Debug, PartialEq)]
struct Entry {
    path: PathBuf,
    head: String,
    branch: Option<String>,
}

/// Parse `git worktree list --porcelain` (blank-line separated records); the first
/// record is the main worktree and is left out.
fn linked(porcelain: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for record in porcelain.split("\n\n").skip(1) {
        let mut e = Entry { path: PathBuf::new(), head: String::new(), branch: None };
        for line in record.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                e.path = PathBuf::from(p);
            } else if let Some(h) = line.strip_prefix("HEAD ") {
                e.head = h.to_string();
            } else if let Some(b) = line.strip_prefix("branch refs/heads/") {
                e.branch = Some(b.to_string());
            }
        }
        if !e.path.as_os_str().is_empty() {
            out.push(e);
        }
    }
    out
}

/// Remove the clean linked worktrees on `branch` at `sha`; returns the removed paths.
pub(super) fn remove_landed_worktrees(git: &Git, branch: &str, sha: &str) -> Result<Vec<PathBuf>> {
    let list = git.capture(&["worktree", "list", "--porcelain"])?;
    let mut removed = Vec::new();
    for e in linked(&list) {
        if e.branch.as_deref() != Some(branch) || e.head != sha || !is_clean(git, &e.path) {
            continue;
        }
        // No --force: git itself refuses a worktree with changes or untracked files.
        let path = e.path.to_string_lossy();
        if git.output(&["worktree", "remove", &path], None)?.ok() {
            removed.push(e.path);
        }
    }
    Ok(removed)
}

fn is_clean(git: &Git, dir: &Path) -> bool {
    dir.is_dir() && git.in_dir(dir).capture(&["status", "--porcelain"]).is_ok_and(|s| s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linked_worktrees_and_skips_the_main_one() {
        let text = "worktree /repo\nHEAD aaaa\nbranch refs/heads/main\n\n\
                    worktree /wt/a\nHEAD bbbb\nbranch refs/heads/feat-a\n\n\
                    worktree /wt/d\nHEAD cccc\ndetached\n\n";
        let got = linked(text);
        assert_eq!(
            got,
            vec![
                Entry { path: "/wt/a".into(), head: "bbbb".into(), branch: Some("feat-a".into()) },
                Entry { path: "/wt/d".into(), head: "cccc".into(), branch: None },
            ]
        );
    }
}
