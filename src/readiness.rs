//! Readiness (SPEC §5): which candidates are READY, NOT_READY (with every reason, in order
//! and wording), SUPERSEDED or INTEGRATED. Git facts come from the remote-tracking refs
//! as of the last fetch, gathered in a few batched git processes — never one per event.

use crate::candidate::{named, Candidate, Named, Started};
use crate::config::Config;
use crate::error::Result;
use crate::git::{self, Git};
use crate::projection::Projection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

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

/// What git says about the remote, gathered once per evaluation.
#[derive(Debug, Default)]
pub(crate) struct GitFacts {
    /// `<remote>/<main>` tip, if the remote has the branch.
    pub main_tip: Option<String>,
    /// branch → tip on the remote-tracking refs.
    pub branch_tips: HashMap<String, String>,
    /// Candidate shas present in the object store as commits.
    pub present: HashSet<String>,
    /// Candidate shas that are ancestors of (or equal to) `<remote>/<main>`.
    pub on_main: HashSet<String>,
    /// Shas named by an `Integrated-Sha:` trailer on main's first-parent history.
    pub trailers: HashSet<String>,
    /// (branch, sha) pairs where sha is reachable from the branch tip.
    pub reachable: HashSet<(String, String)>,
}

impl GitFacts {
    /// Is `sha` already on main — as an ancestor, or squashed with our trailer?
    pub(crate) fn is_on_main(&self, sha: &str) -> bool {
        self.on_main.contains(sha) || self.trailers.contains(sha)
    }

    /// Gather the facts for the candidates of `p` in a handful of git processes.
    pub(crate) fn gather(git: &Git, cfg: &Config, p: &Projection) -> Result<GitFacts> {
        Self::gather_with(git, cfg, p, &mut Trailers::default())
    }

    /// Does a recorded `deployment.completed` still hold? Its merge commit is on main, or
    /// unknown here (a record of the old path git cannot check). A merge commit git has
    /// but main no longer contains means main was reset below the integration.
    pub(crate) fn completion_holds(&self, merge_commit: &str) -> bool {
        self.on_main.contains(merge_commit) || !self.present.contains(merge_commit)
    }

    /// [`gather`](Self::gather), reading main's trailers through `trailers` (kept across
    /// the evaluations of one run).
    pub(crate) fn gather_with(git: &Git, cfg: &Config, p: &Projection, trailers: &mut Trailers) -> Result<GitFacts> {
        let candidates = p.candidates();
        let remote = &cfg.integrator.remote;
        let prefix = format!("refs/remotes/{remote}/");
        let refs = git.capture(&["for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options", &prefix])?;
        let mut facts = GitFacts::default();
        for (name, sha) in git::parse_ref_list(&refs) {
            if let Some(branch) = name.strip_prefix(&prefix) {
                facts.branch_tips.insert(branch.to_string(), sha);
            }
        }
        facts.main_tip = facts.branch_tips.get(&cfg.integrator.main).cloned();
        // The candidates' shas and the merge commits their completions recorded.
        let shas: Vec<&str> = {
            let mut seen = HashSet::new();
            let merges = p.completed.values().map(String::as_str).filter(|m| git::is_full_sha(m));
            candidates.iter().map(|c| c.sha.as_str()).chain(merges).filter(|s| seen.insert(*s)).collect()
        };
        if shas.is_empty() {
            return Ok(facts);
        }
        let input = shas.join("\n") + "\n";
        let out = git.capture_stdin(&["cat-file", "--batch-check=%(objectname) %(objecttype)"], input.as_bytes())?;
        for (sha, is_commit) in shas.iter().zip(git::parse_batch_check(&shas, &out)) {
            if is_commit {
                facts.present.insert(sha.to_string());
            }
        }
        if let Some(tip) = facts.main_tip.clone() {
            facts.on_main = ancestors_of(git, &tip, facts.present.iter().map(String::as_str))?;
            // A trailer proves a squash. In merge mode the integrator's merge commit has the
            // candidate as second parent (ancestry already says it); a commit whose message
            // merely carries the trailers proves nothing.
            if cfg.integrator.merge == crate::config::MergeStyle::Squash {
                facts.trailers = trailers.at(git, &tip)?;
            }
        }
        facts.reachable = facts.reachability(git, &candidates)?;
        Ok(facts)
    }

    /// `(branch, sha)` of every candidate whose sha is reachable from its branch's remote
    /// tip. A candidate already on main needs no answer (it is INTEGRATED whatever its
    /// branch says). For the others, one `rev-list --parents` lists every commit the tips
    /// reach that main does not — a sha off main is reachable from a tip only through such
    /// commits — and the walk happens in memory: one git process for any number of
    /// candidates, instead of one `merge-base` each.
    fn reachability(&self, git: &Git, candidates: &[&Started]) -> Result<HashSet<(String, String)>> {
        let mut out = HashSet::new();
        let mut wanted: Vec<(&str, &str, &str)> = Vec::new();
        for c in candidates.iter().filter(|c| self.present.contains(&c.sha) && !self.on_main.contains(&c.sha)) {
            let Some(tip) = self.branch_tips.get(&c.branch) else { continue };
            if tip == &c.sha {
                out.insert((c.branch.clone(), c.sha.clone()));
            } else {
                wanted.push((&c.branch, tip, &c.sha));
            }
        }
        if wanted.is_empty() {
            return Ok(out);
        }
        let Some(main_tip) = self.main_tip.as_deref() else {
            // No main to cut the walk short: ask git per candidate rather than list all history.
            for (branch, tip, sha) in wanted {
                if is_ancestor(git, sha, tip)? {
                    out.insert((branch.to_string(), sha.to_string()));
                }
            }
            return Ok(out);
        };
        let mut input = format!("^{main_tip}\n");
        for tip in wanted.iter().map(|w| w.1).collect::<BTreeSet<_>>() {
            input.push_str(tip);
            input.push('\n');
        }
        let listed = git.capture_stdin(&["rev-list", "--parents", "--stdin"], input.as_bytes())?;
        let graph = git::parse_parents(&listed);
        let mut reach: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (branch, tip, sha) in wanted {
            let from_tip = reach.entry(tip).or_insert_with(|| git::walk(&graph, tip));
            if from_tip.contains(sha) {
                out.insert((branch.to_string(), sha.to_string()));
            }
        }
        Ok(out)
    }
}

/// Which of `shas` (all present) are ancestors of `tip`: one `rev-list` lists every commit
/// reachable from the shas but not from the tip; a sha absent from that list is on it.
pub(crate) fn ancestors_of<'a>(git: &Git, tip: &str, shas: impl Iterator<Item = &'a str>) -> Result<HashSet<String>> {
    let shas: Vec<&str> = shas.collect();
    if shas.is_empty() {
        return Ok(HashSet::new());
    }
    let mut input = format!("^{tip}\n");
    for s in &shas {
        input.push_str(s);
        input.push('\n');
    }
    let out = git.capture_stdin(&["rev-list", "--stdin"], input.as_bytes())?;
    let not_on: HashSet<&str> = out.lines().collect();
    Ok(shas.into_iter().filter(|s| !not_on.contains(s)).map(str::to_string).collect())
}

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
pub(crate) fn evaluate_now(git: &Git, cfg: &Config, p: &Projection) -> Result<Vec<CandidateView>> {
    let facts = GitFacts::gather(git, cfg, p)?;
    Ok(evaluate(p, cfg, &facts))
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
    let remote_main = format!("{}/{}", cfg.integrator.remote, cfg.integrator.main);
    Ok(Some(format!(
        "{remote_main} moved backwards: {} (where the last run left it) is no longer on it; it is at {} now",
        git::short(seen),
        git::short(now)
    )))
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
