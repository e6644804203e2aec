//! `integrator run` (SPEC §8): take the lease, recover, fetch, project readiness, drain
//! the queue one candidate at a time (shadow: record what would happen; cutover: merge,
//! verify, push, announce), wait for late events, checkpoint, release.

use crate::apply::{self, Merge, Push, Worktree};
use crate::clock;
use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::events::{self, NewEvent};
use crate::followup;
use crate::git::Git;
use crate::lease::{Acquire, Lease};
use crate::mode::{self, Resolved};
use crate::projection::Projection;
use crate::queue::{Item, LastOutcome, Queue, Status};
use crate::readiness::{self, CandidateView, GitFacts, State, Trailers};
use crate::repo::Repo;
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub mode: Option<Mode>,
    pub max_items: Option<usize>,
    pub time_budget: Option<Duration>,
    pub wait: Option<Duration>,
    /// Print the effective mode and its reason as soon as it is known (step 1).
    pub announce: bool,
}

/// One candidate handled by a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Processed {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub outcome: String,
    pub reasons: Vec<String>,
}

/// What `run --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub mode: Resolved,
    pub run_id: Option<String>,
    pub processed: Vec<Processed>,
    pub counts: BTreeMap<String, u64>,
}

impl Processed {
    /// One line of a run's account: outcome, slug, branch@sha, reasons.
    pub fn render(&self) -> String {
        format!(
            "{:<16} {:<8} {}@{}  {}",
            self.outcome,
            self.slug,
            self.branch,
            crate::git::short(&self.sha),
            self.reasons.join("; ")
        )
    }
}

/// `outcomes.jsonl`: one decision per candidate evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutcomeRecord {
    pub key: String,
    pub mode: String,
    pub outcome: String,
    pub reasons: Vec<String>,
    pub main_sha: Option<String>,
    pub merge_tree: Option<String>,
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub at: String,
    pub run_id: String,
}

/// `checkpoint.json`: the last run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run_id: String,
    pub mode: Resolved,
    pub phase: String,
    pub candidate: Option<String>,
    pub counters: BTreeMap<String, u64>,
    pub timings: BTreeMap<String, u64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub main_sha: Option<String>,
    pub error: Option<String>,
}

/// Run the integrator once. `Err(LeaseBusy)` when another run holds the lease.
pub fn run(repo: &Repo, opts: &Options) -> Result<RunReport> {
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
    let git = apply::integrator_git(&repo.git, &cfg);
    let mut runner = Runner::new(git, cfg, dir.clone(), resolved, &lease, opts.clone(), proj);
    let result = runner.execute();
    let finish = runner.finish(result.as_ref().err());
    let report = runner.report();
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
            let _waiting = match store::FileLock::try_lock(&dir.waiter_lock())? {
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

struct Runner<'a> {
    git: Git,
    cfg: Config,
    dir: StateDir,
    mode: Resolved,
    lease: &'a Lease,
    opts: Options,
    proj: Projection,
    run_id: String,
    started: Instant,
    started_at: String,
    announced: bool,
    processed: Vec<Processed>,
    counters: BTreeMap<String, u64>,
    timings: BTreeMap<String, u64>,
    main_tip: Option<String>,
    trailers: Trailers,
}

impl<'a> Runner<'a> {
    fn new(
        git: Git,
        cfg: Config,
        dir: StateDir,
        mode: Resolved,
        lease: &'a Lease,
        opts: Options,
        proj: Projection,
    ) -> Self {
        Runner {
            git,
            cfg,
            dir,
            mode,
            lease,
            opts,
            proj,
            run_id: clock::uuid(),
            started: Instant::now(),
            started_at: clock::now_string(),
            announced: false,
            processed: Vec::new(),
            counters: BTreeMap::new(),
            timings: BTreeMap::new(),
            main_tip: None,
            trailers: Trailers::default(),
        }
    }

    fn cutover(&self) -> bool {
        self.mode.effective == Mode::Cutover
    }

    fn report(&self) -> RunReport {
        RunReport {
            mode: self.mode.clone(),
            run_id: Some(self.run_id.clone()),
            processed: self.processed.clone(),
            counts: self.counters.clone(),
        }
    }

    fn count(&mut self, what: &str) {
        *self.counters.entry(what.to_string()).or_default() += 1;
    }

    fn checkpoint(&self, phase: &str, candidate: Option<&Item>, error: Option<&Error>) -> Result<()> {
        let done = matches!(phase, "done" | "failed");
        let mut timings = self.timings.clone();
        timings.insert("total_ms".into(), self.started.elapsed().as_millis() as u64);
        let cp = Checkpoint {
            run_id: self.run_id.clone(),
            mode: self.mode.clone(),
            phase: phase.into(),
            candidate: candidate.map(Item::key),
            counters: self.counters.clone(),
            timings,
            started_at: self.started_at.clone(),
            finished_at: done.then(clock::now_string),
            main_sha: self.main_tip.clone(),
            error: error.map(|e| e.render("integrator")),
        };
        store::write_json(&self.dir.checkpoint(), &cp)
    }

    /// Record a lifecycle event (unique per run; the first one also announces the run).
    fn lifecycle(&mut self, kind: &str, item: Option<&Item>, mut payload: Map<String, Value>) -> Result<()> {
        let mut evs = Vec::new();
        if !self.announced {
            self.announced = true;
            let p = json!({"run_id": self.run_id, "mode": self.mode.effective.as_str(), "reason": self.mode.reason});
            evs.push(NewEvent::lifecycle(
                "integration.started",
                format!("integration.started:{}", self.run_id),
                obj(p),
            ));
        }
        if !kind.is_empty() {
            payload.insert("run_id".into(), self.run_id.clone().into());
            if let Some(i) = item {
                payload.insert("slug".into(), i.slug.clone().into());
                payload.insert("branch".into(), i.branch.clone().into());
                payload.insert("sha".into(), i.sha.clone().into());
            }
            let key = format!("{kind}:{}:{}:{}", self.run_id, item.map(Item::key).unwrap_or_default(), clock::uuid());
            evs.push(NewEvent::lifecycle(kind, key, payload));
        }
        events::record(&self.dir, evs).map(|_| ())
    }

    fn fetch(&mut self) -> Result<()> {
        let t = Instant::now();
        let remote = self.cfg.integrator.remote.clone();
        let args = ["fetch", "--prune", "--quiet", "--end-of-options", remote.as_str()];
        // A remote-tracking ref can be locked for a moment by another git process — e.g. the
        // push of a run killed mid-push, which finishes on its own and updates
        // `refs/remotes/<remote>/<main>`. That contention is transient: retry briefly.
        let mut attempt = 0;
        loop {
            let out = self.git.output(&args, None)?;
            if out.ok() {
                break;
            }
            let transient = out.stderr.contains("cannot lock ref") || out.stderr.contains(".lock': File exists");
            attempt += 1;
            if !transient || attempt >= 10 {
                return Err(crate::git::command_failed(&args, &out));
            }
            std::thread::sleep(Duration::from_millis(100 * attempt));
        }
        *self.timings.entry("fetch_ms".into()).or_default() += t.elapsed().as_millis() as u64;
        Ok(())
    }

    /// Fold new events, gather git facts and evaluate every candidate.
    fn evaluate(&mut self) -> Result<(Vec<CandidateView>, GitFacts)> {
        let t = Instant::now();
        self.proj.catch_up(&self.dir)?;
        // A reader may have archived a slug whose item this queue still has to settle.
        let q = Queue::load(&self.dir)?;
        self.proj.take_back_slugs(&self.dir, q.open_slugs())?;
        let cands = self.proj.unresolved_candidates();
        let facts = GitFacts::gather_with(&self.git, &self.cfg, &cands, &mut self.trailers)?;
        let views = readiness::evaluate(&self.proj, &self.cfg, &facts);
        self.main_tip = facts.main_tip.clone();
        *self.timings.entry("evaluate_ms".into()).or_default() += t.elapsed().as_millis() as u64;
        Ok((views, facts))
    }

    fn execute(&mut self) -> Result<()> {
        // First: a half-written worktree record left by a killed run breaks `git fetch`.
        Worktree::clean_stale(&self.git, &self.dir)?;
        self.checkpoint("fetch", None, None)?;
        self.fetch()?;
        self.recover()?;
        loop {
            let seen = self.proj.readiness_events;
            let stopped = self.drain()?;
            if stopped {
                break;
            }
            if self.cfg.integrator.grace_secs > 0 {
                self.checkpoint("grace", None, None)?;
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
        if self.announced {
            let p = json!({"processed": self.processed.len(), "ok": err.is_none()});
            self.lifecycle("integration.completed", None, obj(p))?;
        }
        self.checkpoint(if err.is_some() { "failed" } else { "done" }, None, err)
    }

    /// A candidate left `in_progress` by a crashed run is re-examined against git.
    fn recover(&mut self) -> Result<()> {
        let queue = Queue::load(&self.dir)?;
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
                self.update(&item, |i| i.transition(Status::Queued, "recovered after an interrupted run"))?;
            }
        }
        Ok(())
    }

    /// Load, change and save the queue under the state lock; returns the changed item.
    fn update(&self, item: &Item, f: impl FnOnce(&mut Item) -> Result<()>) -> Result<Item> {
        store::with_state_lock(&self.dir, || {
            let mut q = Queue::load(&self.dir)?;
            let idx = q
                .find(&item.slug, &item.branch, &item.sha)
                .ok_or_else(|| Error::failed(format!("queue item {} vanished", item.key())))?;
            f(&mut q.items[idx])?;
            let changed = q.items[idx].clone();
            q.save(&self.dir)?;
            Ok(changed)
        })
    }

    /// Bring the queue in line with readiness: enqueue READY candidates, supersede older
    /// ones, mark those already on main integrated.
    fn sync(&mut self, views: &[CandidateView], facts: &GitFacts) -> Result<()> {
        let remote_main = format!("{}/{}", self.cfg.integrator.remote, self.cfg.integrator.main);
        let mut superseded = Vec::new();
        let mut newly_integrated = Vec::new();
        let changed = store::with_state_lock(&self.dir, || {
            let mut q = Queue::load(&self.dir)?;
            let before = q.clone();
            // Positions by candidate key: a lookup per view must not scan the queue.
            let mut at = q.positions();
            fn enqueue(q: &mut Queue, at: &mut HashMap<String, usize>, v: &CandidateView, reason: &str) -> usize {
                let i = q.enqueue(&v.slug, &v.branch, &v.sha, &v.ready_at, reason);
                at.insert(crate::queue::candidate_key(&v.slug, &v.branch, &v.sha), i);
                i
            }
            for v in views {
                let key = crate::queue::candidate_key(&v.slug, &v.branch, &v.sha);
                let idx = at.get(&key).copied();
                if self.proj.dropped.contains(&key) && !matches!(v.state, State::Integrated) {
                    // Dropped by hand: never taken up again, also by a rebuilt queue. Only a
                    // READY one needs an item to say so; any other is not taken up anyway.
                    let i = match idx {
                        Some(i) => i,
                        None if v.state == State::Ready => enqueue(&mut q, &mut at, v, "rebuilt from the log"),
                        None => continue,
                    };
                    let it = &mut q.items[i];
                    if matches!(it.status, Status::Queued | Status::Blocked) {
                        it.transition(Status::Superseded, "dropped (integrator queue drop)")?;
                        superseded.push(it.clone());
                    }
                    continue;
                }
                match v.state {
                    State::Ready if idx.is_none() => {
                        enqueue(&mut q, &mut at, v, "ready");
                    }
                    // Announced already; its item, if any, is in the queue archive.
                    State::Integrated if idx.is_none() && self.proj.is_completed(&v.slug, &v.sha) => {}
                    State::Integrated => {
                        let i = idx.unwrap_or_else(|| enqueue(&mut q, &mut at, v, "ready"));
                        let it = &mut q.items[i];
                        if matches!(it.status, Status::Queued | Status::Blocked) {
                            if it.status == Status::Blocked {
                                it.transition(Status::Queued, "landed on main")?;
                            }
                            it.transition(Status::Integrated, format!("already on {remote_main}"))?;
                            newly_integrated.push(it.clone());
                        }
                    }
                    State::Superseded => {
                        if let Some(i) = idx {
                            let it = &mut q.items[i];
                            if matches!(it.status, Status::Queued | Status::Blocked) {
                                it.transition(Status::Superseded, v.reasons.join("; "))?;
                                superseded.push(it.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            let changed = q != before;
            if changed {
                q.save(&self.dir)?;
            }
            Ok(changed)
        })?;
        if changed {
            self.lifecycle("", None, Map::new())?;
        }
        for it in &superseded {
            self.outcome(it, "superseded", vec![it.status_reason.clone()], None)?;
        }
        for it in &newly_integrated {
            self.announce_completed(it, facts)?;
            self.outcome(it, "integrated", vec![it.status_reason.clone()], None)?;
        }
        // deployment.completed is recorded once for every integrated candidate, also when a
        // previous run stopped between the queue update and the event.
        let missing: Vec<&CandidateView> =
            views.iter().filter(|v| v.state == State::Integrated && !self.proj.is_completed(&v.slug, &v.sha)).collect();
        let q = if missing.is_empty() { Queue::default() } else { Queue::load(&self.dir)? };
        for v in missing {
            if let Some(i) = q.find(&v.slug, &v.branch, &v.sha) {
                let item = q.items[i].clone();
                self.announce_completed(&item, facts)?;
            }
        }
        Ok(())
    }

    /// Record `deployment.completed` for an item already on main.
    fn announce_completed(&mut self, item: &Item, facts: &GitFacts) -> Result<()> {
        // Only git can say which commit brought it in: a candidate resolved by a recorded
        // deployment.completed alone (not on main) has nothing more to announce.
        if self.proj.is_completed(&item.slug, &item.sha) || !facts.is_on_main(&item.sha) {
            return Ok(());
        }
        let Some(tip) = facts.main_tip.as_deref() else { return Ok(()) };
        let merge_commit = apply::merge_commit_for(&self.git, tip, &item.sha)?;
        self.completed_event(item, &merge_commit)
    }

    fn completed_event(&mut self, item: &Item, merge_commit: &str) -> Result<()> {
        let p = json!({"slug": item.slug, "branch": item.branch, "sha": item.sha, "merge_commit": merge_commit, "integrated_at": clock::now_string()});
        events::record_canonical(&self.dir, events::DEPLOYMENT_COMPLETED, obj(p), "integrator")?;
        self.proj.catch_up(&self.dir)?;
        Ok(())
    }

    fn mark_integrated(&mut self, item: &Item, facts: &GitFacts, reason: &str) -> Result<()> {
        let it = self.update(item, |i| i.transition(Status::Integrated, reason))?;
        self.announce_completed(&it, facts)?;
        self.lifecycle("integration.candidate.already_merged", Some(&it), Map::new())?;
        self.outcome(&it, "integrated", vec![reason.into()], None)?;
        self.done(&it, "integrated", vec![reason.into()]);
        Ok(())
    }

    fn done(&mut self, item: &Item, outcome: &str, reasons: Vec<String>) {
        self.count(outcome);
        self.processed.push(Processed {
            slug: item.slug.clone(),
            branch: item.branch.clone(),
            sha: item.sha.clone(),
            outcome: outcome.into(),
            reasons,
        });
    }

    /// Append a decision record and remember it on the queue item.
    fn outcome(&mut self, item: &Item, outcome: &str, reasons: Vec<String>, merge_tree: Option<String>) -> Result<()> {
        let mode = if self.cutover() { "cutover" } else { "shadow" };
        let rec = OutcomeRecord {
            key: item.key(),
            mode: mode.into(),
            outcome: outcome.into(),
            reasons: reasons.clone(),
            main_sha: self.main_tip.clone(),
            merge_tree,
            slug: item.slug.clone(),
            branch: item.branch.clone(),
            sha: item.sha.clone(),
            at: clock::now_string(),
            run_id: self.run_id.clone(),
        };
        let line = serde_json::to_string(&rec).map_err(|e| Error::failed(format!("cannot encode outcome: {e}")))?;
        store::append_lines(&self.dir.outcomes(), &[line])?;
        let last = LastOutcome {
            mode: mode.into(),
            outcome: outcome.into(),
            main_sha: self.main_tip.clone(),
            at: rec.at,
            reasons,
        };
        self.update(item, |i| {
            i.last_outcome = Some(last);
            Ok(())
        })?;
        Ok(())
    }

    fn out_of_budget(&self) -> bool {
        self.opts.max_items.is_some_and(|n| self.processed.len() >= n)
            || self.opts.time_budget.is_some_and(|b| self.started.elapsed() >= b)
    }

    /// Process queued READY items one at a time, re-checking readiness before each.
    /// Returns true when stopped by `--max-items` or `--time-budget`.
    fn drain(&mut self) -> Result<bool> {
        let mut evaluated = std::collections::HashSet::new();
        loop {
            self.lease.check()?;
            self.checkpoint("evaluate", None, None)?;
            let (views, facts) = self.evaluate()?;
            self.sync(&views, &facts)?;
            let ready = readiness::by_key(&views);
            let q = Queue::load(&self.dir)?;
            let next = q.fifo(Status::Queued).into_iter().map(|i| q.items[i].clone()).find(|it| {
                let is_ready = ready
                    .get(&(it.slug.clone(), it.branch.clone(), it.sha.clone()))
                    .is_some_and(|v| v.state == State::Ready);
                is_ready && !evaluated.contains(&it.key())
            });
            let Some(item) = next else { return Ok(false) };
            if self.out_of_budget() {
                return Ok(true);
            }
            evaluated.insert(item.key());
            self.checkpoint("apply", Some(&item), None)?;
            let t = Instant::now();
            if self.cutover() {
                self.integrate(item, facts)?;
            } else {
                self.shadow(item, &facts)?;
            }
            *self.timings.entry("apply_ms".into()).or_default() += t.elapsed().as_millis() as u64;
        }
    }

    /// Shadow: record what would happen, only when main or the candidate changed.
    fn shadow(&mut self, item: Item, facts: &GitFacts) -> Result<()> {
        let Some(tip) = facts.main_tip.clone() else {
            return Err(Error::failed(format!(
                "{}/{} does not exist",
                self.cfg.integrator.remote, self.cfg.integrator.main
            )));
        };
        if item.last_outcome.as_ref().is_some_and(|o| o.mode == "shadow" && o.main_sha.as_deref() == Some(tip.as_str()))
        {
            return Ok(());
        }
        let merged = apply::merge(&self.git, self.cfg.integrator.merge, &tip, &item.slug, &item.branch, &item.sha)?;
        let (outcome, reasons, tree) = match merged {
            Merge::Clean { commit, tree } => match self.verify_in_shadow(&commit)? {
                None => {
                    ("would_integrate", vec![format!("merges cleanly onto {}", crate::git::short(&tip))], Some(tree))
                }
                Some(fail) => ("would_block", vec![fail], Some(tree)),
            },
            Merge::Conflict { paths, .. } => {
                ("would_block", paths.iter().map(|p| format!("conflict in {p}")).collect(), None)
            }
            Merge::Failed { message } => ("would_block", vec![message], None),
        };
        self.outcome(&item, outcome, reasons.clone(), tree)?;
        self.done(&item, outcome, reasons);
        Ok(())
    }

    fn verify_in_shadow(&mut self, commit: &str) -> Result<Option<String>> {
        if !self.cfg.integrator.verify_in_shadow || self.cfg.integrator.verify.is_empty() {
            return Ok(None);
        }
        let wt = Worktree::prepare(&self.git, &self.dir, commit)?;
        let (code, out) = wt.run_shell(&self.cfg.integrator.verify, &self.cfg.guard.agent_env)?;
        wt.remove(&self.git);
        Ok((code != 0)
            .then(|| format!("verify `{}` failed (exit {code}): {}", self.cfg.integrator.verify, apply::tail(&out, 5))))
    }

    /// Cutover: merge, verify, bookkeeping, push — retrying on a moved main — then announce.
    fn integrate(&mut self, item: Item, mut facts: GitFacts) -> Result<()> {
        let item = self.update(&item, |i| {
            i.attempts += 1;
            i.transition(Status::InProgress, "integrating")
        })?;
        self.lifecycle("integration.candidate.dequeued", Some(&item), Map::new())?;
        let mut rejections = Vec::new();
        loop {
            self.lease.check()?;
            if facts.is_on_main(&item.sha) {
                return self.mark_integrated(
                    &item,
                    &facts,
                    &format!("already on {}/{}", self.cfg.integrator.remote, self.cfg.integrator.main),
                );
            }
            let Some(tip) = facts.main_tip.clone() else {
                return Err(Error::failed(format!(
                    "{}/{} does not exist",
                    self.cfg.integrator.remote, self.cfg.integrator.main
                )));
            };
            let commit =
                match apply::merge(&self.git, self.cfg.integrator.merge, &tip, &item.slug, &item.branch, &item.sha)? {
                    Merge::Clean { commit, .. } => commit,
                    Merge::Conflict { paths, messages } => {
                        self.lifecycle("integration.merge.conflicted", Some(&item), obj(json!({"paths": paths})))?;
                        return self.block(&item, followup::Cause::Conflict { paths, messages });
                    }
                    Merge::Failed { message } => return self.block(&item, followup::Cause::GitFailure { message }),
                };
            self.lifecycle(
                "integration.merge.succeeded",
                Some(&item),
                obj(json!({"commit": commit, "main_sha": tip})),
            )?;
            let merge_commit = commit;
            let commit = match self.verify_and_bookkeep(&item, &merge_commit)? {
                Ok(c) => c,
                Err(cause) => return self.block(&item, cause),
            };
            self.lease.check()?;
            match apply::push_main(&self.git, &self.cfg, &commit, self.lease.token())? {
                Push::Pushed => return self.delivered(&item, &merge_commit, &commit),
                Push::Rejected(why) => {
                    self.lifecycle(
                        "integration.push.rejected",
                        Some(&item),
                        obj(json!({"commit": commit, "message": why})),
                    )?;
                    rejections.push(why);
                    if rejections.len() > self.cfg.integrator.max_push_retries as usize {
                        return self.block(&item, followup::Cause::PushRejected { messages: rejections });
                    }
                    self.fetch()?;
                    // Re-check readiness before applying again (SPEC §8 step 4): the slug may
                    // have a newer candidate by now, or the branch may no longer hold the sha.
                    let (views, fresh) = self.evaluate()?;
                    facts = fresh;
                    let view =
                        views.iter().find(|v| v.slug == item.slug && v.branch == item.branch && v.sha == item.sha);
                    match view.map(|v| (v.state, v.reasons.join("; "))) {
                        Some((State::Ready | State::Integrated, _)) => {}
                        Some((State::Superseded, why)) => {
                            let it = self.update(&item, |i| i.transition(Status::Superseded, why.clone()))?;
                            self.outcome(&it, "superseded", vec![why.clone()], None)?;
                            self.done(&it, "superseded", vec![why]);
                            return Ok(());
                        }
                        Some((_, why)) => {
                            let why = format!("no longer READY after a rejected push: {why}");
                            self.update(&item, |i| i.transition(Status::Queued, why))?;
                            return Ok(());
                        }
                        None => return Err(Error::failed(format!("candidate {} vanished from the log", item.key()))),
                    }
                }
                Push::Failed(why) => {
                    return Err(Error::failed_hint(
                        format!("pushing {}/{} failed: {why}", self.cfg.integrator.remote, self.cfg.integrator.main),
                        "the candidate stays in progress; the next `integrator run` re-examines it",
                    ))
                }
            }
        }
    }

    /// Run `verify` and `bookkeeping` in the private worktree. Ok(Ok(commit to push)) or
    /// Ok(Err(cause to block with)).
    fn verify_and_bookkeep(
        &mut self,
        item: &Item,
        commit: &str,
    ) -> Result<std::result::Result<String, followup::Cause>> {
        let cfg = self.cfg.integrator.clone();
        if cfg.verify.is_empty() && cfg.bookkeeping.is_empty() {
            return Ok(Ok(commit.to_string()));
        }
        self.checkpoint("verify", Some(item), None)?;
        let wt = Worktree::prepare(&self.git, &self.dir, commit)?;
        if !cfg.verify.is_empty() {
            let (code, out) = wt.run_shell(&cfg.verify, &self.cfg.guard.agent_env)?;
            if code != 0 {
                wt.remove(&self.git);
                let tail = apply::tail(&out, 40);
                self.lifecycle(
                    "integration.verify.failed",
                    Some(item),
                    obj(json!({"command": cfg.verify, "exit": code, "output_tail": tail})),
                )?;
                return Ok(Err(followup::Cause::VerifyFailed { command: cfg.verify, code, output_tail: tail }));
            }
        }
        let mut result = commit.to_string();
        if !cfg.bookkeeping.is_empty() {
            let (code, out) = wt.run_shell(&cfg.bookkeeping, &self.cfg.guard.agent_env)?;
            if code != 0 {
                wt.remove(&self.git);
                return Ok(Err(followup::Cause::VerifyFailed {
                    command: cfg.bookkeeping,
                    code,
                    output_tail: apply::tail(&out, 40),
                }));
            }
            result = wt.commit_changes(&self.git, commit, &item.slug, &item.sha)?;
        }
        wt.remove(&self.git);
        Ok(Ok(result))
    }

    /// `commit` (the merge, or the bookkeeping commit on top of it) is on main now;
    /// `merge_commit` is what `deployment.completed` names (SPEC §5: the first commit of
    /// main's first-parent history that contains the sha).
    fn delivered(&mut self, item: &Item, merge_commit: &str, pushed: &str) -> Result<()> {
        self.main_tip = Some(pushed.to_string());
        let commit = merge_commit;
        let it = self.update(item, |i| i.transition(Status::Integrated, format!("merged as {commit}")))?;
        self.completed_event(&it, commit)?;
        self.lifecycle("integration.push.succeeded", Some(&it), obj(json!({"commit": pushed})))?;
        self.lifecycle("integration.candidate.delivered", Some(&it), obj(json!({"merge_commit": commit})))?;
        self.outcome(&it, "integrated", vec![format!("merged as {commit}")], None)?;
        self.done(&it, "integrated", vec![format!("merged as {commit}")]);
        self.cleanup(&it)
    }

    fn cleanup(&mut self, item: &Item) -> Result<()> {
        let protected = item.branch == self.cfg.integrator.main || self.cfg.guard.protected.contains(&item.branch);
        if self.cfg.integrator.delete_merged_branches && !protected {
            apply::delete_branch(&self.git, &self.cfg, &item.branch, &item.sha, self.lease.token())?;
        }
        if !self.cfg.integrator.after_push.is_empty() {
            let item_env = [
                ("TELECLAUDE_SLUG", item.slug.as_str()),
                ("TELECLAUDE_BRANCH", &item.branch),
                ("TELECLAUDE_SHA", &item.sha),
            ];
            let clean = crate::shell::Clean::AfterPush;
            let ran = crate::shell::sh(&self.cfg.integrator.after_push, self.git.dir(), clean, &item_env);
            if let Ok(ran) = ran {
                if !ran.status.success() {
                    eprintln!("integrator: warning: after_push for {} exited {:?}", item.slug, ran.status.code());
                }
            }
        }
        Ok(())
    }

    fn block(&mut self, item: &Item, cause: followup::Cause) -> Result<()> {
        let blocked_at = clock::now_string();
        let note = followup::Note::new(&self.cfg, item, self.main_tip.as_deref(), &cause, &blocked_at);
        let reason = cause.reason();
        let it = self.update(item, |i| i.transition(Status::Blocked, reason.clone()))?;
        note.write(&self.dir)?;
        let p = json!({
            "slug": it.slug, "branch": it.branch, "sha": it.sha,
            "conflict_evidence": cause.evidence(), "diagnostics": cause.diagnostics(),
            "next_action": note.next_action, "blocked_at": blocked_at, "follow_up": note.stem,
        });
        events::record_canonical(&self.dir, events::DEPLOYMENT_FAILED, obj(p), "integrator")?;
        self.lifecycle("integration.candidate.blocked", Some(&it), obj(json!({"reason": reason})))?;
        self.outcome(&it, "blocked", vec![reason.clone()], None)?;
        self.done(&it, "blocked", vec![reason]);
        Ok(())
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
