//! Applying one candidate (SPEC §8.1): merge the checked sha onto `<remote>/<main>` with
//! `git merge-tree --write-tree` + `git commit-tree` — no checkout — and, only when a
//! `verify` or `bookkeeping` command must run, in a private worktree under the state dir.

use crate::config::{Config, MergeStyle};
use crate::error::{Error, Result};
use crate::git::{self, Git};

mod worktree;
pub(crate) use worktree::{Checked, Worktree};

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

/// The gateway the integrator merges with: `integrator.author` when set, else the
/// repository's own identity when it has one,
/// else `teleclaude-integrator`; the agent marker removed so the destructive-command
/// policy of the git shim never applies to the integrator itself.
pub(crate) fn integrator_git(git: &Git, cfg: &Config) -> Git {
    let mut g = git.without_env(&cfg.guard.agent_env);
    if let Some((name, email)) = crate::config::parse_author(&cfg.integrator.author) {
        for (k, v) in [("NAME", name), ("EMAIL", email)] {
            g = g.with_env(format!("GIT_AUTHOR_{k}"), v).with_env(format!("GIT_COMMITTER_{k}"), v);
        }
        return signing(g, &cfg.integrator.signing_key);
    }
    let has_identity = g.output(&["config", "user.email"], None).map(|o| o.ok()).unwrap_or(false);
    if !has_identity {
        for (k, v) in IDENTITY {
            g = g.with_env(k, v);
        }
    }
    signing(g, &cfg.integrator.signing_key)
}

/// Set on the integrator's gateway when it signs: its `commit-tree`s then pass `-S`.
const SIGNING_ENV: &str = "TELECLAUDE_INTEGRATOR_SIGNING";

/// With `integrator.signing_key` set, every commit the integrator writes is SSH-signed
/// (`commit-tree -S` with `gpg.format=ssh`, `user.signingkey`): the config is added after
/// any the environment already passes through `GIT_CONFIG_COUNT`.
fn signing(g: Git, key: &str) -> Git {
    if key.is_empty() {
        return g;
    }
    let n = std::env::var("GIT_CONFIG_COUNT").ok().and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(0);
    let pairs = [("gpg.format", "ssh"), ("user.signingkey", key)];
    let mut g = g.with_env("GIT_CONFIG_COUNT", (n + pairs.len()).to_string()).with_env(SIGNING_ENV, "1");
    for (i, (k, v)) in pairs.iter().enumerate() {
        g = g.with_env(format!("GIT_CONFIG_KEY_{}", n + i), k).with_env(format!("GIT_CONFIG_VALUE_{}", n + i), v);
    }
    g
}

/// `-S` when the gateway signs, else `--no-gpg-sign` (a no-op for `commit-tree`).
fn sign_flag(git: &Git) -> &'static str {
    if git.env_value(SIGNING_ENV).is_some() {
        "-S"
    } else {
        "--no-gpg-sign"
    }
}

pub(crate) fn message(slug: &str, branch: &str, sha: &str) -> String {
    format!(
        "Integrate {slug} ({branch}@{})\n\nIntegrated-Slug: {slug}\nIntegrated-Sha: {sha}\n",
        crate::git::short(sha)
    )
}

/// Merge `sha` onto `main_tip` without touching any working tree. Attributes (e.g. a
/// `merge=union` driver) come from main's tree, never from a working tree: the result
/// depends only on main and the candidate. In squash mode a later round of a slug is
/// merged with the previous round's sha as the base, so it lands on top of it.
pub(crate) fn merge(
    git: &Git,
    style: MergeStyle,
    main_tip: &str,
    slug: &str,
    branch: &str,
    sha: &str,
) -> Result<Merge> {
    let attr_source = format!("--attr-source={main_tip}");
    let mut args =
        vec![attr_source.as_str(), "-c", "core.quotePath=false", "merge-tree", "--write-tree", "--name-only"];
    let base = match style {
        MergeStyle::Squash => previous_round(git, main_tip, slug, sha)?.map(|b| format!("--merge-base={b}")),
        MergeStyle::Merge => None,
    };
    args.extend(base.as_deref());
    args.extend(["--end-of-options", main_tip, sha]);
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
    let mut args = vec!["commit-tree", sign_flag(git), tree.as_str(), "-p", main_tip];
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

/// In squash mode, the sha of the slug's latest round squashed onto main (its trailers on
/// main's first-parent history), when `sha` descends from it: the base to merge round N
/// with, since main holds round N−1's changes but not its commits.
fn previous_round(git: &Git, tip: &str, slug: &str, sha: &str) -> Result<Option<String>> {
    // A slug is `[a-z0-9._-]`: only `.` needs escaping in git's basic regex.
    let grep = format!("--grep=^Integrated-Slug: {}$", slug.replace('.', "\\."));
    let format = "--format=%(trailers:key=Integrated-Sha,valueonly,separator=%x20)";
    let out = git.capture(&["log", "--first-parent", "-n", "1", &grep, format, tip, "--"])?;
    let previous = Some(out.trim().to_string()).filter(|p| git::is_full_sha(p));
    let Some(prev) = previous.filter(|p| p != sha) else { return Ok(None) };
    // Not an ancestor, or gone from the object store: an ordinary squash then.
    let descends = git.output(&["merge-base", "--is-ancestor", "--end-of-options", &prev, sha], None)?.ok();
    Ok(descends.then_some(prev))
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

/// How a push of main ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Push {
    Pushed,
    /// The remote refused because main moved (non-fast-forward / fetch first / stale).
    Rejected(String),
    /// The remote refused this commit itself (`[remote rejected]`, e.g. its pre-receive
    /// hook declined it): a failure of the candidate, with the remote's words.
    Refused(String),
    /// Anything else (no report: network, local hook, permissions): the run fails,
    /// nothing is lost, the next run retries.
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
    let report = git::push::parse(&out.stdout);
    Ok(if report.remote_moved() {
        Push::Rejected(text)
    } else if report.remote_refused() {
        Push::Refused(text)
    } else {
        Push::Failed(text)
    })
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

#[cfg(test)]
mod tests {
    use super::tail;

    /// Evidence keeps the last lines, and of those at most the last 4,000 bytes, cut on a
    /// character boundary.
    #[test]
    fn tail_keeps_the_last_lines_and_at_most_4000_bytes() {
        assert_eq!(tail("a\nb\nc\nd", 2), "c\nd");
        assert_eq!(tail("a\nb", 5), "a\nb");
        let line = "x".repeat(999);
        let text = (0..10).map(|i| format!("{i}{line}")).collect::<Vec<_>>().join("\n");
        let five = text.lines().skip(5).collect::<Vec<_>>().join("\n");
        assert_eq!(five.len(), 5004);
        assert_eq!(tail(&text, 5), five[1004..]);
        let exact = "y".repeat(4000);
        assert_eq!(tail(&exact, 1), exact);
        // A cut inside a two-byte character moves forward to the next boundary.
        let wide = format!("{}{}", "é".repeat(2001), "z");
        let kept = tail(&wide, 1);
        assert_eq!(kept, format!("{}z", "é".repeat(1999)));
    }
}
