//! Readiness (SPEC §5): which candidates are READY, NOT_READY (with every reason, in order
//! and wording), SUPERSEDED or INTEGRATED. Git facts come from the remote-tracking refs
//! as of the last fetch, gathered in a few batched git processes — never one per event.

mod cache;
mod facts;

pub(crate) use facts::GitFacts;

use crate::candidate::{named, Candidate, Named};
use crate::config::Config;
use crate::error::Result;
use crate::git::{self, Git};
use crate::projection::Projection;
use crate::store::StateDir;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub(crate) enum State {
    #[serde(rename = "READY")]
    Ready,
    #[serde(rename = "NOT_READY")]
    NotReady,
    #[serde(rename = "SUPERSEDED")]
    Superseded,
    #[serde(rename = "INTEGRATED")]
    Integrated,
    /// READY by the events and git, but its queue item is blocked (a conflict, a failed
    /// verify): `status` shows one state per candidate, the queue's word winning.
    #[serde(rename = "BLOCKED")]
    Blocked,
}

impl State {
    /// The name `status` prints and the JSON holds.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Ready => "READY",
            State::NotReady => "NOT_READY",
            State::Superseded => "SUPERSEDED",
            State::Integrated => "INTEGRATED",
            State::Blocked => "BLOCKED",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CandidateView {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub ready_at: String,
    pub state: State,
    pub reasons: Vec<String>,
    pub superseded_by: Option<String>,
}

named!(CandidateView);

pub(crate) fn is_ancestor(git: &Git, ancestor: &str, of: &str) -> Result<bool> {
    let args = ["merge-base", "--is-ancestor", "--end-of-options", ancestor, of];
    let out = git.output(&args, None)?;
    match out.code {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(git::command_failed(&args, &out)),
    }
}

/// Shas named by `Integrated-Sha:` trailers on the first-parent history of `revs` (a tip
/// or a range): how a squash-merged candidate is recognised as already merged.
pub(crate) fn integrated_trailers(git: &Git, revs: &str) -> Result<HashSet<String>> {
    let out = git.capture(&[
        "log",
        "--first-parent",
        "--format=%(trailers:key=Integrated-Sha,valueonly,separator=%x0a)",
        revs,
        "--",
    ])?;
    Ok(out.lines().map(str::trim).filter(|l| git::is_full_sha(l)).map(str::to_string).collect())
}

/// The `Integrated-Sha` trailers of main, remembered with the tip they were read at: a
/// run evaluates once per candidate, and walking main's whole first-parent history each
/// time made a run quadratic on a long history. When main only moved forward, just the
/// new commits are read.
#[derive(Debug, Default)]
pub(crate) struct Trailers {
    tip: Option<String>,
    shas: HashSet<String>,
}

impl Trailers {
    /// The trailers of `tip`'s history (the union with earlier tips it descends from).
    pub(crate) fn at(&mut self, git: &Git, tip: &str) -> Result<HashSet<String>> {
        let range = match self.tip.as_deref() {
            Some(t) if t == tip => return Ok(self.shas.clone()),
            Some(t) if is_ancestor(git, t, tip)? => format!("{t}..{tip}"),
            _ => {
                self.shas.clear();
                tip.to_string()
            }
        };
        self.shas.extend(integrated_trailers(git, &range)?);
        self.tip = Some(tip.to_string());
        Ok(self.shas.clone())
    }
}

/// Evaluate every candidate of the projection against the git facts.
pub(crate) fn evaluate(p: &Projection, cfg: &Config, facts: &GitFacts) -> Vec<CandidateView> {
    let remote = &cfg.integrator.remote;
    let main = &cfg.integrator.main;
    let winners = p.winners();
    let mut out = Vec::new();
    for c in p.candidates() {
        let winner = winners[c.slug.as_str()];
        let mut view = CandidateView {
            slug: c.slug.clone(),
            branch: c.branch.clone(),
            sha: c.sha.clone(),
            ready_at: c.ready_at.clone(),
            state: State::Ready,
            reasons: Vec::new(),
            superseded_by: None,
        };
        if !std::ptr::eq(winner, c) && (winner.branch != c.branch || winner.sha != c.sha) {
            view.state = State::Superseded;
            view.superseded_by = Some(format!("{}@{}", winner.branch, winner.sha));
            view.reasons.push(format!("superseded by {}@{}", winner.branch, &winner.sha[..winner.sha.len().min(7)]));
        } else if facts.is_on_main(&c.sha)
            || p.completed_merge(&c.slug, &c.sha).is_some_and(|m| facts.completion_holds(m))
        {
            view.state = State::Integrated;
            view.reasons.push(format!("already on {remote}/{main}"));
        } else {
            if !p.approvals.contains_key(&c.slug) {
                view.reasons.push("missing review_approved for slug".into());
            }
            if !p.pushes.contains(&(remote.clone(), c.branch.clone(), c.sha.clone())) {
                view.reasons.push(format!("missing branch_pushed for {remote}/{}@{}", c.branch, c.sha));
            }
            if !facts.reachable.contains(&(c.branch.clone(), c.sha.clone())) {
                view.reasons.push(format!("sha {} is not reachable from {remote}/{}", c.sha, c.branch));
            }
            if p.is_completed(&c.slug, &c.sha) {
                view.reasons.push(format!(
                    "recorded as integrated, but {} is not on {remote}/{main}: main moved backwards",
                    git::short(&c.sha)
                ));
            }
            if !view.reasons.is_empty() {
                view.state = State::NotReady;
            }
        }
        out.push(view);
    }
    out
}

/// Evaluate every candidate of `p` against the remote-tracking refs as they are now
/// (also those with a recorded completion: main may have been reset below them).
pub(crate) fn evaluate_now(git: &Git, cfg: &Config, p: &Projection, dir: &StateDir) -> Result<Vec<CandidateView>> {
    let facts = facts_now(git, cfg, p, dir, &[])?;
    Ok(evaluate(p, cfg, &facts))
}

/// The git facts about `p`'s candidates (and whether each of `also` is on main) for the
/// remote-tracking refs as they are now: from the cache in `dir` when its ref values
/// still hold, else from git (and cached).
pub(crate) fn facts_now(git: &Git, cfg: &Config, p: &Projection, dir: &StateDir, also: &[&str]) -> Result<GitFacts> {
    cache::facts(git, cfg, p, dir, also)
}

/// A main that moved backwards: `seen` (the tip a run last worked on) is no longer in the
/// history of `now`. The sentence that reports it, or None.
pub(crate) fn rewound(git: &Git, cfg: &Config, seen: Option<&str>, now: Option<&str>) -> Result<Option<String>> {
    let (Some(seen), Some(now)) = (seen, now) else { return Ok(None) };
    if seen == now {
        return Ok(None);
    }
    // 1 = not an ancestor; 0 = moved forward; 128 = an object we do not have: no verdict.
    let args = ["merge-base", "--is-ancestor", "--end-of-options", seen, now];
    if git.output(&args, None)?.code != 1 {
        return Ok(None);
    }
    Ok(Some(rewound_message(cfg, seen, now)))
}

/// The sentence for a main that moved from `seen` to `now`, not a descendant of it.
fn rewound_message(cfg: &Config, seen: &str, now: &str) -> String {
    let remote_main = format!("{}/{}", cfg.integrator.remote, cfg.integrator.main);
    format!(
        "{remote_main} moved backwards: {} (where the last run left it) is no longer on it; it is at {} now",
        git::short(seen),
        git::short(now)
    )
}

/// [`rewound`] for the tip recorded by the last run in `checkpoint` and `<remote>/<main>`
/// as the remote-tracking ref has it now.
pub(crate) fn rewound_since(git: &Git, cfg: &Config, seen: Option<&str>) -> Result<Option<String>> {
    let Some(seen) = seen else { return Ok(None) };
    let tracking = format!("refs/remotes/{}/{}", cfg.integrator.remote, cfg.integrator.main);
    let out = git.output(&["rev-parse", "--verify", "--quiet", "--end-of-options", &tracking], None)?;
    let now = out.ok().then(|| out.stdout.trim().to_string());
    rewound(git, cfg, Some(seen), now.as_deref())
}

/// Candidate views keyed by (slug, branch, sha).
pub(crate) fn by_candidate(views: &[CandidateView]) -> HashMap<Candidate, &CandidateView> {
    views.iter().map(|v| (v.candidate(), v)).collect()
}
