//! Speculative verify (README "Speculative verify"): with `verify_parallel = K > 1` a
//! cutover run takes up to a window of queued candidates, merges each on top of the one
//! before it ([`super::speculate`]), runs all their checks at once, and lands them strictly
//! in queue order, each pushed as the exact commit that was checked. The outcome is the one
//! the serial run gives: a candidate that fails is blocked as today and every speculation
//! built on it is discarded and built again without it; a rejected push (main moved)
//! discards the speculations on the old main.
//!
//! While one round's checks run, the results of the round before are landed: the next
//! round is built on main as it will be once they landed, and discarded when a push does
//! not go as planned.

use super::speculate::{Built, Round, Spec, Tried};
use super::{obj, Phase, Runner};
use crate::apply::{Merge, Push};
use crate::error::{Error, Result};
use crate::events::lifecycle;
use crate::followup::Cause;
use crate::queue::{Item, Queue};
use crate::readiness::{CandidateView, GitFacts};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// How many candidates a round takes, Zuul-style: it starts at K, grows by one with each
/// candidate that lands (up to K) and halves with each one that fails (at least 1).
#[derive(Debug, PartialEq)]
pub(super) struct Window {
    size: usize,
    max: usize,
}

impl Window {
    pub(super) fn new(max: usize) -> Window {
        Window { size: max.max(1), max: max.max(1) }
    }
    fn landed(&mut self) {
        self.size = (self.size + 1).min(self.max);
    }
    fn failed(&mut self) {
        self.size = (self.size / 2).max(1);
    }
}

/// The steps of a round that land now, in order, and main once they have landed.
struct Plan {
    steps: Vec<(Spec, Option<Result<Tried>>)>,
    tip: String,
}

impl Plan {
    /// The shas of the candidates it lands.
    fn landing(&self) -> Vec<String> {
        let passed = |t: &Option<Result<Tried>>| matches!(t, Some(Ok(Tried::Passed { .. })));
        self.steps.iter().filter(|(_, t)| passed(t)).map(|(s, _)| s.item.sha.clone()).collect()
    }
}

/// How landing one speculation went.
#[derive(Debug, PartialEq)]
enum Landed {
    /// Settled (delivered, blocked, already on main) as planned.
    AsPlanned,
    /// Settled, but not as planned (its push was refused, or rejected once too often):
    /// what was built on it is void.
    Otherwise,
    /// Main moved: still in the pipeline, built again on the new main, as is what was
    /// built on it.
    Retry,
}

/// What the pipeline keeps between rounds.
struct Pipeline {
    window: Window,
    /// Candidates taken from the queue (`in_progress`) and not settled yet, in queue order.
    pending: Vec<Item>,
    /// Every candidate this run took.
    taken: HashSet<String>,
    /// The rejected pushes of each candidate (SPEC §8.3 `max_push_retries`).
    rejections: HashMap<String, Vec<String>>,
    /// The last round, checked, not landed yet.
    ready: Option<Round>,
}

/// The speculations of a round that land with it: up to the first whose result changes
/// what the ones after it were built on (a failed check, bookkeeping that committed).
/// The window follows each result.
fn plan(round: Round, tip: &str, window: &mut Window) -> Plan {
    let mut plan = Plan { steps: Vec::new(), tip: tip.to_string() };
    for (spec, tried) in round.specs.into_iter().zip(round.tried) {
        let last = match (&spec.built, &tried) {
            (Built::OnMain, _) => false,
            (Built::Merge(Merge::Conflict { .. } | Merge::Failed { .. }), _) => {
                window.failed();
                false
            }
            (Built::Merge(Merge::Clean { commit: merge, .. }), Some(Ok(Tried::Passed { commit }))) => {
                window.landed();
                plan.tip = commit.clone();
                commit != merge
            }
            (Built::Merge(_), Some(Ok(Tried::Stopped { .. }))) => {
                window.failed();
                true
            }
            // A check that could not start: landing reports the error.
            (Built::Merge(_), _) => true,
        };
        plan.steps.push((spec, tried));
        if last {
            break;
        }
    }
    plan
}

impl Runner<'_> {
    /// The drain of a cutover run with speculative verify. Returns true when stopped by
    /// `--max-items` or `--time-budget`.
    pub(super) fn drain_speculative(&mut self, k: usize) -> Result<bool> {
        let mut p = Pipeline {
            window: Window::new(k),
            pending: Vec::new(),
            taken: HashSet::new(),
            rejections: HashMap::new(),
            ready: None,
        };
        loop {
            self.lease.check()?;
            self.journal.checkpoint(Phase::Evaluate, None, None)?;
            let (views, facts) = self.evaluate()?;
            let q = self.sync(&views, &facts)?;
            let Some(main) = facts.main_tip.clone() else {
                return Err(Error::failed(format!("{} does not exist", self.remote_main())));
            };
            let plan = p.ready.take().map(|r| plan(r, &main, &mut p.window));
            let planned: HashSet<String> =
                plan.iter().flat_map(|pl| pl.steps.iter().map(|(s, _)| s.item.key())).collect();
            let (stopped, fresh) = self.take(&mut p, &q, &views, &planned)?;
            let next: Vec<Item> = p.pending.iter().filter(|i| !planned.contains(&i.key())).cloned().collect();
            if plan.is_none() && next.is_empty() {
                return Ok(stopped);
            }
            let next = &next[..next.len().min(p.window.size)];
            let tip = plan.as_ref().map_or(main, |pl| pl.tip.clone());
            self.round(&mut p, plan, (next, &tip, fresh), &facts)?;
        }
    }

    /// Build and check the round of `next` on `tip` while `plan` lands (and the candidates
    /// `fresh` are taken from the queue); keep its results for the next round unless the
    /// landing went otherwise than planned.
    fn round(
        &mut self,
        p: &mut Pipeline,
        plan: Option<Plan>,
        (next, tip, fresh): (&[Item], &str, Vec<Item>),
        facts: &GitFacts,
    ) -> Result<()> {
        let t = Instant::now();
        self.journal.checkpoint(Phase::Verify, next.first(), None)?;
        if !next.is_empty() {
            let slugs: Vec<&str> = next.iter().map(|i| i.slug.as_str()).collect();
            self.progress(&format!("verify: up to {} at once ({})", slugs.len(), slugs.join(", ")));
        }
        let speculator = self.speculator(next.len(), tip)?;
        let landing: Vec<String> = plan.iter().flat_map(Plan::landing).collect();
        let (landed, round) = std::thread::scope(|s| {
            let landing: Vec<&str> = landing.iter().map(String::as_str).collect();
            let checks = s.spawn(move || speculator.run(next, tip, &landing, facts));
            let landed = fresh.iter().try_for_each(|item| self.dequeue(item).map(drop)).and_then(|()| match plan {
                Some(plan) => self.land(p, plan, facts),
                None => Ok(true),
            });
            (landed, checks.join())
        });
        crate::failpoint::point!("after-speculative-verify");
        let round = round.map_err(|_| Error::failed("the speculative checks panicked"))?;
        self.journal.add_time("apply_ms", t);
        if landed? && !next.is_empty() {
            p.ready = Some(round?);
        }
        Ok(())
    }

    /// Take queued READY candidates into the pipeline, up to the window, and drop from it
    /// those no longer READY. Returns whether the budget left one in the queue, and the
    /// candidates taken (to be dequeued while the round runs).
    fn take(
        &mut self,
        p: &mut Pipeline,
        q: &Queue,
        views: &[CandidateView],
        planned: &HashSet<String>,
    ) -> Result<(bool, Vec<Item>)> {
        for item in p.pending.clone().iter().filter(|i| !planned.contains(&i.key())) {
            if !self.still_ready(item, views, "no longer READY")? {
                p.pending.retain(|i| i.key() != item.key());
            }
        }
        let queued: Vec<&Item> =
            super::queued_ready(q, views).into_iter().filter(|it| !p.taken.contains(&it.key())).collect();
        let mut fresh = Vec::new();
        for item in queued {
            if p.pending.iter().filter(|i| !planned.contains(&i.key())).count() >= p.window.size {
                break;
            }
            let over = self.opts.max_items.is_some_and(|n| p.taken.len() >= n)
                || self.opts.time_budget.is_some_and(|b| self.journal.started.elapsed() >= b);
            if over {
                return Ok((true, fresh));
            }
            p.taken.insert(item.key());
            p.pending.push(item.clone());
            fresh.push(item.clone());
        }
        Ok((false, fresh))
    }

    /// Land `plan` in order. False when it went otherwise than planned (a push was
    /// rejected or refused): what was built on it is void.
    fn land(&mut self, p: &mut Pipeline, plan: Plan, facts: &GitFacts) -> Result<bool> {
        for (spec, tried) in plan.steps {
            let key = spec.item.key();
            let landed = self.land_one(p, spec, tried, facts)?;
            if landed != Landed::Retry {
                p.pending.retain(|i| i.key() != key);
            }
            if landed != Landed::AsPlanned {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Land one speculation.
    fn land_one(
        &mut self,
        p: &mut Pipeline,
        spec: Spec,
        tried: Option<Result<Tried>>,
        facts: &GitFacts,
    ) -> Result<Landed> {
        let item = &spec.item;
        let merge = match spec.built {
            Built::OnMain => {
                self.mark_integrated(item, facts, &format!("already on {}", self.remote_main()))?;
                return Ok(Landed::AsPlanned);
            }
            Built::Merge(merge) => merge,
        };
        let Some(merge) = self.merged_or_block(item, merge)? else { return Ok(Landed::AsPlanned) };
        let p2 = obj(json!({"commit": merge, "main_sha": spec.base}));
        self.journal.lifecycle(lifecycle::MERGE_SUCCEEDED, Some(item), p2)?;
        let tried = tried.unwrap_or_else(|| Err(Error::failed("a speculation was not checked")))?;
        let commit = match tried {
            Tried::Passed { commit } => commit,
            Tried::Stopped { which, checked } => {
                let cause = self.stopped(item, which, checked)?;
                self.block(item, cause)?;
                return Ok(Landed::AsPlanned);
            }
        };
        self.push_planned(p, item, &merge, &commit)
    }

    /// Push the checked `commit` of `item`.
    fn push_planned(&mut self, p: &mut Pipeline, item: &Item, merge: &str, commit: &str) -> Result<Landed> {
        self.lease.check()?;
        match self.push_main(commit)? {
            Push::Pushed => {
                crate::failpoint::point!("after-push");
                self.delivered(item, merge, commit)?;
                Ok(Landed::AsPlanned)
            }
            Push::Rejected(why) => {
                let blocked = self.rejected(item, commit, why, p.rejections.entry(item.key()).or_default())?;
                self.fetch()?;
                Ok(if blocked { Landed::Otherwise } else { Landed::Retry })
            }
            Push::Refused(message) => {
                self.block(item, Cause::PushRefused { message })?;
                Ok(Landed::Otherwise)
            }
            Push::Failed(why) => Err(self.push_failed(&why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn the_window_grows_by_one_up_to_k_and_halves_down_to_one() {
        let mut w = Window::new(4);
        w.failed();
        assert_eq!(w.size, 2);
        w.failed();
        w.failed();
        assert_eq!(w.size, 1, "never below 1");
        for want in [2, 3, 4, 4] {
            w.landed();
            assert_eq!(w.size, want);
        }
        w.failed();
        assert_eq!(w.size, 2);
        assert_eq!(Window::new(0), Window::new(1));
    }
}
