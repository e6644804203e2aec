//! `integrator run` (SPEC §8): take the lease, recover, fetch, project readiness, drain
//! the queue one candidate at a time, wait for late events, checkpoint, release.
//!
//! The drain loop is here; what it does to one candidate is in [`cutover`] (merge, verify,
//! bookkeeping, push, cleanup) or [`shadow`] (record what would happen); [`settle`] keeps
//! the queue in line with readiness and git; [`journal`] is what the run leaves for readers.

mod cutover;
pub(crate) mod journal;
mod settle;
mod shadow;

use journal::Journal;
pub(crate) use journal::{obj, Checkpoint, Outcome, OutcomeRecord, Phase, RunReport};

use crate::apply::{self, Worktree};
use crate::candidate::Named;
use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::events::{self, lifecycle};
use crate::git::Git;
use crate::lease::{Acquire, Lease};
use crate::mode::{self, Resolved};
use crate::projection::Projection;
use crate::queue::{Queue, Status};
use crate::readiness::{self, State, Trailers};
use crate::repo::Repo;
use crate::store::{self, FileLock, StateDir};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub mode: Option<Mode>,
    pub max_items: Option<usize>,
    pub time_budget: Option<Duration>,
    pub wait: Option<Duration>,
    /// Print the effective mode and its reason as soon as it is known (step 1).
    pub announce: bool,
}

/// Run the integrator once. `Err(LeaseBusy)` when another run holds the lease.
pub(crate) fn run(repo: &Repo, opts: &Options) -> Result<RunReport> {
    let cfg = repo.config()?;
    let dir = &repo.state;
    let proj = Projection::load(dir)?;
    let resolved = mode::resolve(&cfg, opts.mode, proj.parity_accepted)?;
    if resolved.effective == Mode::Off {
        if opts.announce {
            println!("mode off");
        }
        return Ok(RunReport { mode: resolved, run_id: None, processed: Vec::new(), counts: BTreeMap::new() });
    }
    dir.ensure()?;
    let mut lease = take_lease(dir, &cfg, opts.wait)?;
    if opts.announce {
        println!("mode {}: {}", resolved.effective.as_str(), resolved.reason);
    }
    lease.start_renewing();
    let mut runner = Runner {
        git: apply::integrator_git(&repo.git, &cfg),
        cfg,
        dir: dir.clone(),
        journal: Journal::new(dir.clone(), resolved.clone()),
        mode: resolved,
        lease: &lease,
        opts: opts.clone(),
        proj,
        trailers: Trailers::default(),
    };
    let result = runner.execute();
    let finish = runner.finish(result.as_ref().err());
    let report = runner.journal.report();
    drop(runner);
    let released = lease.release();
    result?;
    finish?;
    released?;
    Ok(report)
}

fn take_lease(dir: &StateDir, cfg: &Config, wait: Option<Duration>) -> Result<Lease> {
    let owner = format!("integrator run ({})", events::default_actor());
    let ttl = cfg.integrator.lease_ttl_secs;
    let acquired = match wait {
        None => Lease::try_acquire(dir, &owner, ttl)?,
        Some(wait) => {
            // At most one run waits per repository: the waiter slot is a second lock.
            let _waiting = match FileLock::try_lock(&dir.waiter_lock())? {
                Some(slot) => slot,
                None => match Lease::try_acquire(dir, &owner, ttl)? {
                    Acquire::Taken(l) => return Ok(*l),
                    Acquire::Busy(line) => {
                        return Err(Error::LeaseBusy(format!("{line} (another run is already waiting)")))
                    }
                },
            };
            Lease::acquire_waiting(dir, &owner, ttl, wait)?
        }
    };
    match acquired {
        Acquire::Taken(l) => Ok(*l),
        Acquire::Busy(line) => Err(Error::LeaseBusy(line)),
    }
}

/// The queue reason of a candidate this run delivered: `merged as <merge commit>`.
const DELIVERED: &str = "merged as";

/// One run, while it holds the lease.
struct Runner<'a> {
    git: Git,
    cfg: Config,
    dir: StateDir,
    mode: Resolved,
    lease: &'a Lease,
    opts: Options,
    proj: Projection,
    journal: Journal,
    trailers: Trailers,
}

impl Runner<'_> {
    fn cutover(&self) -> bool {
        self.mode.effective == Mode::Cutover
    }

    /// `<remote>/<main>`, as messages name it.
    fn remote_main(&self) -> String {
        format!("{}/{}", self.cfg.integrator.remote, self.cfg.integrator.main)
    }

    fn execute(&mut self) -> Result<()> {
        // First: a half-written worktree record left by a killed run breaks `git fetch`.
        Worktree::clean_stale(&self.git, &self.dir)?;
        self.journal.checkpoint(Phase::Fetch, None, None)?;
        self.fetch()?;
        self.recover()?;
        loop {
            let seen = self.proj.readiness_events;
            if self.drain()? {
                break;
            }
            if self.cfg.integrator.grace_secs > 0 {
                self.journal.checkpoint(Phase::Grace, None, None)?;
                std::thread::sleep(Duration::from_secs(self.cfg.integrator.grace_secs));
            }
            // Re-read the log before releasing the lease: a late event is never stranded.
            self.proj.catch_up(&self.dir)?;
            if self.proj.readiness_events == seen {
                break;
            }
        }
        self.proj.save(&self.dir)?;
        // The queue follows the projection: items of slugs it archived are history.
        let in_memory = self.proj.slugs_in_memory();
        store::with_state_lock(&self.dir, || {
            let mut q = Queue::load(&self.dir)?;
            q.archive(&self.dir, |it| !in_memory.contains(&it.slug))
        })?;
        Ok(())
    }

    fn finish(&mut self, err: Option<&Error>) -> Result<()> {
        if self.journal.announced {
            let p = serde_json::json!({"processed": self.journal.processed.len(), "ok": err.is_none()});
            self.journal.lifecycle(lifecycle::COMPLETED, None, obj(p))?;
        }
        self.journal.checkpoint(if err.is_some() { Phase::Failed } else { Phase::Done }, None, err)
    }

    fn out_of_budget(&self) -> bool {
        self.opts.max_items.is_some_and(|n| self.journal.processed.len() >= n)
            || self.opts.time_budget.is_some_and(|b| self.journal.started.elapsed() >= b)
    }

    /// Process queued READY items one at a time, re-checking readiness before each.
    /// Returns true when stopped by `--max-items` or `--time-budget`.
    fn drain(&mut self) -> Result<bool> {
        let mut evaluated = HashSet::new();
        loop {
            self.lease.check()?;
            self.journal.checkpoint(Phase::Evaluate, None, None)?;
            let (views, facts) = self.evaluate()?;
            let q = self.sync(&views, &facts)?;
            let ready = readiness::by_candidate(&views);
            let next = q.fifo(Status::Queued).into_iter().map(|i| &q.items[i]).find(|it| {
                let is_ready = ready.get(&it.candidate()).is_some_and(|v| v.state == State::Ready);
                is_ready && !evaluated.contains(&it.key())
            });
            let Some(item) = next.cloned() else { return Ok(false) };
            if self.out_of_budget() {
                return Ok(true);
            }
            evaluated.insert(item.key());
            self.journal.checkpoint(Phase::Apply, Some(&item), None)?;
            let t = Instant::now();
            if self.cutover() {
                self.integrate(item, facts)?;
            } else {
                self.shadow(item, &facts)?;
            }
            self.journal.add_time("apply_ms", t);
        }
    }
}
