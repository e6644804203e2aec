//! The projection: a fold of the event log into what readiness, notifications and parity
//! need. Incremental: a snapshot (`projection.json`) stores the fold with the log offset
//! it covers, so a reader only parses the lines appended since. Resolved history is kept
//! apart in the archive ([`crate::store::archive`]) so the snapshot stays the size of the open
//! work, whatever the length of the log.

use crate::clock;
use crate::error::Result;
use crate::events;
use crate::store::archive::{self, Archive, Record, SlugRecord, Stamp};
use crate::store::{self, LogHealth, StateDir};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Bumped whenever the snapshot's shape or meaning changes; an old snapshot is rebuilt.
const SNAPSHOT_VERSION: u32 = 2;

/// A `deployment.started`: this branch at this sha is declared ready to merge.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Started {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub ready_at: String,
}

impl Started {
    /// The supersession order of SPEC §5: `(ready_at, branch, sha)` with real timestamps.
    pub fn order_key(&self) -> (i128, &str, &str) {
        (timestamp_nanos(&self.ready_at), &self.branch, &self.sha)
    }
}

pub fn timestamp_nanos(s: &str) -> i128 {
    clock::parse(s).map(|t| t.unix_timestamp_nanos()).unwrap_or(i128::MIN)
}

/// Notification lifecycle per slug (SPEC §9).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notification {
    pub slug: String,
    pub state: String,
    pub seen: bool,
    pub updated_at: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Projection {
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

/// The part of an envelope the fold reads, borrowed from the line: replay parses a
/// million lines, and a full `Envelope` allocates a map and a string per payload field.
/// The other envelope fields must be present (a line without them is skipped) but are
/// not kept.
#[derive(Deserialize)]
#[allow(dead_code)] // `v`, `id`, `source`, `key`, `level`: required, never read.
struct Line<'a> {
    v: IgnoredAny,
    id: IgnoredAny,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    source: IgnoredAny,
    key: IgnoredAny,
    level: IgnoredAny,
    #[serde(borrow)]
    payload: Payload<'a>,
}

/// The payload fields the fold reads; the others are skipped unparsed.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    slug: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    branch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sha: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    remote: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ready_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    merge_commit: Option<Cow<'a, str>>,
    #[serde(default)]
    review_round: Option<serde_json::Value>,
}

/// The event `integrator queue drop` records.
pub const DROPPED: &str = "integration.candidate.dropped";

fn completed_key(slug: &str, sha: &str) -> String {
    format!("{slug}:{sha}")
}

/// The slug a completion or drop key (`slug:…`) belongs to; slugs hold no `:`.
fn key_slug(key: &str) -> &str {
    key.split(':').next().unwrap_or_default()
}

/// Is a candidate's identity safe to hand to git? The recorder validates every event, but
/// the log is a plain file: a hand-written line must never put an option (`--…`) or a
/// revision expression where the run expects a branch name or a full object name.
fn sane_candidate(p: &Payload<'_>, with_slug: bool) -> bool {
    let s = |v: &Option<Cow<'_, str>>| v.as_deref().unwrap_or_default().to_string();
    let branch = s(&p.branch);
    (!with_slug || events::check_slug(&s(&p.slug)).is_ok())
        && events::check_branch(&branch).is_ok_and(|b| b == branch)
        && crate::git::is_full_sha(&s(&p.sha))
}

impl Projection {
    /// Fold one event; false when it is not fit to fold (counted as skipped). Without
    /// `slug_state` only what is not kept per slug is folded (counters, parity): the slug's
    /// state already includes the event (see `covered`).
    fn apply(&mut self, e: &Line<'_>, slug_state: bool) -> bool {
        let p = &e.payload;
        match e.kind.as_ref() {
            events::DEPLOYMENT_STARTED if !sane_candidate(p, true) => return false,
            events::BRANCH_PUSHED if !sane_candidate(p, false) => return false,
            _ => {}
        }
        let get = |v: &Option<Cow<'_, str>>| v.as_deref().unwrap_or_default().to_string();
        let s = |k: &str| match k {
            "slug" => get(&p.slug),
            "branch" => get(&p.branch),
            "sha" => get(&p.sha),
            "remote" => get(&p.remote),
            "ready_at" => get(&p.ready_at),
            "merge_commit" => get(&p.merge_commit),
            _ => String::new(),
        };
        let mut notify = |slug: String, state: &str, seen: bool| {
            let n = self.notifications.entry(slug.clone()).or_insert_with(|| Notification {
                slug,
                state: String::new(),
                seen: false,
                updated_at: String::new(),
            });
            n.state = state.to_string();
            n.seen = seen;
            n.updated_at = e.at.to_string();
        };
        if matches!(e.kind.as_ref(), events::REVIEW_APPROVED | events::BRANCH_PUSHED | events::DEPLOYMENT_STARTED) {
            self.readiness_events += 1;
        }
        if !slug_state {
            return true;
        }
        match e.kind.as_ref() {
            events::REVIEW_APPROVED => {
                let round = p.review_round.as_ref().and_then(|v| v.as_u64()).unwrap_or(1);
                let slug = s("slug");
                let r = self.approvals.entry(slug.clone()).or_insert(0);
                *r = (*r).max(round);
                notify(slug, "approved", false);
            }
            events::BRANCH_PUSHED => {
                self.pushes.insert((s("remote"), s("branch"), s("sha")));
            }
            events::DEPLOYMENT_STARTED => {
                let st = Started { slug: s("slug"), branch: s("branch"), sha: s("sha"), ready_at: s("ready_at") };
                notify(st.slug.clone(), "in_progress", false);
                self.started.push(st);
            }
            events::DEPLOYMENT_COMPLETED => {
                self.completed.insert(completed_key(&s("slug"), &s("sha")), s("merge_commit"));
                notify(s("slug"), "resolved", false);
            }
            events::DEPLOYMENT_FAILED => notify(s("slug"), "failed", false),
            "integration.notification.seen" => {
                if let Some(n) = self.notifications.get_mut(&s("slug")) {
                    n.seen = true;
                }
            }
            "integration.parity.accepted" => self.parity_accepted = true,
            DROPPED => {
                self.dropped.insert(crate::queue::candidate_key(&s("slug"), &s("branch"), &s("sha")));
            }
            _ => {}
        }
        true
    }

    pub fn is_completed(&self, slug: &str, sha: &str) -> bool {
        self.completed.contains_key(&completed_key(slug, sha))
    }

    /// Fold the log lines after `self.offset`.
    pub fn catch_up(&mut self, dir: &StateDir) -> Result<bool> {
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

    /// Before folding `e`: take back from the archive what it needs — the history of the
    /// slug it names, and the push of the candidate a `deployment.started` declares.
    fn take_back_for(&mut self, dir: &StateDir, e: &Line<'_>) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        let p = &e.payload;
        if let Some(slug) = p.slug.as_deref() {
            self.take_back_slug(dir, slug)?;
        }
        if e.kind == events::DEPLOYMENT_STARTED {
            if let (Some(branch), Some(sha)) = (p.branch.as_deref(), p.sha.as_deref()) {
                self.take_back_push(dir, &store, branch, sha)?;
            }
        }
        Ok(())
    }

    /// Make sure the pushes of `branch@sha` are in memory: every candidate in memory has
    /// its pushes there too. Looked up once per process even when a push of it is in
    /// memory: the archive may hold the same push to another remote.
    fn take_back_push(&mut self, dir: &StateDir, store: &Archive, branch: &str, sha: &str) -> Result<()> {
        let key = archive::push_key(branch, sha);
        if self.looked_up.insert(key.clone()) {
            for r in store.lookup(dir, &key)? {
                if let Some(push) = r.push {
                    self.pushes.insert(push);
                }
            }
        }
        Ok(())
    }

    /// Make sure the whole history of `slug` is in memory (a no-op without an archive).
    pub fn take_back_slug(&mut self, dir: &StateDir, slug: &str) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        if self.known.is_none() {
            self.known = Some(self.slugs_in_memory());
        }
        if self.known.as_ref().is_some_and(|k| k.contains(slug)) {
            return Ok(());
        }
        let records: Vec<SlugRecord> =
            store.lookup(dir, &archive::slug_key(slug))?.into_iter().filter_map(|r| r.slug).collect();
        let candidates: BTreeSet<(String, String)> =
            records.iter().flat_map(|r| r.started.iter().map(|s| (s.branch.clone(), s.sha.clone()))).collect();
        if let Some(newest) = records.iter().map(|r| r.offset).max().filter(|o| *o > self.offset) {
            self.covered.insert(slug.to_string(), newest);
        }
        self.merge(records);
        for (branch, sha) in candidates {
            self.take_back_push(dir, &store, &branch, &sha)?;
        }
        if let Some(k) = self.known.as_mut() {
            k.insert(slug.to_string());
        }
        Ok(())
    }

    /// [`take_back_slug`](Self::take_back_slug) for each of `slugs` — the slugs of open
    /// queue items, which a run must see until their items are settled, even when a
    /// reader archived the slug in between.
    pub fn take_back_slugs<'a>(&mut self, dir: &StateDir, slugs: impl IntoIterator<Item = &'a str>) -> Result<()> {
        for slug in slugs {
            self.take_back_slug(dir, slug)?;
        }
        Ok(())
    }

    /// Every slug the in-memory fold knows anything about (an archived slug is not one).
    pub fn slugs_in_memory(&self) -> HashSet<String> {
        self.approvals
            .keys()
            .chain(self.notifications.keys())
            .map(String::as_str)
            .chain(self.started.iter().map(|s| s.slug.as_str()))
            .chain(self.completed.keys().chain(&self.dropped).map(|k| key_slug(k)))
            .map(str::to_string)
            .collect()
    }

    /// `(branch, sha)` of every candidate in memory: the pushes that stay with them.
    fn named_candidates(&self) -> HashSet<(&str, &str)> {
        self.started.iter().map(|s| (s.branch.as_str(), s.sha.as_str())).collect()
    }

    /// Fold archived slug records back in, for slugs that have nothing in memory: of the
    /// records of one slug, the latest fold (largest offset) holds everything.
    fn merge(&mut self, records: impl IntoIterator<Item = SlugRecord>) {
        let mut latest: BTreeMap<String, SlugRecord> = BTreeMap::new();
        for r in records {
            match latest.get(&r.slug) {
                Some(cur) if cur.offset > r.offset => {}
                _ => {
                    latest.insert(r.slug.clone(), r);
                }
            }
        }
        for r in latest.into_values() {
            self.started.extend(r.started);
            if let Some(round) = r.approval {
                let a = self.approvals.entry(r.slug.clone()).or_insert(0);
                *a = (*a).max(round);
            }
            for (sha, commit) in r.completed {
                self.completed.insert(completed_key(&r.slug, &sha), commit);
            }
            if let Some(n) = r.notification {
                self.notifications.insert(r.slug.clone(), n);
            }
            self.dropped.extend(r.dropped);
        }
    }

    /// Fold the whole archive back in, for the views of all history (`--all`). The result
    /// is for reading: saving it would archive everything again.
    pub fn with_archive(&mut self) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        let mut pushes = Vec::new();
        let mut slugs = Vec::new();
        for r in store.scan()? {
            if let Some(s) = r.slug {
                slugs.push(s);
            }
            if let Some(p) = r.push {
                pushes.push(p);
            }
        }
        // Slugs already in memory hold everything their archived records do.
        let known = self.slugs_in_memory();
        self.merge(slugs.into_iter().filter(|s| !known.contains(&s.slug)));
        self.pushes.extend(pushes);
        self.known = None;
        Ok(())
    }

    /// Move resolved history out of memory into archive records: every slug whose winner
    /// is completed and has no unseen failure, and every push no remaining candidate names.
    fn split(&mut self) -> Vec<Record> {
        let resolved: HashSet<String> = self
            .winners()
            .into_iter()
            .filter(|(slug, w)| {
                self.is_completed(slug, &w.sha)
                    && self.notifications.get(*slug).is_none_or(|n| n.state == "resolved" || n.seen)
            })
            .map(|(slug, _)| slug.to_string())
            .collect();
        let mut recs: HashMap<String, SlugRecord> = resolved
            .iter()
            .map(|s| (s.clone(), SlugRecord { slug: s.clone(), offset: self.offset, ..SlugRecord::default() }))
            .collect();
        let (gone, keep): (Vec<Started>, Vec<Started>) =
            std::mem::take(&mut self.started).into_iter().partition(|s| resolved.contains(&s.slug));
        self.started = keep;
        for st in gone {
            if let Some(r) = recs.get_mut(&st.slug) {
                r.started.push(st);
            }
        }
        for (slug, r) in recs.iter_mut() {
            r.approval = self.approvals.remove(slug);
            r.notification = self.notifications.remove(slug);
        }
        self.completed.retain(|k, commit| match k.split_once(':') {
            Some((slug, sha)) if resolved.contains(slug) => {
                if let Some(r) = recs.get_mut(slug) {
                    r.completed.insert(sha.to_string(), commit.clone());
                }
                false
            }
            _ => true,
        });
        self.dropped.retain(|k| match recs.get_mut(key_slug(k)) {
            Some(r) => {
                r.dropped.push(k.clone());
                false
            }
            None => true,
        });
        // Into vectors, in order: the kept ones become a set again in one bulk pass.
        let pushes = std::mem::take(&mut self.pushes);
        let named = self.named_candidates();
        let (kept, moved): (Vec<_>, Vec<_>) =
            pushes.into_iter().partition(|(_, b, s)| named.contains(&(b.as_str(), s.as_str())));
        drop(named);
        self.pushes = kept.into_iter().collect();
        if let Some(k) = self.known.as_mut() {
            k.retain(|s| !resolved.contains(s));
        }
        self.looked_up.clear();
        recs.into_values()
            .map(Record::of_slug)
            .chain(moved.into_iter().map(|(r, b, s)| Record::of_push(r, b, s)))
            .collect()
    }

    /// Undo [`split`](Self::split) when its records could not be written.
    fn unsplit(&mut self, records: Vec<Record>) {
        let mut slugs = Vec::new();
        for r in records {
            if let Some(s) = r.slug {
                slugs.push(s);
            }
            if let Some(p) = r.push {
                self.pushes.insert(p);
            }
        }
        if let Some(k) = self.known.as_mut() {
            k.extend(slugs.iter().map(|s| s.slug.clone()));
        }
        self.merge(slugs);
    }

    /// Load the snapshot (or start empty when it is missing, damaged, from another
    /// version, or covers more than the log holds) and fold the rest of the log.
    pub fn load(dir: &StateDir) -> Result<Projection> {
        Ok(Projection::load_tracked(dir)?.0)
    }

    /// [`load`](Self::load), also returning the log offset the snapshot covered (0 when
    /// there was none), so a caller can tell whether saving it again is worth anything.
    pub fn load_tracked(dir: &StateDir) -> Result<(Projection, u64)> {
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
    pub fn save(&mut self, dir: &StateDir) -> Result<()> {
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
    pub fn winners(&self) -> BTreeMap<&str, &Started> {
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

    /// The candidates git still has to be asked about: not yet recorded as integrated
    /// (`deployment.completed` is written only once the sha is on main).
    pub fn unresolved_candidates(&self) -> Vec<&Started> {
        self.candidates().into_iter().filter(|c| !self.is_completed(&c.slug, &c.sha)).collect()
    }

    /// Distinct candidates `(slug, branch, sha)` in log order.
    pub fn candidates(&self) -> Vec<&Started> {
        let mut seen = BTreeSet::new();
        self.started.iter().filter(|s| seen.insert((&s.slug, &s.branch, &s.sha))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    #[derive(Clone, Debug)]
    enum Op {
        Approve(usize, u64),
        /// branch, sha, remote (0: origin, 1: a second remote)
        Push(usize, usize, usize),
        Start(usize, usize, usize, u8),
        Complete(usize, usize),
        Fail(usize),
        Seen(usize),
        Drop(usize, usize, usize),
        /// A reader (status, run) loads the projection and saves it, archiving.
        Save,
        /// A long-lived process (a run) folds the tail and saves, keeping its projection.
        SaveLive,
        /// A slow process: loads here, and at the next `SaveStale` saves what it loaded
        /// without folding what came since.
        SaveStale,
        /// The snapshot is lost and the next reader replays the log (a new archive).
        Rebuild,
        /// A process killed between appending to the archive and writing the snapshot.
        Crash,
    }

    const SLUGS: [&str; 3] = ["alpha", "beta", "gamma"];
    const BRANCHES: [&str; 3] = ["feat/a", "feat/b", "feat/c"];
    const REMOTES: [&str; 2] = ["origin", "fork"];

    fn sha(i: usize) -> String {
        format!("{:040x}", i + 1)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 1..3u64).prop_map(|(s, r)| Op::Approve(s, r)),
            (0..3usize, 0..4usize, 0..2usize).prop_map(|(b, h, r)| Op::Push(b, h, r)),
            (0..3usize, 0..3usize, 0..4usize, 0..6u8).prop_map(|(s, b, h, t)| Op::Start(s, b, h, t)),
            (0..3usize, 0..4usize).prop_map(|(s, h)| Op::Complete(s, h)),
            (0..3usize).prop_map(Op::Fail),
            (0..3usize).prop_map(Op::Seen),
            (0..3usize, 0..3usize, 0..4usize).prop_map(|(s, b, h)| Op::Drop(s, b, h)),
            Just(Op::Save),
            Just(Op::SaveLive),
            Just(Op::SaveStale),
            Just(Op::Rebuild),
            Just(Op::Crash),
        ]
    }

    fn line(n: usize, op: &Op) -> Option<String> {
        let at = format!("2026-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60);
        let (kind, payload) = match op {
            Op::Approve(s, r) => (events::REVIEW_APPROVED, serde_json::json!({"slug": SLUGS[*s], "review_round": r})),
            Op::Push(b, h, r) => (
                events::BRANCH_PUSHED,
                serde_json::json!({"branch": BRANCHES[*b], "sha": sha(*h), "remote": REMOTES[*r]}),
            ),
            Op::Start(s, b, h, t) => (
                events::DEPLOYMENT_STARTED,
                serde_json::json!({"slug": SLUGS[*s], "branch": BRANCHES[*b], "sha": sha(*h),
                                   "ready_at": format!("2026-01-01T0{t}:00:00Z")}),
            ),
            Op::Complete(s, h) => (
                events::DEPLOYMENT_COMPLETED,
                serde_json::json!({"slug": SLUGS[*s], "sha": sha(*h), "merge_commit": sha(100 + n)}),
            ),
            Op::Fail(s) => (events::DEPLOYMENT_FAILED, serde_json::json!({"slug": SLUGS[*s]})),
            Op::Seen(s) => ("integration.notification.seen", serde_json::json!({"slug": SLUGS[*s]})),
            Op::Drop(s, b, h) => {
                (DROPPED, serde_json::json!({"slug": SLUGS[*s], "branch": BRANCHES[*b], "sha": sha(*h)}))
            }
            Op::Save | Op::SaveLive | Op::SaveStale | Op::Rebuild | Op::Crash => return None,
        };
        let env = serde_json::json!({"v": 1, "id": format!("id-{n}"), "type": kind, "at": at, "source": "test",
                                     "key": format!("k{n}"), "level": "workflow", "payload": payload});
        Some(env.to_string())
    }

    /// What a projection says, independent of the order things were folded or taken back.
    /// Candidates as a sorted list, so a candidate folded twice shows.
    type Canon = (
        Vec<(String, String, String, String)>,
        BTreeMap<String, u64>,
        BTreeSet<(String, String, String)>,
        BTreeMap<String, String>,
        BTreeMap<String, (String, bool)>,
        BTreeSet<String>,
    );

    fn canon(p: &Projection) -> Canon {
        let mut started: Vec<_> =
            p.started.iter().map(|s| (s.slug.clone(), s.branch.clone(), s.sha.clone(), s.ready_at.clone())).collect();
        started.sort();
        (
            started,
            p.approvals.clone(),
            p.pushes.clone(),
            p.completed.clone(),
            p.notifications.iter().map(|(k, n)| (k.clone(), (n.state.clone(), n.seen))).collect(),
            p.dropped.clone(),
        )
    }

    /// The part of `full` about the slugs `hot` holds, and the pushes its candidates name.
    fn restricted(full: &Projection, hot: &Projection) -> Canon {
        let slugs = hot.slugs_in_memory();
        let named = hot.named_candidates();
        let slug_of = |k: &String| key_slug(k).to_string();
        let (st, ap, pu, co, no, dr) = canon(full);
        (
            st.into_iter().filter(|s| slugs.contains(&s.0)).collect(),
            ap.into_iter().filter(|(k, _)| slugs.contains(k)).collect(),
            pu.into_iter().filter(|(_, b, s)| named.contains(&(b.as_str(), s.as_str()))).collect(),
            co.into_iter().filter(|(k, _)| slugs.contains(&slug_of(k))).collect(),
            no.into_iter().filter(|(k, _)| slugs.contains(k)).collect(),
            dr.into_iter().filter(|k| slugs.contains(&slug_of(k))).collect(),
        )
    }

    fn hot_pushes(p: &Projection) -> BTreeSet<(String, String, String)> {
        let named = p.named_candidates();
        p.pushes.iter().filter(|(_, b, s)| named.contains(&(b.as_str(), s.as_str()))).cloned().collect()
    }

    proptest! {
        /// Archiving never changes what the fold says: after any sequence of events and
        /// saves, the snapshot plus its tail agrees with a plain fold of the whole log on
        /// every slug it holds, every unresolved slug is held, and with the archive folded
        /// back in it is the whole fold.
        #[test]
        fn archiving_preserves_the_fold(ops in proptest::collection::vec(op(), 1..40)) {
            let (_tmp, dir) = StateDir::temp();
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(dir.events()).unwrap();
            let mut live = Projection::load(&dir).unwrap();
            let mut slow: Option<Projection> = None;
            for (n, op) in ops.iter().enumerate() {
                match (line(n, op), op) {
                    (Some(l), _) => writeln!(log, "{l}").unwrap(),
                    (None, Op::SaveLive) => {
                        live.catch_up(&dir).unwrap();
                        live.save(&dir).unwrap();
                    }
                    (None, Op::SaveStale) => match slow.take() {
                        Some(mut p) => p.save(&dir).unwrap(),
                        None => slow = Some(Projection::load(&dir).unwrap()),
                    },
                    (None, Op::Crash) => {
                        let mut p = Projection::load(&dir).unwrap();
                        let records = p.split();
                        if !records.is_empty() {
                            archive::with_lock(&dir, || archive::write(&dir, p.archive.as_ref(), &records)).unwrap();
                        }
                    }
                    (None, Op::Rebuild) => {
                        let _ = std::fs::remove_file(dir.projection());
                        Projection::load(&dir).unwrap().save(&dir).unwrap();
                    }
                    (None, _) => Projection::load(&dir).unwrap().save(&dir).unwrap(),
                }
            }
            let mut reference = Projection { version: SNAPSHOT_VERSION, ..Projection::default() };
            reference.catch_up(&dir).unwrap();
            let hot = Projection::load(&dir).unwrap();
            prop_assert_eq!(restricted(&reference, &hot), canon(&Projection { pushes: hot_pushes(&hot), ..hot.clone() }));
            for (slug, w) in reference.winners() {
                let resolved = reference.is_completed(slug, &w.sha)
                    && reference.notifications.get(slug).is_none_or(|n| n.state == "resolved" || n.seen);
                prop_assert!(resolved || hot.slugs_in_memory().contains(slug), "unresolved {} must stay in the snapshot", slug);
            }
            live.catch_up(&dir).unwrap();
            prop_assert_eq!(restricted(&reference, &live), canon(&Projection { pushes: hot_pushes(&live), ..live.clone() }));
            prop_assert_eq!(hot.health, reference.health);
            prop_assert_eq!(hot.readiness_events, reference.readiness_events);
            let mut all = hot;
            all.with_archive().unwrap();
            prop_assert_eq!(canon(&all), canon(&reference));
        }
    }

    fn write_log(dir: &StateDir, ops: &[Op]) {
        let text: String = ops.iter().enumerate().filter_map(|(n, op)| line(n, op)).map(|l| l + "\n").collect();
        std::fs::write(dir.events(), text).unwrap();
    }

    /// A history of `n` slugs, each approved, pushed, started and completed.
    fn resolved_history(n: usize) -> Vec<Op> {
        (0..n)
            .flat_map(|i| {
                [Op::Approve(i % 3, 1), Op::Push(i % 3, i, 0), Op::Start(i % 3, i % 3, i, 1), Op::Complete(i % 3, i)]
            })
            .collect()
    }

    #[test]
    fn the_snapshot_keeps_only_open_work() {
        let (_tmp, dir) = StateDir::temp();
        let mut ops = resolved_history(3);
        ops.extend([Op::Approve(0, 2), Op::Push(0, 9, 0), Op::Start(0, 0, 9, 5)]);
        write_log(&dir, &ops);
        let mut p = Projection::load(&dir).unwrap();
        p.save(&dir).unwrap();
        let snap: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.projection()).unwrap()).unwrap();
        // alpha was reopened by a newer candidate; beta and gamma are resolved and archived.
        assert_eq!(
            snap["started"].as_array().unwrap().iter().map(|s| s["sha"].clone()).collect::<Vec<_>>(),
            vec![serde_json::json!(sha(0)), serde_json::json!(sha(9))]
        );
        assert_eq!(snap["pushes"].as_array().unwrap().len(), 2);
        assert!(snap["notifications"].get("beta").is_none() && snap["approvals"].get("gamma").is_none());
        let archive = std::fs::read_to_string(dir.projection_archive()).unwrap();
        assert!(archive.contains("\"key\":\"slug:beta\"") && archive.contains("\"key\":\"slug:gamma\""), "{archive}");
    }

    #[test]
    fn a_missing_replaced_or_short_archive_makes_the_snapshot_replay() {
        let (_tmp, dir) = StateDir::temp();
        write_log(&dir, &resolved_history(3));
        let mut p = Projection::load(&dir).unwrap();
        p.save(&dir).unwrap();
        let stamp = p.archive.clone().expect("an archive was written");
        let bytes = std::fs::read(dir.projection_archive()).unwrap();
        let (covered, _) = Projection::load_tracked(&dir).unwrap();
        assert!(covered.archive.is_some(), "the snapshot is used while its archive matches");
        for damage in [
            Vec::new(),
            bytes[..bytes.len() - 10].to_vec(),
            String::from_utf8(bytes.clone()).unwrap().replacen(&stamp.id, "another-generation", 1).into_bytes(),
        ] {
            std::fs::write(dir.projection_archive(), &damage).unwrap();
            let (p, from) = Projection::load_tracked(&dir).unwrap();
            assert_eq!(from, 0, "replayed from the start");
            assert_eq!(p.completed.len(), 3, "the whole history is back");
        }
        std::fs::remove_file(dir.projection_archive()).unwrap();
        assert_eq!(Projection::load_tracked(&dir).unwrap().1, 0);
    }

    #[test]
    fn a_process_holding_a_replaced_archive_does_not_overwrite_the_snapshot() {
        let (_tmp, dir) = StateDir::temp();
        let mut ops = resolved_history(2);
        write_log(&dir, &ops);
        Projection::load(&dir).unwrap().save(&dir).unwrap();
        let mut slow = Projection::load(&dir).unwrap();
        // The snapshot is lost; the next run replays and writes a new archive.
        std::fs::remove_file(dir.projection()).unwrap();
        Projection::load(&dir).unwrap().save(&dir).unwrap();
        let fresh = std::fs::read(dir.projection()).unwrap();
        // The slow process folds a tail with nothing to archive and saves: it must not
        // replace the snapshot with one naming the archive that is gone.
        ops.push(Op::Approve(2, 1));
        write_log(&dir, &ops);
        slow.catch_up(&dir).unwrap();
        slow.save(&dir).unwrap();
        assert_eq!(std::fs::read(dir.projection()).unwrap(), fresh);
        assert_ne!(Projection::load_tracked(&dir).unwrap().1, 0, "the next reader starts from the snapshot");
    }

    #[test]
    fn a_reader_of_a_replaced_archive_still_finds_its_records() {
        let (_tmp, dir) = StateDir::temp();
        let mut ops = resolved_history(2);
        write_log(&dir, &ops);
        Projection::load(&dir).unwrap().save(&dir).unwrap();
        let mut reader = Projection::load(&dir).unwrap();
        assert!(!reader.slugs_in_memory().contains("alpha"));
        // Another process rebuilds the archive (a new generation) under the reader.
        std::fs::remove_file(dir.projection()).unwrap();
        Projection::load(&dir).unwrap().save(&dir).unwrap();
        // A new round of alpha: the reader takes alpha back from the file it opened.
        ops.push(Op::Approve(0, 2));
        write_log(&dir, &ops);
        reader.catch_up(&dir).unwrap();
        assert_eq!(reader.approvals.get("alpha"), Some(&2));
        assert_eq!(reader.started.iter().filter(|s| s.slug == "alpha").count(), 1);
        assert!(reader.is_completed("alpha", &sha(0)));
    }
}
