//! Applying one candidate (SPEC §8.1): merge the checked sha onto `<remote>/<main>` with
//! `git merge-tree --write-tree` + `git commit-tree` — no checkout — and, only when a
//! `verify` or `bookkeeping` command must run, in a private worktree under the state dir.

use crate::config::{Config, MergeStyle};
use crate::error::{Error, Result};
use crate::git::{self, Git};
use crate::store::StateDir;
use std::path::{Path, PathBuf};

/// The result of merging a candidate onto a main tip.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Merge {
    /// A merge commit (not yet on any ref) and its tree.
    Clean { commit: String, tree: String },
    /// Conflicted paths and git's messages.
    Conflict { paths: Vec<String>, messages: Vec<String> },
    /// Any other failure, with git's message — never taken for "already merged".
    Failed { message: String },
}

pub(crate) const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "teleclaude-integrator"),
    ("GIT_AUTHOR_EMAIL", "integrator@teleclaude.invalid"),
    ("GIT_COMMITTER_NAME", "teleclaude-integrator"),
    ("GIT_COMMITTER_EMAIL", "integrator@teleclaude.invalid"),
];

/// The gateway the integrator merges with: the repository's own identity when it has one,
/// else `teleclaude-integrator`; the agent marker removed so the destructive-command
/// policy of the git shim never applies to the integrator itself.
pub(crate) fn integrator_git(git: &Git, cfg: &Config) -> Git {
    let mut g = git.without_env(&cfg.guard.agent_env);
    let has_identity = g.output(&["config", "user.email"], None).map(|o| o.ok()).unwrap_or(false);
    if !has_identity {
        for (k, v) in IDENTITY {
            g = g.with_env(k, v);
        }
    }
    g
}

pub(crate) fn message(slug: &str, branch: &str, sha: &str) -> String {
    format!(
        "Integrate {slug} ({branch}@{})\n\nIntegrated-Slug: {slug}\nIntegrated-Sha: {sha}\n",
        crate::git::short(sha)
    )
}

/// Merge `sha` onto `main_tip` without touching any working tree.
pub(crate) fn merge(
    git: &Git,
    style: MergeStyle,
    main_tip: &str,
    slug: &str,
    branch: &str,
    sha: &str,
) -> Result<Merge> {
    let args =
        ["-c", "core.quotePath=false", "merge-tree", "--write-tree", "--name-only", "--end-of-options", main_tip, sha];
    let out = git.output(&args, None)?;
    let parsed = git::parse_merge_tree(&out.stdout);
    let (tree, conflicts, messages) = match (out.code, parsed) {
        (0, Some(m)) => (m.tree, m.conflicts, m.messages),
        (1, Some(m)) if !m.conflicts.is_empty() => {
            return Ok(Merge::Conflict { paths: m.conflicts, messages: m.messages });
        }
        _ => {
            let msg = format!("{}{}", out.stderr.trim(), out.stdout.trim());
            return Ok(Merge::Failed { message: format!("git merge-tree failed (exit {}): {msg}", out.code) });
        }
    };
    debug_assert!(conflicts.is_empty());
    let _ = messages;
    let msg = message(slug, branch, sha);
    let mut args = vec!["commit-tree", tree.as_str(), "-p", main_tip];
    if style == MergeStyle::Merge {
        args.extend(["-p", sha]);
    }
    args.extend(["-m", msg.as_str()]);
    let out = git.output(&args, None)?;
    if !out.ok() {
        return Ok(Merge::Failed { message: format!("git commit-tree failed: {}", out.stderr.trim()) });
    }
    Ok(Merge::Clean { commit: out.stdout.trim().to_string(), tree })
}

/// The first commit of `tip`'s first-parent history that contains `sha` (by ancestry or,
/// for a squash, by its `Integrated-Sha` trailer): the `merge_commit` of an integration.
pub(crate) fn merge_commit_for(git: &Git, tip: &str, sha: &str) -> Result<String> {
    let out = git.output(&["merge-base", "--is-ancestor", "--end-of-options", sha, tip], None)?;
    if out.code == 0 {
        let list = git.capture(&["rev-list", "--first-parent", "--ancestry-path", &format!("{sha}..{tip}")])?;
        let Some(oldest) = list.lines().last() else { return Ok(sha.to_string()) };
        let parent = git.capture(&["rev-parse", "--verify", "--quiet", &format!("{oldest}^1")]).unwrap_or_default();
        return Ok(if parent.trim() == sha { sha.to_string() } else { oldest.to_string() });
    }
    let grep = format!("--grep=^Integrated-Sha: {sha}$");
    let list = git.capture(&["log", "--first-parent", "--format=%H", &grep, tip, "--"])?;
    list.lines().last().map(str::to_string).ok_or_else(|| Error::failed(format!("{sha} is not on {tip}")))
}

/// The tail of a command's output kept as evidence.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut t = all[start..].join("\n");
    if t.len() > 4000 {
        let cut = t.len() - 4000;
        let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(cut);
        t = t[cut..].to_string();
    }
    t
}

/// The private worktree under the state dir where `verify` and `bookkeeping` run.
pub(crate) struct Worktree {
    pub path: PathBuf,
}

impl Worktree {
    /// Check out `commit` (detached) in `<state>/worktree`, created anew each time, and make
    /// sure git resolves that directory to itself — never to the user's checkout.
    pub(crate) fn prepare(git: &Git, dir: &StateDir, commit: &str) -> Result<Worktree> {
        let path = dir.worktree();
        let p = path.to_string_lossy().to_string();
        Worktree::clean_stale(git, dir)?;
        git.capture(&["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--force", &p, commit])?;
        let wt = Worktree { path: std::fs::canonicalize(&path).unwrap_or(path) };
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

    /// Remove the private worktree — and git's record of it — that a killed run left
    /// behind, so `git worktree list` shows only the user's own worktrees. Costs no git
    /// process when there is nothing to clean.
    pub(crate) fn clean_stale(git: &Git, dir: &StateDir) -> Result<()> {
        let path = dir.worktree();
        if !path.exists() && !registered(dir) {
            return Ok(());
        }
        let p = path.to_string_lossy().to_string();
        // `-f -f`: a run killed inside `git worktree add` leaves the entry locked.
        let _ = git.output(&["worktree", "remove", "--force", "--force", &p], None);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(format_args!("cannot remove {p}"), e))?;
        }
        // A locked entry whose directory is gone survives both `remove` and `prune`, and
        // then makes every later `worktree add` there fail: drop git's record of it.
        for admin in admin_dirs(dir) {
            std::fs::remove_dir_all(&admin)
                .map_err(|e| Error::io(format_args!("cannot remove {}", admin.display()), e))?;
        }
        let _ = git.output(&["worktree", "prune"], None);
        Ok(())
    }

    /// Run a shell command there; returns (exit code, combined output).
    pub(crate) fn run_shell(&self, command: &str, agent_env: &str) -> Result<(i32, String)> {
        let clean = crate::shell::Clean::Check { agent_env };
        let ran = crate::shell::sh(command, &self.path, clean, &[])
            .map_err(|e| Error::io(format_args!("cannot run `{command}`"), e))?;
        Ok((ran.status.code().unwrap_or(128), ran.output))
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
        Ok(g.capture(&["commit-tree", &tree, "-p", parent, "-m", &msg])?.trim().to_string())
    }

    pub(crate) fn remove(self, git: &Git) {
        let _ = git.output(&["worktree", "remove", "--force", &self.path.to_string_lossy()], None);
    }
}

/// Does git still list a worktree at `<state>/worktree`?
fn registered(dir: &StateDir) -> bool {
    !admin_dirs(dir).is_empty()
}

/// git's records (`<common>/worktrees/<name>/`) of worktrees at `<state>/worktree`: those
/// whose `gitdir` points there, and those a `worktree add` of ours (named `worktree`,
/// `worktree1`, …) was killed in before it wrote `gitdir` (still locked "initializing").
fn admin_dirs(dir: &StateDir) -> Vec<PathBuf> {
    let Some(common) = dir.root().parent() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(common.join("worktrees")) else { return Vec::new() };
    let ours = [dir.worktree(), std::fs::canonicalize(dir.root()).unwrap_or_default().join("worktree")];
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

/// How a push of main ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Push {
    Pushed,
    /// The remote refused because main moved (non-fast-forward / fetch first / stale).
    Rejected(String),
    /// Anything else (network, hook, permissions): the run fails, nothing is lost.
    Failed(String),
}

/// Push exactly `commit` to `refs/heads/<main>` — never forced — with the lease token in
/// the environment so the guards let it through.
pub(crate) fn push_main(git: &Git, cfg: &Config, commit: &str, token: &str) -> Result<Push> {
    let refspec = format!("{commit}:refs/heads/{}", cfg.integrator.main);
    let out = push(git, token, &["--end-of-options", &cfg.integrator.remote, &refspec])?;
    if out.ok() {
        return Ok(Push::Pushed);
    }
    let text = tail(format!("{}\n{}", out.stdout, out.stderr).trim(), 20);
    // git's own verdict on the ref, never words found elsewhere in its (or a hook's) output.
    let moved = git::push::parse(&out.stdout).remote_moved();
    Ok(if moved { Push::Rejected(text) } else { Push::Failed(text) })
}

/// Delete `<remote>/<branch>` only while it still points at the integrated sha.
pub(crate) fn delete_branch(git: &Git, cfg: &Config, branch: &str, sha: &str, token: &str) -> Result<bool> {
    let lease = format!("--force-with-lease=refs/heads/{branch}:{sha}");
    let refspec = format!(":refs/heads/{branch}");
    Ok(push(git, token, &[&lease, "--end-of-options", &cfg.integrator.remote, &refspec])?.ok())
}

/// `git push --porcelain <args>` as the lease holder.
fn push(git: &Git, token: &str, args: &[&str]) -> Result<git::Output> {
    let argv: Vec<&str> = ["push", "--porcelain"].iter().chain(args).copied().collect();
    git.with_env(crate::shell::TOKEN_ENV, token).output(&argv, None)
}
