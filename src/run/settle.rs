//! Keeping the queue in line with the log and git: fetch, evaluate readiness, recover
//! items a killed run left in progress, enqueue READY candidates, supersede older ones,
//! and mark (and announce, once) those already on main.

use super::{obj, Outcome, Runner};
use crate::apply::{self, Worktree};
use crate::candidate::Named;
use crate::clock;
use crate::config::Config;
use crate::error::Result;
use crate::events::{self, lifecycle};
use crate::git::Git;
use crate::queue::{self, Item, Queue, Status};
use crate::readiness::{self, CandidateView, GitFacts, State};
use crate::store::{self, StateDir};
use serde_json::{json, Map};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A run's first fetch: what a killed run left of its worktrees removed, then
/// [`fetch_branches`]. Returns how long both took.
pub(super) fn clean_and_fetch(git: &Git, dir: &StateDir, cfg: &Config) -> Result<Duration> {
    let t = Instant::now();
    Worktree::clean_stale(git, dir)?;
    fetch_branches(git, cfg)?;
    Ok(t.elapsed())
}

/// The run's fetch of `integrator.remote`. Returns how long it took.
fn fetch_branches(git: &Git, cfg: &Config) -> Result<Duration> {
    let t = Instant::now();
    let args = ["fetch", "--prune", "--quiet", "--end-of-options", cfg.integrator.remote.as_str()];
    // A remote-tracking ref can be locked for a moment by another git process — e.g. the
    // push of a run killed mid-push, which finishes on its own and updates
    // `refs/remotes/<remote>/<main>`. That contention is transient: retry briefly.
    let mut attempt = 0;
    loop {
        let out = git.output(&args, None)?;
        if out.ok() {
            return Ok(t.elapsed());
        }
        let transient = out.stderr.contains("cannot lock ref") || out.stderr.contains(".lock': File exists");
        attempt += 1;
        if !transient || attempt >= 10 {
            return Err(crate::git::command_failed(&args, &out));
        }
        std::thread::sleep(Duration::from_millis(100 * attempt));
    }
}

/// What settling the queue changed, for the records written after the lock is released.
#[derive(Default)]
struct Settled {
    changed: bool,
    superseded: Vec<Item>,
    newly_integrated: Vec<Item>,
}

impl Runner<'_> {
    /// The run's fetch of its remote.
    pub(super) fn fetch(&mut self) -> Result<()> {
        let took = fetch_branches(&self.git, &self.cfg)?;
        self.journal.add_ms("fetch_ms", took);
        Ok(())
    }

    /// The run's first fetch, after removing what a killed run left of its worktrees (a
    /// half-written worktree record breaks `git fetch`) — unless both were done beside
    /// the fleet's first sync.
    pub(super) fn first_fetch(&mut self) -> Result<()> {
        let took = match self.fetched.take() {
            Some(done) => done?,
            None => clean_and_fetch(&self.git, &self.dir, &self.cfg)?,
        };
        self.journal.add_ms("fetch_ms", took);
        Ok(())
    }

    /// Fold new events, gather git facts and evaluate every candidate.
    pub(super) fn evaluate(&mut self) -> Result<(Vec<CandidateView>, GitFacts)> {
        let t = Instant::now();
        self.proj.catch_up(&self.dir)?;
        // A reader may have archived a slug whose item this queue still has to settle.
        let q = Queue::load(&self.dir)?;
        self.proj.take_back_slugs(&self.dir, q.open_slugs())?;
        let facts = GitFacts::gather_with(&self.git, &self.cfg, &self.proj, &mut self.trailers)?;
        let views = readiness::evaluate(&self.proj, &self.cfg, &facts);
        self.journal.main_tip = facts.main_tip.clone();
        self.journal.add_time("evaluate_ms", t);
        Ok((views, facts))
    }

    /// A candidate left `in_progress` by a crashed run is re-examined against git.
    pub(super) fn recover(&mut self) -> Result<()> {
        let queue = Queue::load(&self.dir)?;
        self.finish_deliveries(&queue)?;
        let stuck: Vec<Item> = queue.items.iter().filter(|i| i.status == Status::InProgress).cloned().collect();
        if stuck.is_empty() {
            return Ok(());
        }
        let (_, facts) = self.evaluate()?;
        for item in stuck {
            if facts.is_on_main(&item.sha) {
                self.mark_integrated(&item, &facts, "recovered: already on main")?;
                // The crashed run pushed it but never cleaned up: do that now (cutover only;
                // the deletion still happens only while the branch points at the sha).
                if self.cutover() {
                    self.cleanup(&item)?;
                }
            } else {
                queue::update(&self.dir, &item, |i| {
                    i.transition(Status::Queued, "recovered after an interrupted run")
                })?;
            }
        }
        Ok(())
    }

    /// A run killed after it pushed and marked the item integrated (SPEC §8.3) but before
    /// it recorded the outcome — the last step of a delivery — may not have cleaned up:
    /// do that now (the deletion still happens only while the branch points at the sha).
    fn finish_deliveries(&mut self, queue: &Queue) -> Result<()> {
        if !self.cutover() {
            return Ok(());
        }
        let finished = |i: &Item| i.last_outcome.as_ref().is_some_and(|o| o.outcome == Outcome::Integrated);
        let unfinished = queue.items.iter().filter(|i| {
            i.status == Status::Integrated && i.status_reason.starts_with(super::DELIVERED) && !finished(i)
        });
        for item in unfinished.cloned().collect::<Vec<_>>() {
            self.cleanup(&item)?;
            self.journal.outcome(&item, Outcome::Integrated, vec![item.status_reason.clone()])?;
        }
        Ok(())
    }

    /// Bring the queue in line with readiness: enqueue READY candidates, supersede older
    /// ones, mark those already on main integrated. Returns the queue as it now stands.
    pub(super) fn sync(&mut self, views: &[CandidateView], facts: &GitFacts) -> Result<Queue> {
        let (q, settled) = store::with_state_lock(&self.dir, || {
            let mut q = Queue::load(&self.dir)?;
            let settled = self.settle(&mut q, views)?;
            if settled.changed {
                q.save(&self.dir)?;
            }
            Ok((q, settled))
        })?;
        if settled.changed {
            self.journal.lifecycle("", None, Map::new())?;
        }
        for it in &settled.superseded {
            // Through `outcome`, so the run's summary counts it like any other result.
            self.journal.outcome(it, Outcome::Superseded, vec![it.status_reason.clone()])?;
        }
        for it in &settled.newly_integrated {
            self.announce_completed(it, facts)?;
            self.journal.record_outcome(it, Outcome::Integrated, vec![it.status_reason.clone()], None)?;
        }
        // deployment.completed is recorded once for every integrated candidate, also when a
        // previous run stopped between the queue update and the event.
        let missing: Vec<usize> = views
            .iter()
            .filter(|v| v.state == State::Integrated && !self.proj.is_completed(&v.slug, &v.sha))
            .filter_map(|v| q.find(v))
            .collect();
        for i in missing {
            self.announce_completed(&q.items[i], facts)?;
        }
        Ok(q)
    }

    /// Apply every view to the queue (the caller holds the state lock).
    fn settle(&self, q: &mut Queue, views: &[CandidateView]) -> Result<Settled> {
        let before = q.clone();
        let mut out = Settled::default();
        // Positions by candidate key: a lookup per view must not scan the queue.
        let mut at = q.positions();
        for v in views {
            let key = v.candidate().key();
            if self.proj.dropped.contains(&key) && !matches!(v.state, State::Integrated) {
                settle_dropped(q, &mut at, v, &key, &mut out)?;
                continue;
            }
            let idx = at.get(&key).copied();
            match v.state {
                State::Ready if idx.is_none() => {
                    enqueue(q, &mut at, v, "ready");
                }
                // Announced already; its item, if any, is in the queue archive.
                State::Integrated if idx.is_none() && self.proj.is_completed(&v.slug, &v.sha) => {}
                State::Integrated => {
                    let i = idx.unwrap_or_else(|| enqueue(q, &mut at, v, "ready"));
                    let it = &mut q.items[i];
                    if matches!(it.status, Status::Queued | Status::Blocked) {
                        if it.status == Status::Blocked {
                            it.transition(Status::Queued, "landed on main")?;
                        }
                        it.transition(Status::Integrated, format!("already on {}", self.remote_main()))?;
                        out.newly_integrated.push(it.clone());
                    }
                }
                State::Superseded => {
                    if let Some(it) = idx.map(|i| &mut q.items[i]) {
                        if matches!(it.status, Status::Queued | Status::Blocked) {
                            it.transition(Status::Superseded, v.reasons.join("; "))?;
                            out.superseded.push(it.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        out.changed = *q != before;
        Ok(out)
    }

    /// Record `deployment.completed` for an item already on main.
    pub(super) fn announce_completed(&mut self, item: &Item, facts: &GitFacts) -> Result<()> {
        // Only git can say which commit brought it in: a candidate resolved by a recorded
        // deployment.completed alone (not on main) has nothing more to announce.
        if self.proj.is_completed(&item.slug, &item.sha) || !facts.is_on_main(&item.sha) {
            return Ok(());
        }
        let Some(tip) = facts.main_tip.as_deref() else { return Ok(()) };
        let merge_commit = apply::merge_commit_for(&self.git, tip, &item.sha)?;
        self.completed_event(item, &merge_commit)
    }

    pub(super) fn completed_event(&mut self, item: &Item, merge_commit: &str) -> Result<()> {
        let p = json!({"slug": item.slug, "branch": item.branch, "sha": item.sha, "merge_commit": merge_commit, "integrated_at": clock::now_string()});
        events::record_canonical(&self.dir, events::DEPLOYMENT_COMPLETED, obj(p), "integrator")?;
        crate::failpoint::point!("after-completed");
        self.proj.catch_up(&self.dir)?;
        Ok(())
    }

    pub(super) fn mark_integrated(&mut self, item: &Item, facts: &GitFacts, reason: &str) -> Result<()> {
        let it = queue::update(&self.dir, item, |i| i.transition(Status::Integrated, reason))?;
        self.announce_completed(&it, facts)?;
        self.journal.lifecycle(lifecycle::CANDIDATE_ALREADY_MERGED, Some(&it), Map::new())?;
        self.journal.outcome(&it, Outcome::Integrated, vec![reason.into()])
    }
}

fn enqueue(q: &mut Queue, at: &mut HashMap<String, usize>, v: &CandidateView, reason: &str) -> usize {
    let i = q.enqueue(&v.slug, &v.branch, &v.sha, &v.ready_at, reason);
    at.insert(v.candidate().key(), i);
    i
}

/// A candidate dropped by hand is never taken up again, also by a rebuilt queue. Only a
/// READY one needs an item to say so; any other is not taken up anyway.
fn settle_dropped(
    q: &mut Queue,
    at: &mut HashMap<String, usize>,
    v: &CandidateView,
    key: &str,
    out: &mut Settled,
) -> Result<()> {
    let i = match at.get(key).copied() {
        Some(i) => i,
        None if v.state == State::Ready => enqueue(q, at, v, "rebuilt from the log"),
        None => return Ok(()),
    };
    let it = &mut q.items[i];
    if matches!(it.status, Status::Queued | Status::Blocked) {
        it.transition(Status::Superseded, "dropped (integrator queue drop)")?;
        out.superseded.push(it.clone());
    }
    Ok(())
}
