//! What this clone keeps of the fleet, under `<state>/fleet/`: its writer id (created
//! once), the sync cursor, the keys of events taken from other writers (written before
//! they are appended, so a publish never mistakes them for this clone's own), and the
//! mode the fleet's lease last published (what the guards read).

use crate::config::Mode;
use crate::error::{Error, Result};
use crate::mode::Resolved;
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

/// The sync cursor (`fleet/cursor.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// Everything of this clone's log before this offset is published (or foreign).
    pub log_offset: u64,
    /// The last batch this clone pushed to its own writer ref.
    #[serde(default)]
    pub own_tip: Option<String>,
    /// The last batch of this clone's ref when the remote lost it: the next batch begins a
    /// new chain that publishes everything again and names this one (`restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Per other writer: the last batch ingested.
    #[serde(default)]
    pub writers: BTreeMap<String, Ingested>,
    /// Writer refs found rewritten: kept aside under `refs/teleclaude/fleet/rewritten/`.
    #[serde(default)]
    pub refused: BTreeMap<String, Refused>,
    /// When the last sync finished.
    #[serde(default)]
    pub synced_at: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Ingested {
    pub tip: String,
    /// The `at` of the writer's last event ingested.
    #[serde(default)]
    pub last_event_at: Option<String>,
    pub events: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Refused {
    pub expected: String,
    pub found: String,
    pub at: String,
    /// Why, when the ref was not rewritten but holds a batch that cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Refused {
    /// What happened to the writer ref `name`, for a warning or `doctor`.
    pub(crate) fn what(name: &str, reason: Option<&str>) -> String {
        match reason {
            None => format!("writer ref {name} was rewritten (not a fast-forward)"),
            Some(r) => format!("writer ref {name} holds a batch that cannot be read ({r})"),
        }
    }
}

/// The mode the fleet's lease last published (`fleet/mode.json`), with the holder and the
/// lease commit that first carried it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SyncedMode {
    pub mode: Resolved,
    pub holder: String,
    pub lease_commit: String,
}

/// What the last lease push learnt of the remote (`fleet/remote.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RemoteFacts {
    /// The remote took an `--atomic` push.
    pub atomic: bool,
    pub checked_at: String,
}

/// The fleet's files of one state dir.
#[derive(Clone, Debug)]
pub(crate) struct FleetDir {
    root: PathBuf,
}

impl FleetDir {
    pub(crate) fn of(dir: &StateDir) -> FleetDir {
        FleetDir { root: dir.file("fleet") }
    }
    fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    pub(crate) fn ensure(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| Error::io(format_args!("cannot create {}", self.root.display()), e))
    }
    /// The empty tree and the fleet root of this clone, once written (see [`super::roots`]).
    pub(crate) fn roots_file(&self) -> PathBuf {
        self.file("roots")
    }
    pub(crate) fn sync_lock(&self) -> PathBuf {
        self.file("sync.lock")
    }
    /// Held by the one background sync of this clone (see [`super::trigger`]).
    pub(crate) fn background_lock(&self) -> PathBuf {
        self.file("background.lock")
    }
    pub(crate) fn log(&self) -> PathBuf {
        self.file("sync.log")
    }

    /// This clone's writer id, created once.
    pub(crate) fn writer_id(&self) -> Result<String> {
        let path = self.file("writer-id");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let id = text.trim();
            if super::wire::is_writer_id(id) {
                return Ok(id.to_string());
            }
        }
        self.ensure()?;
        let id = format!("w-{}", crate::clock::random_hex(8));
        store::write_atomic(&path, format!("{id}\n").as_bytes())?;
        Ok(id)
    }

    pub(crate) fn cursor(&self) -> Result<Cursor> {
        Ok(store::read_json(&self.file("cursor.json"))?.unwrap_or_default())
    }
    pub(crate) fn save_cursor(&self, c: &Cursor) -> Result<()> {
        store::write_json(&self.file("cursor.json"), c)
    }

    /// Record `keys` as taken from other writers, durably, before their events are appended.
    pub(crate) fn add_foreign_keys(&self, keys: &[&str]) -> Result<()> {
        let path = self.file("foreign.keys");
        let mut buf = String::with_capacity(keys.iter().map(|k| k.len() + 1).sum());
        for k in keys {
            buf.push_str(k);
            buf.push('\n');
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(buf.as_bytes())?;
            f.sync_data()
        };
        write().map_err(|e| Error::io(format_args!("cannot append to {}", path.display()), e))
    }

    pub(crate) fn foreign_keys(&self) -> HashSet<String> {
        let text = std::fs::read_to_string(self.file("foreign.keys")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    /// What a run learnt of the remote, for `doctor` only: a cache (no fsync on a run's
    /// path), which, lost or damaged, reads as not checked yet until the next run.
    pub(crate) fn save_atomic(&self, atomic: bool) -> Result<()> {
        let facts = RemoteFacts { atomic, checked_at: crate::clock::now_string() };
        store::write_json_cache(&self.file("remote.json"), &facts)
    }
    pub(crate) fn remote_facts(&self) -> Option<RemoteFacts> {
        store::read_json(&self.file("remote.json")).ok().flatten()
    }

    pub(crate) fn synced_mode(&self) -> Option<SyncedMode> {
        store::read_json(&self.file("mode.json")).ok().flatten()
    }
    pub(crate) fn save_synced_mode(&self, m: &SyncedMode) -> Result<()> {
        store::write_json(&self.file("mode.json"), m)
    }
}

/// The mode the fleet published, as this clone last synced it (None: never synced one).
pub(crate) fn synced_effective_mode(dir: &StateDir) -> Option<Mode> {
    FleetDir::of(dir).synced_mode().map(|m| m.mode.effective)
}
