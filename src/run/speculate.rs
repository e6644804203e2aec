//! Speculative verify, the git side: merge a window of candidates one on top of the other
//! (`git merge-tree --write-tree`, no working tree), then run their checks all at once,
//! each in a private worktree of its own. Nothing here writes the queue, the log or a ref
//! of the remote: [`super::pipeline`] decides what the results mean and lands them in order.

use super::Runner;
use crate::apply::{self, Checked, Merge, Worktree};
use crate::config::MergeStyle;
use crate::error::{Error, Result};
use crate::git::Git;
use crate::queue::Item;
use crate::readiness::GitFacts;

/// One candidate of a round, merged on top of the ones before it.
pub(super) struct Spec {
    pub item: Item,
    /// What it was merged onto: main as it will be once the candidates before it land.
    pub base: String,
    pub built: Built,
}

/// How a speculation was built.
pub(super) enum Built {
    /// Already on main: nothing to merge.
    OnMain,
    /// Merged onto its base: a clean merge commit (to check), a conflict or a failure.
    Merge(Merge),
}

/// Which check stopped a speculation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Which {
    Verify,
    Bookkeeping,
}

/// How the checks of one merged speculation ended.
pub(super) enum Tried {
    /// Every check passed: push `commit` (the merge, or bookkeeping's commit on it).
    Passed { commit: String },
    /// `which` check ended as `checked`, anything but a pass.
    Stopped { which: Which, checked: Checked },
}

/// A round: its speculations, in queue order, and how the checks of each ended (None:
/// nothing to check).
pub(super) struct Round {
    pub specs: Vec<Spec>,
    pub tried: Vec<Option<Result<Tried>>>,
}

/// A round's work, owned, so that it runs beside the landing of the round before: the
/// chain of merges, then every check at once, each in a slot worktree of its own.
pub(super) struct Speculator {
    git: Git,
    style: MergeStyle,
    checks: Checks,
    slots: Vec<Worktree>,
}

/// A candidate's checks: verify, then bookkeeping, then bookkeeping's changes committed.
#[derive(Clone)]
pub(super) struct Checks {
    git: Git,
    verify: String,
    bookkeeping: String,
    agent_env: String,
    timeout_secs: u64,
}

impl Runner<'_> {
    /// The speculator of a round of up to `n` candidates: the slot worktrees it needs are
    /// created the first time (at `tip`), then moved from merge to merge.
    pub(super) fn speculator(&mut self, n: usize, tip: &str) -> Result<Speculator> {
        while self.slots.len() < n {
            self.slots.push(Worktree::prepare_slot(&self.git, &self.dir, self.slots.len() + 1, tip)?);
        }
        Ok(Speculator {
            git: self.git.clone(),
            style: self.cfg.integrator.merge,
            checks: self.checks(),
            slots: self.slots[..n].to_vec(),
        })
    }

    /// The checks every candidate goes through.
    pub(super) fn checks(&self) -> Checks {
        let i = &self.cfg.integrator;
        Checks {
            git: self.git.clone(),
            verify: i.verify.clone(),
            bookkeeping: i.bookkeeping.clone(),
            agent_env: self.cfg.guard.agent_env.clone(),
            timeout_secs: i.verify_timeout_secs,
        }
    }
}

impl Speculator {
    /// Build the chain of `items` on `tip` (see [`Speculator::build`]) and check it.
    pub(super) fn run(&self, items: &[Item], tip: &str, landing: &[&str], facts: &GitFacts) -> Result<Round> {
        let specs = self.build(items, tip, landing, facts)?;
        let tried = self.check(&specs);
        Ok(Round { specs, tried })
    }

    /// Merge `items` in order, each on top of the last clean merge, from `tip` (main once
    /// the shas `landing` have landed). Stops before a candidate the chain already holds
    /// (its sha came in with another candidate's): the next round, once those before it
    /// landed, settles it as already on main, as the serial run would.
    fn build(&self, items: &[Item], tip: &str, landing: &[&str], facts: &GitFacts) -> Result<Vec<Spec>> {
        let mut base = tip.to_string();
        let mut chained: Vec<&str> = landing.to_vec();
        let reach = Reach::new(&self.git, tip, items, facts)?;
        let mut specs = Vec::new();
        for item in items {
            if facts.is_on_main(&item.sha) {
                specs.push(Spec { item: item.clone(), base: base.clone(), built: Built::OnMain });
                continue;
            }
            let held = self.style == MergeStyle::Merge && reach.holds(tip, &chained, &item.sha);
            if held || chained.contains(&item.sha.as_str()) {
                break;
            }
            let built = Built::Merge(apply::merge(&self.git, self.style, &base, &item.slug, &item.branch, &item.sha)?);
            let spec = Spec { item: item.clone(), base: base.clone(), built };
            if let Built::Merge(Merge::Clean { commit, .. }) = &spec.built {
                base = commit.clone();
                chained.push(&item.sha);
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    /// Run the checks of every merged speculation at once; one result per speculation
    /// (None: nothing to check). The repository's shared config is guarded once for the
    /// round: should it have changed by the time all of them ended, it is put back and the
    /// checks run again one at a time, each guarded on its own as in the serial run, so
    /// that the change blocks the candidate whose check made it and none beside it.
    fn check(&self, specs: &[Spec]) -> Vec<Option<Result<Tried>>> {
        let mut slots = self.slots.iter();
        let jobs: Vec<Option<(&Worktree, &String, &Item)>> = specs
            .iter()
            .map(|s| match &s.built {
                Built::Merge(Merge::Clean { commit, .. }) => slots.next().map(|wt| (wt, commit, &s.item)),
                _ => None,
            })
            .collect();
        let Some(config) = self.slots.first().map(Worktree::config_snapshot) else {
            return jobs.iter().map(|_| None).collect();
        };
        let tried: Vec<_> = std::thread::scope(|s| {
            let running: Vec<_> =
                jobs.iter().map(|job| job.map(|j| s.spawn(move || self.checks.run(j, Guard::Round)))).collect();
            running
                .into_iter()
                .map(|h| h.map(|h| h.join().unwrap_or_else(|_| Err(Error::failed("a speculative check panicked")))))
                .collect()
        });
        match config.restore() {
            Ok(false) => tried,
            Ok(true) => jobs.iter().map(|job| job.map(|j| self.checks.run(j, Guard::Each))).collect(),
            Err(e) => jobs.iter().map(|job| job.map(|_| Err(Error::failed(e.to_string())))).collect(),
        }
    }
}

/// Who guards the repository's shared config against a check.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Guard {
    /// Each check, on its own (see [`Worktree::run_check`]).
    Each,
    /// The round, once for all the checks running side by side.
    Round,
}

impl Checks {
    /// Verify, then bookkeeping, in `wt` moved to `merge` (the serial run's one private
    /// worktree, or a slot of speculative verify).
    pub(super) fn run(&self, (wt, merge, item): (&Worktree, &String, &Item), guard: Guard) -> Result<Tried> {
        wt.move_to(&self.git, merge)?;
        let guarded = guard == Guard::Each;
        let run = |command: &str, set: &[(&str, &str)]| {
            wt.run_check(command, &self.agent_env, self.timeout_secs, set, guarded)
        };
        if !self.verify.is_empty() {
            let checked = run(&self.verify, &[])?;
            if !matches!(checked, Checked::Passed { .. }) {
                return Ok(Tried::Stopped { which: Which::Verify, checked });
            }
        }
        if self.bookkeeping.is_empty() {
            return Ok(Tried::Passed { commit: merge.clone() });
        }
        let checked = run(&self.bookkeeping, &super::cutover::item_env(item))?;
        if !matches!(checked, Checked::Passed { .. }) {
            return Ok(Tried::Stopped { which: Which::Bookkeeping, checked });
        }
        Ok(Tried::Passed { commit: wt.commit_changes(&self.git, merge, &item.slug, &item.sha)? })
    }
}

/// What the tip of a round and its candidates reach beyond main: one `git rev-list
/// --parents` per round, the walks in memory (a merge holds its second parent's history).
struct Reach {
    listed: String,
}

impl Reach {
    fn new(git: &Git, tip: &str, items: &[Item], facts: &GitFacts) -> Result<Reach> {
        let main = facts.main_tip.as_deref().unwrap_or(tip);
        let mut input = format!("^{main}\n{tip}\n");
        for item in items.iter().filter(|i| !facts.is_on_main(&i.sha)) {
            input.push_str(&item.sha);
            input.push('\n');
        }
        Ok(Reach { listed: git.capture_stdin(&["rev-list", "--parents", "--stdin"], input.as_bytes())? })
    }

    /// Does `sha` come with `tip` or one of the candidate shas `chained`?
    fn holds(&self, tip: &str, chained: &[&str], sha: &str) -> bool {
        let graph = crate::git::parse_parents(&self.listed);
        std::iter::once(tip).chain(chained.iter().copied()).any(|from| crate::git::walk(&graph, from).contains(sha))
    }
}
