//! What a run leaves behind for readers: `checkpoint.json` (the last run's phase, counters
//! and timings), `outcomes.jsonl` (one decision per candidate evaluation), the
//! `integration.*` lifecycle events and the run's own account (`run --json`). `status`
//! and `parity` read these types; only the run writes them.

use crate::candidate::named;
use crate::clock;
use crate::error::{Error, Result};
use crate::events::{self, lifecycle, NewEvent};
use crate::mode::Resolved;
use crate::queue;
pub(crate) use crate::queue::Outcome;
use crate::queue::{Item, LastOutcome};
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

/// Where a run is (`checkpoint.json`'s `phase`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    Fetch,
    Evaluate,
    Apply,
    Verify,
    Grace,
    Done,
    Failed,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.pad(&s)
    }
}

/// One candidate handled by a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Processed {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub outcome: Outcome,
    pub reasons: Vec<String>,
}

named!(Processed);

impl Processed {
    /// One line of a run's account: outcome, slug, branch@sha, reasons.
    pub(crate) fn render(&self) -> String {
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

/// What `run --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunReport {
    pub mode: Resolved,
    pub run_id: Option<String>,
    pub processed: Vec<Processed>,
    pub counts: BTreeMap<String, u64>,
}

/// `outcomes.jsonl`: one decision per candidate evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct OutcomeRecord {
    pub key: String,
    pub mode: String,
    pub outcome: Outcome,
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
pub(crate) struct Checkpoint {
    pub run_id: String,
    pub mode: Resolved,
    pub phase: Phase,
    pub candidate: Option<String>,
    pub counters: BTreeMap<String, u64>,
    pub timings: BTreeMap<String, u64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub main_sha: Option<String>,
    pub error: Option<String>,
}

/// A JSON object from a `json!` literal (anything else is an empty object).
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The run's record keeper: its id, counters, timings and account, and every file and
/// event through which readers learn what it did.
pub(super) struct Journal {
    dir: StateDir,
    pub(super) run_id: String,
    mode: Resolved,
    pub(super) started: Instant,
    started_at: String,
    /// Whether `integration.started` was recorded (a run that changes nothing records none).
    pub(super) announced: bool,
    pub(super) processed: Vec<Processed>,
    counters: BTreeMap<String, u64>,
    timings: BTreeMap<String, u64>,
    /// `<remote>/<main>` as the run last saw it (or pushed it).
    pub(super) main_tip: Option<String>,
    /// The dead holder this run took the lease over from, for its `integration.started`.
    took_over_from: Option<Value>,
}

impl Journal {
    pub(super) fn new(dir: StateDir, mode: Resolved) -> Journal {
        Journal {
            dir,
            run_id: clock::uuid(),
            mode,
            started: Instant::now(),
            started_at: clock::now_string(),
            announced: false,
            processed: Vec::new(),
            counters: BTreeMap::new(),
            timings: BTreeMap::new(),
            main_tip: None,
            took_over_from: None,
        }
    }

    fn cutover(&self) -> bool {
        self.mode.effective == crate::config::Mode::Cutover
    }

    /// This run took the lease over from `dead`, which was killed without releasing it:
    /// end the dead run's lifecycle (`integration.completed`, `ok: false`, `taken_over_by`)
    /// and announce this run with `took_over_from`, so the log tells the takeover too.
    pub(super) fn close_dead_run(&mut self, dead: &crate::lease::StaleHolder) -> Result<()> {
        let last = store::read_json::<Checkpoint>(&self.dir.checkpoint()).ok().flatten();
        let dead_run = last.filter(|c| c.finished_at.is_none() && c.run_id != self.run_id);
        let holder = format!("{} pid {} on {}", dead.owner, dead.pid, dead.host);
        let dead_id = dead_run.as_ref().map(|c| c.run_id.clone());
        if let Some(cp) = dead_run {
            let processed: u64 = cp.counters.values().sum();
            let p = json!({"run_id": cp.run_id, "processed": processed, "ok": false,
                "phase": cp.phase, "taken_over_by": self.run_id, "holder": holder});
            let key = format!("{}:{}:taken-over", lifecycle::COMPLETED, cp.run_id);
            events::record(&self.dir, vec![NewEvent::lifecycle(lifecycle::COMPLETED, key, obj(p))])?;
        }
        self.took_over_from = Some(json!({"run_id": dead_id, "holder": holder}));
        self.lifecycle("", None, Map::new())
    }

    pub(super) fn report(&self) -> RunReport {
        RunReport {
            mode: self.mode.clone(),
            run_id: Some(self.run_id.clone()),
            processed: self.processed.clone(),
            counts: self.counters.clone(),
        }
    }

    pub(super) fn add_time(&mut self, what: &str, since: std::time::Instant) {
        self.add_ms(what, since.elapsed());
    }

    pub(super) fn add_ms(&mut self, what: &str, took: std::time::Duration) {
        *self.timings.entry(what.into()).or_default() += took.as_millis() as u64;
    }

    pub(super) fn checkpoint(&self, phase: Phase, candidate: Option<&Item>, error: Option<&Error>) -> Result<()> {
        let mut timings = self.timings.clone();
        timings.insert("total_ms".into(), self.started.elapsed().as_millis() as u64);
        let cp = Checkpoint {
            run_id: self.run_id.clone(),
            mode: self.mode.clone(),
            phase,
            candidate: candidate.map(Item::key),
            counters: self.counters.clone(),
            timings,
            started_at: self.started_at.clone(),
            finished_at: matches!(phase, Phase::Done | Phase::Failed).then(clock::now_string),
            main_sha: self.main_tip.clone(),
            error: error.map(Error::sentence),
        };
        store::write_json(&self.dir.checkpoint(), &cp)
    }

    /// Record a lifecycle event about `item` (unique per run; the run's first event also
    /// announces the run with `integration.started`). An empty `kind` only announces.
    pub(super) fn lifecycle(&mut self, kind: &str, item: Option<&Item>, mut payload: Map<String, Value>) -> Result<()> {
        let mut evs = Vec::new();
        if !self.announced {
            self.announced = true;
            let mut p =
                json!({"run_id": self.run_id, "mode": self.mode.effective.as_str(), "reason": self.mode.reason});
            if let Some(from) = &self.took_over_from {
                p["took_over_from"] = from.clone();
            }
            evs.push(NewEvent::lifecycle(
                lifecycle::STARTED,
                format!("{}:{}", lifecycle::STARTED, self.run_id),
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

    /// Count `item`'s outcome and add it to the run's account.
    pub(super) fn done(&mut self, item: &Item, outcome: Outcome, reasons: Vec<String>) {
        *self.counters.entry(outcome.as_str().to_string()).or_default() += 1;
        self.processed.push(Processed {
            slug: item.slug.clone(),
            branch: item.branch.clone(),
            sha: item.sha.clone(),
            outcome,
            reasons,
        });
    }

    /// Append a decision record, remember it on the queue item, and account for it.
    pub(super) fn outcome(&mut self, item: &Item, outcome: Outcome, reasons: Vec<String>) -> Result<()> {
        self.record_outcome(item, outcome, reasons.clone(), None)?;
        self.done(item, outcome, reasons);
        Ok(())
    }

    /// Append a decision record and remember it on the queue item.
    pub(super) fn record_outcome(
        &mut self,
        item: &Item,
        outcome: Outcome,
        reasons: Vec<String>,
        merge_tree: Option<String>,
    ) -> Result<()> {
        let mode = if self.cutover() { "cutover" } else { "shadow" };
        let rec = OutcomeRecord {
            key: item.key(),
            mode: mode.into(),
            outcome,
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
        let last = LastOutcome { mode: mode.into(), outcome, main_sha: rec.main_sha, at: rec.at, reasons };
        queue::update(&self.dir, item, |i| {
            i.last_outcome = Some(last);
            Ok(())
        })?;
        Ok(())
    }
}
