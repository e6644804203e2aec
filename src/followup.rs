//! Blocked candidates (SPEC §8.4): why, the evidence, one concrete next action, and the
//! follow-up note `followups/<slug>-integration-blocked-<sha7>.md`.

use crate::config::Config;
use crate::error::Result;
use crate::events;
use crate::queue::Item;
use crate::store::{self, StateDir};

/// Why a candidate was blocked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cause {
    Conflict {
        paths: Vec<String>,
        messages: Vec<String>,
    },
    GitFailure {
        message: String,
    },
    VerifyFailed {
        command: String,
        code: i32,
        output_tail: String,
    },
    /// A check that did not fail on its own terms: it timed out, or changed what it must not.
    CheckBroke {
        command: String,
        what: String,
        output_tail: String,
    },
    PushRejected {
        messages: Vec<String>,
    },
    /// The remote itself refused the commit (its pre-receive hook, its policy).
    PushRefused {
        message: String,
    },
}

impl Cause {
    pub(crate) fn reason(&self) -> String {
        match self {
            Cause::Conflict { paths, .. } => format!("merge conflict in {}", paths.join(", ")),
            Cause::GitFailure { message } => format!("merge failed: {}", first_line(message)),
            Cause::VerifyFailed { command, code, .. } => format!("check `{command}` failed (exit {code})"),
            Cause::CheckBroke { command, what, .. } => format!("check `{command}` {what}"),
            Cause::PushRejected { .. } => "push rejected".into(),
            Cause::PushRefused { message } => format!("push refused by the remote: {}", refusal(message)),
        }
    }

    /// `conflict_evidence`: the conflicted paths or the failing check (never empty).
    pub(crate) fn evidence(&self) -> Vec<String> {
        match self {
            Cause::Conflict { paths, .. } => capped(paths.clone()),
            Cause::GitFailure { message } => vec![first_line(message).to_string()],
            Cause::VerifyFailed { command, code, .. } => vec![format!("`{command}` exited {code}")],
            Cause::CheckBroke { command, what, .. } => vec![format!("`{command}` {what}")],
            Cause::PushRejected { .. } => vec!["push rejected".into()],
            Cause::PushRefused { message } => vec![refusal(message).to_string()],
        }
    }

    /// `diagnostics`: git's (or the check's) own words (never empty).
    pub(crate) fn diagnostics(&self) -> Vec<String> {
        let lines: Vec<String> = match self {
            Cause::Conflict { messages, .. } => messages.clone(),
            Cause::GitFailure { message } => message.lines().map(str::to_string).collect(),
            Cause::VerifyFailed { output_tail, .. } | Cause::CheckBroke { output_tail, .. } => {
                output_tail.lines().map(str::to_string).collect()
            }
            Cause::PushRefused { message } => message.lines().map(str::to_string).collect(),
            Cause::PushRejected { messages } => messages.iter().flat_map(|m| m.lines().map(str::to_string)).collect(),
        };
        let lines: Vec<String> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            vec![self.reason()]
        } else {
            capped(lines)
        }
    }
}

/// Keep a list within what a `deployment.failed` event accepts (SPEC §4 validation), so a
/// conflict over thousands of paths still records its event instead of failing the run.
fn capped(mut list: Vec<String>) -> Vec<String> {
    for s in &mut list {
        *s = clip(s, events::MAX_LIST_ENTRY);
    }
    if list.len() > events::MAX_LIST {
        let more = list.len() - (events::MAX_LIST - 1);
        list.truncate(events::MAX_LIST - 1);
        list.push(format!("… and {more} more"));
    }
    list
}

/// At most `max` bytes of `s` on one line (control characters become spaces).
fn clip(s: &str, max: usize) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if out.len() > max {
        let mut cut = max - '…'.len_utf8();
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// What the remote said when it refused: its own `remote:` lines, else git's ref line.
fn refusal(message: &str) -> &str {
    let said = message.lines().filter_map(|l| l.strip_prefix("remote: ")).map(str::trim).find(|l| !l.is_empty());
    said.unwrap_or_else(|| first_line(message))
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s)
}

/// The follow-up note of one blocked candidate.
pub(crate) struct Note {
    pub stem: String,
    pub next_action: String,
    body: String,
}

impl Note {
    pub(crate) fn stem(slug: &str, sha: &str) -> String {
        format!("{slug}-integration-blocked-{}", crate::git::short(sha))
    }

    pub(crate) fn new(cfg: &Config, item: &Item, main_sha: Option<&str>, cause: &Cause, blocked_at: &str) -> Note {
        let remote_main = format!("{}/{}", cfg.integrator.remote, cfg.integrator.main);
        let record =
            format!("integrator emit deployment-started --slug {} --branch {} --sha <new-sha>", item.slug, item.branch);
        let next_action = match cause {
            Cause::Conflict { paths, .. } => format!(
                "rebase {} onto {remote_main}, resolve {}, push, and record deployment-started for the new sha ({record})",
                item.branch,
                paths.join(", ")
            ),
            Cause::VerifyFailed { command, .. } => format!(
                "make `{command}` pass on {} merged with {remote_main}, push, and record deployment-started for the new sha ({record})",
                item.branch
            ),
            Cause::GitFailure { .. } => format!(
                "fix the git failure below on {} (rebase onto {remote_main} if needed), push, and record deployment-started for the new sha ({record})",
                item.branch
            ),
            Cause::CheckBroke { command, what, .. } => format!(
                "`{command}` {what} on {} merged with {remote_main}: fix that, push, and record deployment-started for the new sha ({record})",
                item.branch
            ),
            Cause::PushRejected { .. } => format!("{remote_main} kept moving; re-queue with `integrator queue retry {}`", item.slug),
            Cause::PushRefused { .. } => format!(
                "the remote refused {} (its message is in the diagnostics): change the branch so the remote accepts it, push, and record deployment-started for the new sha ({record})",
                item.branch
            ),
        };
        let next_action = clip(&next_action, events::MAX_TEXT);
        let mut body = format!("# {} — integration blocked\n\n", item.slug);
        body.push_str(&format!("- branch: `{}`\n- sha: `{}`\n", item.branch, item.sha));
        body.push_str(&format!("- onto: `{remote_main}` at `{}`\n", main_sha.unwrap_or("unknown")));
        body.push_str(&format!("- blocked at: {blocked_at}\n- reason: {}\n\n", cause.reason()));
        body.push_str("## Evidence\n\n");
        for e in cause.evidence() {
            body.push_str(&format!("- `{e}`\n"));
        }
        body.push_str("\n## Diagnostics\n\n```\n");
        for d in cause.diagnostics() {
            body.push_str(&d);
            body.push('\n');
        }
        body.push_str("```\n\n## Next action\n\n");
        body.push_str(&next_action);
        body.push('\n');
        Note { stem: Note::stem(&item.slug, &item.sha), next_action, body }
    }

    /// Write (or refresh) the note atomically.
    pub(crate) fn write(&self, dir: &StateDir) -> Result<()> {
        store::write_atomic(&dir.followups().join(format!("{}.md", self.stem)), self.body.as_bytes())
    }
}
