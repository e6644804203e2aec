//! What the bridge keeps in the state dir (`bridge/state.json`, schema
//! `state-schema/bridge.schema.json`): who we are on the stream, how far the outbox has
//! read the log, the last contact with Redis, counters, and the gaps found. `status`
//! reads it without touching the network.

use crate::error::Result;
use crate::store::{self, FileLock, StateDir};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How many rejected entries are kept for `status` (the newest).
const KEEP_REJECTED: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub recorded: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Entries of other events, acknowledged untouched.
    pub foreign: u64,
    /// Our own entries read back.
    pub own: u64,
    /// Entries XADDed from the outbox.
    pub published: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.recorded += o.recorded;
        self.duplicate += o.duplicate;
        self.rejected += o.rejected;
        self.foreign += o.foreign;
        self.own += o.own;
        self.published += o.published;
    }
}

/// Entries trimmed from the stream (MAXLEN) before the group read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Gap {
    /// The last id the group had read; the lost entries come after it…
    pub after: String,
    /// …and before this one, the oldest entry left (equal to `after` for one entry that
    /// was delivered to us and trimmed before we recorded it).
    pub before: String,
    /// How many.
    pub lost: u64,
    pub detected_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rejected {
    pub id: String,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub at: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BridgeState {
    /// Marks the entries this state dir wrote (`_extra.integrator_instance`).
    pub instance: String,
    /// Byte offset in `events.jsonl` up to which events were put in the outbox.
    pub outbox_offset: u64,
    /// Whether the history before the group's position was replayed into this state dir.
    pub history_replayed: bool,
    pub last_ok_at: Option<String>,
    /// The last failure to reach Redis; cleared by the next success.
    pub last_error: Option<Failure>,
    pub counts: Counts,
    pub gaps: Vec<Gap>,
    pub rejected: Vec<Rejected>,
}

pub(crate) fn dir(state: &StateDir) -> PathBuf {
    state.file("bridge")
}

pub(crate) fn outbox_dir(state: &StateDir) -> PathBuf {
    dir(state).join("outbox")
}

impl BridgeState {
    /// Read the state, creating it on first use: a new instance id, and the outbox starting
    /// at the end of the log (history is not re-announced when a bridge is switched on).
    pub(crate) fn load(state: &StateDir) -> Result<BridgeState> {
        let path = dir(state).join("state.json");
        if let Some(s) = store::read_json(&path)? {
            return Ok(s);
        }
        let outbox_offset = std::fs::metadata(state.events()).map(|m| m.len()).unwrap_or(0);
        let s = BridgeState {
            instance: crate::clock::uuid(),
            outbox_offset,
            history_replayed: false,
            last_ok_at: None,
            last_error: None,
            counts: Counts::default(),
            gaps: Vec::new(),
            rejected: Vec::new(),
        };
        s.save(state)?;
        Ok(s)
    }

    /// Read only: `None` before the bridge ever ran here.
    pub(crate) fn peek(state: &StateDir) -> Result<Option<BridgeState>> {
        store::read_json(&dir(state).join("state.json"))
    }

    pub(crate) fn save(&self, state: &StateDir) -> Result<()> {
        std::fs::create_dir_all(outbox_dir(state))
            .map_err(|e| crate::error::Error::io(format_args!("cannot create {}", dir(state).display()), e))?;
        store::write_json(&dir(state).join("state.json"), self)
    }

    pub(crate) fn reject(&mut self, id: &str, reasons: Vec<String>) {
        self.rejected.push(Rejected { id: id.to_string(), reasons });
        let over = self.rejected.len().saturating_sub(KEEP_REJECTED);
        self.rejected.drain(..over);
    }

    pub(crate) fn add_gap(&mut self, gap: Gap) {
        if !self.gaps.iter().any(|g| g.after == gap.after && g.before == gap.before) {
            self.gaps.push(gap);
        }
    }
}

/// The bridge's lock: one process at a time updates its state and drains the outbox.
pub(crate) fn lock(state: &StateDir) -> Result<FileLock> {
    state.ensure()?;
    std::fs::create_dir_all(dir(state))
        .map_err(|e| crate::error::Error::io(format_args!("cannot create {}", dir(state).display()), e))?;
    FileLock::lock(&dir(state).join("lock"))
}
