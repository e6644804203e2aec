//! Parity (SPEC §9): how often shadow decisions matched what actually happened to the
//! candidate, the evidence that gates cutover.
//!
//! A candidate counts once it is resolved — landed on main (queue `integrated`) or
//! `superseded` — and had at least one shadow decision; its last shadow decision is
//! compared: would_integrate + landed = agree, would_block + superseded = agree,
//! would_block + landed = disagree, would_integrate + superseded = disagree.

use crate::error::{Error, Result};
use crate::events::{self, lifecycle, NewEvent};
use crate::projection::Projection;
use crate::queue::{Queue, Status};
use crate::repo::Repo;
use crate::run::OutcomeRecord;
use crate::store;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Sample {
    pub key: String,
    pub decision: String,
    pub resolution: String,
    pub agree: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct ParityReport {
    pub samples: u64,
    pub agree: u64,
    pub disagree: u64,
    pub ratio: Option<f64>,
    pub threshold: f64,
    pub min_samples: u64,
    pub sufficient: bool,
    /// Parity evidence is accepted: recorded (`integration.parity.accepted`) or declared by
    /// `cutover.parity_evidence` / `TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE`.
    pub accepted: bool,
    pub details: Vec<Sample>,
}

pub(crate) fn compute(repo: &Repo, proj: &Projection) -> Result<ParityReport> {
    let cfg = repo.config()?;
    let (records, _) = store::read_jsonl::<OutcomeRecord>(&repo.state.outcomes())?;
    let mut last: HashMap<String, String> = HashMap::new();
    for r in records.into_iter().filter(|r| r.mode == "shadow") {
        if matches!(r.outcome.as_str(), "would_integrate" | "would_block") {
            last.insert(r.key, r.outcome.as_str().to_string());
        }
    }
    let q = Queue::load_all(&repo.state)?;
    let mut details = Vec::new();
    for item in &q.items {
        let resolution = match item.status {
            Status::Integrated => "landed",
            Status::Superseded => "superseded",
            _ => continue,
        };
        let Some(decision) = last.get(&item.key()) else { continue };
        let agree = (decision == "would_integrate") == (resolution == "landed");
        details.push(Sample { key: item.key(), decision: decision.clone(), resolution: resolution.into(), agree });
    }
    let samples = details.len() as u64;
    let agree = details.iter().filter(|s| s.agree).count() as u64;
    let ratio = (samples > 0).then(|| agree as f64 / samples as f64);
    let threshold = cfg.cutover.parity_threshold;
    let min_samples = cfg.cutover.parity_min_samples;
    let sufficient = samples >= min_samples && ratio.is_some_and(|r| r >= threshold);
    Ok(ParityReport {
        samples,
        agree,
        disagree: samples - agree,
        ratio,
        threshold,
        min_samples,
        sufficient,
        accepted: proj.parity_accepted || cfg.cutover.parity_evidence == crate::config::ParityEvidence::Accepted,
        details,
    })
}

/// `parity --accept`: record `integration.parity.accepted` only when parity is sufficient.
pub(crate) fn accept(repo: &Repo, report: &ParityReport) -> Result<()> {
    if !report.sufficient {
        return Err(Error::failed_hint(
            format!(
                "parity is not sufficient: {} of {} samples agree (ratio {}), need ratio ≥ {} with at least {} samples",
                report.agree,
                report.samples,
                report.ratio.map(|r| format!("{r:.3}")).unwrap_or_else(|| "n/a".into()),
                report.threshold,
                report.min_samples
            ),
            "keep running in shadow mode until more candidates are resolved",
        ));
    }
    let mut p = serde_json::Map::new();
    p.insert("samples".into(), report.samples.into());
    p.insert("agree".into(), report.agree.into());
    p.insert("ratio".into(), report.ratio.into());
    p.insert("threshold".into(), report.threshold.into());
    let key = format!("{}:{}:{}", lifecycle::PARITY_ACCEPTED, report.samples, report.agree);
    events::record(&repo.state, vec![NewEvent::lifecycle(lifecycle::PARITY_ACCEPTED, key, p)])?;
    Ok(())
}

/// `N of M samples agree (ratio R; needs ≥ T with at least S samples: sufficient)`.
pub(crate) fn summary(r: &ParityReport) -> String {
    let ratio = r.ratio.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into());
    format!(
        "{} of {} samples agree (ratio {ratio}; needs ≥ {} with at least {} samples: {})",
        r.agree,
        r.samples,
        r.threshold,
        r.min_samples,
        if r.sufficient { "sufficient" } else { "not yet sufficient" }
    )
}

pub(crate) fn render(r: &ParityReport) -> String {
    let ratio = r.ratio.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into());
    let mut out = format!(
        "parity: {} samples, {} agree, {} disagree, ratio {ratio} (threshold {}, min samples {})\n",
        r.samples, r.agree, r.disagree, r.threshold, r.min_samples
    );
    out.push_str(&format!(
        "sufficient: {}\naccepted: {}\n",
        if r.sufficient { "yes" } else { "no" },
        if r.accepted { "yes" } else { "no" }
    ));
    for s in r.details.iter().filter(|s| !s.agree) {
        out.push_str(&format!("  disagree: {} — shadow said {}, it was {}\n", s.key, s.decision, s.resolution));
    }
    out
}
