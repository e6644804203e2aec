//! The projection: a fold of the event log into what readiness, notifications and parity
//! need. Incremental: a snapshot (`projection.json`) stores the fold with the log offset
//! it covers, so a reader only parses the lines appended since ([`fold`]). Resolved
//! history is kept apart in the archive ([`crate::store::archive`]) so the snapshot stays
//! the size of the open work, whatever the length of the log ([`history`]).

mod fold;
mod history;
#[cfg(test)]
mod tests;

use crate::candidate::Started;
use crate::error::Result;
use crate::notification::Notification;
use crate::store::archive::{self, Archive, Stamp};
use crate::store::{self, LogHealth, StateDir};
use fold::Line;
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Bumped whenever the snapshot's shape or meaning changes; an old snapshot is rebuilt.
const SNAPSHOT_VERSION: u32 = 2;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Projection {
    pub version: u32,
    /// Bytes of `events.jsonl` folded in.
    pub offset: u64,
    pub health: LogHealth,
    /// slug → highest approved review round.
    pub approvals: BTreeMap<String, u64>,
    /// (remote, branch, sha) seen in `branch.pushed`.
    pub pushes: BTreeSet<(String, String, String)>,
    /// Every `deployment.started`, in log order.
    pub started: Vec<Started>,
    /// (slug, sha) → merge commit, from `deployment.completed`.
    pub completed: BTreeMap<String, String>,
    pub notifications: BTreeMap<String, Notification>,
    pub parity_accepted: bool,
    /// How many events that can make a candidate READY were folded in (review.approved,
    /// branch.pushed, deployment.started): a run re-evaluates when this moves.
    pub readiness_events: u64,
    /// Candidates (`slug:branch:sha`) dropped with `integrator queue drop`: kept in the log
    /// so a queue rebuilt from the log and git never takes them up again.
    #[serde(default)]
    pub dropped: BTreeSet<String>,
    /// The archive of resolved history this snapshot relies on.
    #[serde(default)]
    pub archive: Option<Stamp>,
    /// That archive, open (only while it is the one on disk or was at load).
    #[serde(skip)]
    store: Option<Arc<Archive>>,
    /// Slugs whose whole history is in memory (none of it left in the archive); built on
    /// first use.
    #[serde(skip)]
    known: Option<HashSet<String>>,
    /// Push keys already looked up in the archive by this process.
    #[serde(skip)]
    looked_up: HashSet<String>,
    /// Slugs taken back from a record newer than the fold (a snapshot written by a slower
    /// process): the log offset that record covers, below which the slug's own events are
    /// already in it and must not be folded again.
    #[serde(skip)]
    covered: HashMap<String, u64>,
}

/// What a writer checks of the snapshot on disk before replacing it.
#[derive(Deserialize)]
struct SnapshotHead {
    version: u32,
    offset: u64,
    #[serde(default)]
    archive: Option<Stamp>,
}

fn completed_key(slug: &str, sha: &str) -> String {
    format!("{slug}:{sha}")
}

/// The slug a completion or drop key (`slug:…`) belongs to; slugs hold no `:`.
fn key_slug(key: &str) -> &str {
    key.split(':').next().unwrap_or_default()
}

impl Projection {
    pub(crate) fn is_completed(&self, slug: &str, sha: &str) -> bool {
        self.completed.contains_key(&completed_key(slug, sha))
    }

    /// The `merge_commit` a `deployment.completed` recorded for the candidate.
    pub(crate) fn completed_merge(&self, slug: &str, sha: &str) -> Option<&str> {
        self.completed.get(&completed_key(slug, sha)).map(String::as_str)
    }

    /// Fold the log lines after `self.offset`.
    pub(crate) fn catch_up(&mut self, dir: &StateDir) -> Result<bool> {
        let before = self.offset;
        let mut health = self.health;
        let mut failed = None;
        let end = store::scan_lines(&dir.events(), self.offset, &mut health, |off, line| {
            if failed.is_some() {
                // The caller gets the error and drops this projection: fold no further.
                return true;
            }
            match serde_json::from_slice::<Line>(line) {
                Ok(e) => {
                    if let Err(err) = self.take_back_for(dir, &e) {
                        failed = Some(err);
                        return true;
                    }
                    let folded = e.payload.slug.as_deref().and_then(|s| self.covered.get(s)).is_some_and(|c| off < *c);
                    self.apply(&e, !folded)
                }
                Err(_) => false,
            }
        })?;
        if let Some(err) = failed {
            return Err(err);
        }
        self.offset = end;
        self.health = health;
        Ok(end != before)
    }

    /// Every slug the in-memory fold knows anything about (an archived slug is not one).
    pub(crate) fn slugs_in_memory(&self) -> HashSet<String> {
        self.approvals
            .keys()
            .chain(self.notifications.keys())
            .map(String::as_str)
            .chain(self.started.iter().map(|s| s.slug.as_str()))
            .chain(self.completed.keys().chain(&self.dropped).map(|k| key_slug(k)))
            .map(str::to_string)
            .collect()
    }

    /// Load the snapshot (or start empty when it is missing, damaged, from another
    /// version, or covers more than the log holds) and fold the rest of the log.
    pub(crate) fn load(dir: &StateDir) -> Result<Projection> {
        Ok(Projection::load_tracked(dir)?.0)
    }

    /// [`load`](Self::load), also returning the log offset the snapshot covered (0 when
    /// there was none), so a caller can tell whether saving it again is worth anything.
    pub(crate) fn load_tracked(dir: &StateDir) -> Result<(Projection, u64)> {
        let log_len = std::fs::metadata(dir.events()).map(|m| m.len()).unwrap_or(0);
        let mut p = store::read_json::<Projection>(&dir.projection())
            .ok()
            .flatten()
            .filter(|p| p.version == SNAPSHOT_VERSION && p.offset <= log_len)
            .and_then(|mut p| {
                // A snapshot whose archive is gone, replaced or cut short is replayed.
                if let Some(stamp) = &p.archive {
                    p.store = Some(Arc::new(Archive::open(dir, stamp)?));
                }
                Some(p)
            })
            .unwrap_or_default();
        if p.offset == 0 {
            p = Projection { version: SNAPSHOT_VERSION, ..Projection::default() };
        }
        let covered = p.offset;
        p.catch_up(dir)?;
        Ok((p, covered))
    }

    /// Write the snapshot so the next reader starts from here, first moving resolved
    /// history to the archive (so afterwards `self` holds only the open work; what it
    /// moved is taken back on demand, see [`take_back_slug`](Self::take_back_slug)).
    pub(crate) fn save(&mut self, dir: &StateDir) -> Result<()> {
        let records = self.split();
        let written = archive::with_lock(dir, || {
            if records.is_empty() {
                // Another process rebuilt the archive: this fold is not worth caching.
                if self.archive.as_ref().is_some_and(|st| !archive::matches(dir, st)) {
                    return Ok(false);
                }
            } else {
                match archive::write(dir, self.archive.as_ref(), &records)? {
                    Some(stamp) => {
                        if self.archive.as_ref().is_none_or(|s| s.id != stamp.id) {
                            self.store = Archive::open(dir, &stamp).map(Arc::new);
                        }
                        self.archive = Some(stamp);
                    }
                    None => return Ok(false),
                }
            }
            // A faster process saved a later fold of the same archive: keep that one.
            let on_disk = store::read_json::<SnapshotHead>(&dir.projection()).ok().flatten();
            if on_disk.is_some_and(|h| {
                h.version == SNAPSHOT_VERSION
                    && h.offset > self.offset
                    && h.archive.as_ref().map(|a| &a.id) == self.archive.as_ref().map(|a| &a.id)
            }) {
                return Ok(false);
            }
            let bytes = serde_json::to_vec(&*self)
                .map_err(|e| crate::error::Error::failed(format!("cannot encode the projection: {e}")))?;
            store::write_cache(&dir.projection(), &bytes)?;
            Ok(true)
        });
        // Not written (a stale fold, or an error): the records stay in memory.
        if !matches!(written, Ok(true)) {
            self.unsplit(records);
        }
        written.map(|_| ())
    }

    /// Per slug, the winning candidate and the others it supersedes.
    pub(crate) fn winners(&self) -> BTreeMap<&str, &Started> {
        // Each candidate's order key computed once: it parses a timestamp.
        let mut w: BTreeMap<&str, ((i128, &str, &str), &Started)> = BTreeMap::new();
        for st in &self.started {
            let key = st.order_key();
            match w.entry(st.slug.as_str()) {
                Entry::Vacant(v) => {
                    v.insert((key, st));
                }
                Entry::Occupied(mut o) if key > o.get().0 => {
                    o.insert((key, st));
                }
                Entry::Occupied(_) => {}
            }
        }
        w.into_iter().map(|(slug, (_, st))| (slug, st)).collect()
    }

    /// Distinct candidates `(slug, branch, sha)` in log order.
    pub(crate) fn candidates(&self) -> Vec<&Started> {
        let mut seen = BTreeSet::new();
        self.started.iter().filter(|s| seen.insert((&s.slug, &s.branch, &s.sha))).collect()
    }
}
