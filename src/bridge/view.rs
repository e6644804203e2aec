//! What `status` shows of the bridge (from `bridge/state.json`, no network) and what
//! `doctor` asks Redis (connection, group, lag, pending).

use super::client::Client;
use super::state::{BridgeState, Counts, Failure, Gap, Rejected};
use super::{outbox, Settings};
use crate::config::Config;
use crate::error::Result;
use crate::store::StateDir;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct BridgeView {
    pub url: String,
    pub stream: String,
    pub group: String,
    pub consumer: String,
    /// `ok` (the last pass reached Redis), `unreachable`, or `never` (no pass yet).
    pub state: &'static str,
    pub last_ok_at: Option<String>,
    pub last_error: Option<Failure>,
    /// Events waiting in the outbox.
    pub outbox: u64,
    pub counts: Counts,
    pub gaps: Vec<Gap>,
    pub rejected: Vec<Rejected>,
}

/// The bridge as of its last pass; `None` when it is off.
pub(crate) fn view(state: &StateDir, cfg: &Config) -> Result<Option<BridgeView>> {
    let Some(s) = Settings::of(cfg) else { return Ok(None) };
    let bs = BridgeState::peek(state)?;
    let (kind, bs) = match bs {
        None => ("never", None),
        Some(b) if b.last_error.is_some() => ("unreachable", Some(b)),
        Some(b) if b.last_ok_at.is_none() => ("never", Some(b)),
        Some(b) => ("ok", Some(b)),
    };
    let bs = bs.unwrap_or_default();
    Ok(Some(BridgeView {
        url: s.shown,
        stream: s.stream,
        group: s.group,
        consumer: s.consumer,
        state: kind,
        last_ok_at: bs.last_ok_at,
        last_error: bs.last_error,
        outbox: outbox::pending(state).len() as u64,
        counts: bs.counts,
        gaps: bs.gaps,
        rejected: bs.rejected,
    }))
}

/// A gap as one line: which ids were lost and how many.
pub(crate) fn gap_line(g: &Gap) -> String {
    if g.after == g.before {
        return format!("entry {} trimmed before it was recorded (detected {})", g.after, g.detected_at);
    }
    format!(
        "{} entries after {} before {} trimmed before they were read (detected {})",
        g.lost, g.after, g.before, g.detected_at
    )
}

pub(crate) fn render(v: &BridgeView) -> String {
    let head = format!("bridge: {} stream {} group {} consumer {}", v.url, v.stream, v.group, v.consumer);
    let state = match (&v.last_error, &v.last_ok_at) {
        (Some(f), _) => {
            format!("UNREACHABLE since {} — {}; runs use the local log", f.at, f.message.replace('\n', " "))
        }
        (None, Some(at)) => format!("ok (last contact {at})"),
        (None, None) => "no pass yet".into(),
    };
    let c = &v.counts;
    let mut out = format!(
        "{head}: {state}; outbox {}; recorded {} / duplicate {} / rejected {} / not ours {} / own {} / published {}\n",
        v.outbox, c.recorded, c.duplicate, c.rejected, c.foreign, c.own, c.published
    );
    for g in &v.gaps {
        out.push_str(&format!("  GAP: {}\n", gap_line(g)));
    }
    for r in &v.rejected {
        out.push_str(&format!("  rejected {}: {}\n", r.id, r.reasons.join("; ")));
    }
    out
}

/// What `doctor` learns by asking Redis.
pub(crate) struct Probe {
    pub settings: Settings,
    /// `Err(message)` when Redis cannot be reached.
    pub reached: std::result::Result<(), String>,
    pub group: bool,
    pub lag: Option<u64>,
    pub pending: Option<u64>,
    pub outbox: u64,
    pub gaps: Vec<Gap>,
}

/// Ask Redis about the stream and our group; `None` when the bridge is off.
pub(crate) fn probe(state: &StateDir, cfg: &Config) -> Option<Probe> {
    let settings = Settings::of(cfg)?;
    let gaps = BridgeState::peek(state).ok().flatten().map(|b| b.gaps).unwrap_or_default();
    let outbox = outbox::pending(state).len() as u64;
    let mut p = Probe { settings, reached: Ok(()), group: false, lag: None, pending: None, outbox, gaps };
    match Client::connect(&p.settings).and_then(|mut c| c.info()) {
        Ok((info, group)) => {
            p.group = group;
            p.lag = info.lag;
            p.pending = info.pending;
        }
        Err(e) => p.reached = Err(e.sentence()),
    }
    Some(p)
}
