//! `integrator run` (SPEC §8): take the lease, recover, fetch, project readiness, drain
//! the queue one candidate at a time, wait for late events, checkpoint, release.
//!
//! The drain loop is here; what it does to one candidate is in [`cutover`] (merge, verify,
//! bookkeeping, push, cleanup) or [`shadow`] (record what would happen); [`settle`] keeps
//! the queue in line with readiness and git; [`journal`] is what the run leaves for readers.

mod cutover;
pub(crate) mod journal;
mod pipeline;
mod progress;
mod settle;
mod shadow;
mod speculate;
mod tidy;

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
use crate::queue::{self, Queue, Status};
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
    crate::bridge::for_run(repo, &cfg, crate::bridge::Pass::Full);
    let dir = &repo.state;
    let proj = Projection::load(dir)?;
    let resolved = mode::resolve(&cfg, opts.mode, proj.parity_accepted)?;
    if resolved.requested == Mode::Cutover && resolved.effective == Mode::Shadow {
        // Even under --quiet or --json: a cron run that silently stays in shadow is the trap.
        eprintln!(
            "integrator: warning: cutover requested, running in shadow: {}; see `integrator cutover`",
            resolved.reason
        );
    }
    if resolved.effective == Mode::Off {
        if opts.announce {
            println!("mode off");
        }
        return Ok(RunReport { mode: resolved, run_id: None, processed: Vec::new(), counts: BTreeMap::new() });
    }
    dir.ensure()?;
    let owner = format!("integrator run ({})", events::default_actor());
    let mut lease = take_lease(dir, &cfg, &owner, opts.wait)?;
    // Renewed from now on: the fleet's lease, sync and fetch below may take a while.
    lease.start_renewing();
    // With the fleet on, the remote lease too (after the local one), and a first sync;
    // the run's own fetch goes beside that sync once the lease is held.
    let git = apply::integrator_git(&repo.git, &cfg);
    let fetch = || settle::clean_and_fetch(&git, dir, &cfg);
    let (fleet, fetched) = match crate::fleet::remote_lease::begin(repo, &cfg, &resolved, &owner, opts.wait, fetch) {
        Ok(f) => f.map_or((None, None), |(session, fetched)| (Some(session), fetched)),
        Err(e) => {
            lease.release()?;
            return Err(e);
        }
    };
    if opts.announce {
        println!("mode {}: {}", resolved.effective.as_str(), resolved.reason);
    }
    let held = Held { lease: &lease, fleet: fleet.as_ref(), fetched };
    let (result, finish, journal, cfg, done) = drive(repo, cfg, resolved, held, opts, proj);
    let report = journal.report();
    // The results go out to every computer and the remote lease is released, while this
    // clone keeps what the run folded (its own state: nothing the push carries). A run
    // whose keeping failed is checkpointed as failed, though its work went through.
    let (fleet_ended, saved) = std::thread::scope(|s| {
        let ending = fleet.map(|f| s.spawn(|| f.end(repo, &cfg, &report.mode)));
        let saved = done.map_or(Ok(()), |proj| keep(dir, proj));
        if let Err(e) = &saved {
            let _ = journal.checkpoint(Phase::Failed, None, Some(e));
        }
        (ending.map_or(Ok(()), |e| e.join().unwrap_or_else(|p| std::panic::resume_unwind(p))), saved)
    });
    let released = lease.release();
    result?;
    finish?;
    saved?;
    fleet_ended?;
    released?;
    Ok(report)
}

/// Keep what a run that went through folded: the projection, and the queue without the
/// items of slugs it archived (they are history).
fn keep(dir: &StateDir, mut proj: Projection) -> Result<()> {
    proj.save(dir)?;
    let in_memory = proj.slugs_in_memory();
    store::with_state_lock(dir, || {
        let mut q = Queue::load(dir)?;
        q.archive(dir, |it| !in_memory.contains(&it.slug))
    })?;
    Ok(())
}

/// The leases a run holds while it works (and its fetch, when it was done while the
/// remote lease was taken).
struct Held<'a> {
    lease: &'a Lease,
    fleet: Option<&'a crate::fleet::remote_lease::Session>,
    fetched: Option<Result<Duration>>,
}

/// Everything a run does while it holds the lease: the work, its end, the delivery of
/// what it announced. Returns the work's and the end's results, the run's journal, the
/// config, and — when the work went through — the projection to [`keep`].
fn drive(
    repo: &Repo,
    cfg: Config,
    resolved: Resolved,
    held: Held<'_>,
    opts: &Options,
    proj: Projection,
) -> (Result<()>, Result<()>, Journal, Config, Option<Projection>) {
    let mut runner = Runner {
        git: apply::integrator_git(&repo.git, &cfg),
        cfg,
        dir: repo.state.clone(),
        journal: Journal::new(repo.state.clone(), resolved.clone()),
        mode: resolved,
        lease: held.lease,
        fleet: held.fleet,
        fetched: held.fetched,
        opts: opts.clone(),
        proj,
        trailers: Trailers::default(),
        worktree: None,
        slots: Vec::new(),
    };
    let result = match held.lease.took_over() {
        Some(dead) => runner.journal.close_dead_run(dead).and_then(|()| runner.execute()),
        None => runner.execute(),
    };
    let finish = runner.finish(result.as_ref().err());
    crate::bridge::for_run(repo, &runner.cfg, crate::bridge::Pass::Deliver);
    let done = result.is_ok().then_some(runner.proj);
    (result, finish, runner.journal, runner.cfg, done)
}

fn take_lease(dir: &StateDir, cfg: &Config, owner: &str, wait: Option<Duration>) -> Result<Lease> {
    let ttl = cfg.integrator.lease_ttl_secs;
    let acquired = match wait {
        None => Lease::try_acquire(dir, owner, ttl)?,
        Some(wait) => {
            // At most one run waits per repository: the waiter slot is a second lock.
            let _waiting = match FileLock::try_lock(&dir.waiter_lock())? {
                Some(slot) => slot,
                None => match Lease::try_acquire(dir, owner, ttl)? {
                    Acquire::Taken(l) => return Ok(*l),
                    Acquire::Busy(line) => {
                        return Err(Error::LeaseBusy(format!("{line} (another run is already waiting)")))
                    }
                },
            };
            Lease::acquire_waiting(dir, owner, ttl, wait)?
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
    /// The remote lease, with the fleet on: every push of main is fenced by it.
    fleet: Option<&'a crate::fleet::remote_lease::Session>,
    /// The fetch done beside the fleet's first sync, not yet accounted for.
    fetched: Option<Result<Duration>>,
    opts: Options,
    proj: Projection,
    journal: Journal,
    trailers: Trailers,
    /// The private worktree, kept for the run and moved from merge to merge.
    worktree: Option<Worktree>,
    /// The private worktrees of speculative verify, one per slot, kept the same way.
    slots: Vec<Worktree>,
}

impl Runner<'_> {
    fn cutover(&self) -> bool {
        self.mode.effective == Mode::Cutover
    }

    /// A line about long work (verify, the grace window) for a person at a terminal:
    /// stderr, only when it is a tty and the run is not --quiet/--json.
    fn progress(&self, line: &str) {
        if self.watched() {
            eprintln!("{line}");
        }
    }

    /// [`progress`](Self::progress) for a wait of unknown length: `label` with the seconds
    /// it has been running, rewritten in place, until the returned timer drops.
    fn timed(&self, label: String) -> Option<progress::Timer> {
        self.watched().then(|| progress::timer(label))
    }

    /// Is a person watching: stderr a terminal and the run not --quiet/--json?
    fn watched(&self) -> bool {
        use std::io::IsTerminal;
        self.opts.announce && std::io::stderr().is_terminal()
    }

    /// `<remote>/<main>`, as messages name it.
    fn remote_main(&self) -> String {
        format!("{}/{}", self.cfg.integrator.remote, self.cfg.integrator.main)
    }

    fn execute(&mut self) -> Result<()> {
        if self.fleet.is_some() {
            // The fleet's first sync appended other computers' events after the projection
            // was loaded: fold them now, or the first drain would see none of them.
            self.proj.catch_up(&self.dir)?;
        }
        let seen = store::read_json::<Checkpoint>(&self.dir.checkpoint()).ok().flatten().and_then(|c| c.main_sha);
        self.journal.checkpoint(Phase::Fetch, None, None)?;
        self.first_fetch()?;
        if let Some(b) = crate::breach::check(&self.git, &self.dir, &self.cfg, self.cutover())? {
            eprintln!("{}", crate::breach::describe(&b));
        }
        if let Some(warning) = readiness::rewound_since(&self.git, &self.cfg, seen.as_deref())? {
            eprintln!("integrator: warning: {warning}");
        }
        self.recover()?;
        loop {
            let seen = self.proj.readiness_events;
            if self.drain()? {
                break;
            }
            if self.cfg.integrator.grace_secs > 0 {
                self.progress(&format!("grace window: waiting {}s for late events", self.cfg.integrator.grace_secs));
                self.journal.checkpoint(Phase::Grace, None, None)?;
                std::thread::sleep(Duration::from_secs(self.cfg.integrator.grace_secs));
            }
            // Re-read the log before releasing the lease: a late event is never stranded.
            self.proj.catch_up(&self.dir)?;
            if self.proj.readiness_events == seen {
                break;
            }
        }
        Ok(())
    }

    /// The private worktree at `commit`: the kept one moved there, else a new one.
    fn worktree_at(&mut self, commit: &str) -> Result<Worktree> {
        if let Some(wt) = &self.worktree {
            if wt.move_to(&self.git, commit).is_ok() {
                return Ok(wt.clone());
            }
        }
        let wt = Worktree::prepare(&self.git, &self.dir, commit)?;
        self.worktree = Some(wt.clone());
        Ok(wt)
    }

    fn finish(&mut self, err: Option<&Error>) -> Result<()> {
        if let Some(wt) = self.worktree.take() {
            wt.remove(&self.git);
        }
        for wt in std::mem::take(&mut self.slots) {
            wt.remove(&self.git);
        }
        let _ = std::fs::remove_dir(self.dir.speculative());
        if self.journal.announced {
            let p = serde_json::json!({"processed": self.journal.processed.len(), "ok": err.is_none()});
            self.journal.lifecycle(lifecycle::COMPLETED, None, obj(p))?;
        }
        self.journal.checkpoint(if err.is_some() { Phase::Failed } else { Phase::Done }, None, err)
    }

    /// Push exactly `commit` to main: fenced by the remote lease with the fleet on.
    fn push_main(&self, commit: &str) -> Result<apply::Push> {
        match self.fleet {
            Some(f) => f.push_main(&self.git, &self.cfg, commit, self.lease.token()),
            None => apply::push_main(&self.git, &self.cfg, commit, self.lease.token()),
        }
    }

    fn out_of_budget(&self) -> bool {
        self.opts.max_items.is_some_and(|n| self.journal.processed.len() >= n)
            || self.opts.time_budget.is_some_and(|b| self.journal.started.elapsed() >= b)
    }

    /// Process queued READY items one at a time, re-checking readiness before each.
    /// Returns true when stopped by `--max-items` or `--time-budget`.
    fn drain(&mut self) -> Result<bool> {
        let k = self.cfg.integrator.verify_parallel as usize;
        if self.cutover() && k > 1 && !self.cfg.integrator.verify.is_empty() {
            return self.drain_speculative(k);
        }
        let mut evaluated = HashSet::new();
        loop {
            self.lease.check()?;
            self.journal.checkpoint(Phase::Evaluate, None, None)?;
            let (views, facts) = self.evaluate()?;
            let q = self.sync(&views, &facts)?;
            let waiting: Vec<_> =
                queued_ready(&q, &views).into_iter().filter(|it| !evaluated.contains(&it.key())).collect();
            let Some(item) = waiting.first().map(|&it| it.clone()) else { return Ok(false) };
            if self.out_of_budget() {
                return Ok(true);
            }
            evaluated.insert(item.key());
            let (i, n) = (evaluated.len(), evaluated.len() - 1 + waiting.len());
            self.progress(&format!("candidate {i} of {n}: {}", item.candidate()));
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

/// The queued items whose candidate is READY by `views`, in queue order.
fn queued_ready<'q>(q: &'q Queue, views: &[readiness::CandidateView]) -> Vec<&'q queue::Item> {
    let ready = readiness::by_candidate(views);
    (q.fifo(Status::Queued).into_iter().map(|i| &q.items[i]))
        .filter(|it| ready.get(&it.candidate()).is_some_and(|v| v.state == State::Ready))
        .collect()
}
