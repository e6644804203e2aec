//! The durable FIFO queue (SPEC §6): items with their full transition history, the
//! transition table enforced, dedup on (slug, branch, sha), FIFO by
//! (ready_at, slug, branch, sha) on real timestamps.

pub(crate) mod manual;

use crate::candidate::{named, Candidate, Named};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

mod outcome;
pub(crate) use outcome::{LastOutcome, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Queued,
    InProgress,
    Integrated,
    Blocked,
    Superseded,
}

impl Status {
    pub(crate) const ALL: [Status; 5] =
        [Status::Queued, Status::InProgress, Status::Integrated, Status::Blocked, Status::Superseded];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Integrated => "integrated",
            Status::Blocked => "blocked",
            Status::Superseded => "superseded",
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Status::Integrated | Status::Superseded)
    }

    /// The transition table of SPEC §6.
    pub(crate) fn may_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Queued, InProgress | Integrated | Superseded)
                | (InProgress, Integrated | Blocked | Superseded | Queued)
                | (Blocked, Queued | Superseded)
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Transition {
    pub from: Option<Status>,
    pub to: Status,
    pub at: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Item {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub ready_at: String,
    pub status: Status,
    pub status_reason: String,
    pub status_at: String,
    pub attempts: u32,
    pub last_outcome: Option<LastOutcome>,
    pub transitions: Vec<Transition>,
}

named!(Item);

impl Item {
    pub(crate) fn key(&self) -> String {
        self.candidate().key()
    }

    /// One line for people: status, slug, branch@sha, reason.
    pub(crate) fn render(&self) -> String {
        format!(
            "{:<11} {:<8} {}@{}  {}",
            self.status.as_str(),
            self.slug,
            self.branch,
            crate::git::short(&self.sha),
            self.status_reason
        )
    }

    fn fifo_key(&self) -> (i128, &str, &str, &str) {
        (clock::nanos(&self.ready_at), &self.slug, &self.branch, &self.sha)
    }

    /// Move to `to`, enforcing the transition table and keeping the history.
    pub(crate) fn transition(&mut self, to: Status, reason: impl Into<String>) -> Result<()> {
        if !self.status.may_become(to) {
            return Err(Error::failed(format!(
                "queue item {} cannot go from {} to {}",
                self.key(),
                self.status.as_str(),
                to.as_str()
            )));
        }
        let reason = reason.into();
        let at = clock::now_string();
        self.transitions.push(Transition { from: Some(self.status), to, at: at.clone(), reason: reason.clone() });
        self.status = to;
        self.status_reason = reason;
        self.status_at = at;
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Queue {
    pub version: u32,
    pub items: Vec<Item>,
    /// How many items, by status, were moved to `queue.archive.jsonl` (terminal items of
    /// resolved slugs), so `queue.json` stays the size of the open work.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub archived: BTreeMap<String, u64>,
}

impl Queue {
    /// Read `queue.json` (empty when missing; a precise error when damaged).
    ///
    /// A damaged queue is never silently reset: an empty queue would forget blocked and
    /// dropped items. The error says how to rebuild it from the event log and git, which
    /// recognise every candidate already on main, so nothing is merged twice.
    pub(crate) fn load(dir: &StateDir) -> Result<Queue> {
        let path = dir.queue();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Queue { version: 1, ..Queue::default() }),
            Err(e) => return Err(Error::io(format_args!("cannot read {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            let p = path.display();
            Error::failed_hint(
                format!("the queue {p} is damaged ({e}); refusing to guess which candidates are done"),
                format!(
                    "move it aside with `mv {p} {p}.damaged`; the next `integrator run` rebuilds the queue from \
                     the event log and git (candidates already on main are recognised and not merged again; \
                     dropped ones stay dropped)"
                ),
            )
        })
    }

    pub(crate) fn save(&self, dir: &StateDir) -> Result<()> {
        store::write_json(&dir.queue(), self)
    }

    /// The queue with its archived items (`queue --all`, parity): archived items first,
    /// in the order they were archived, each candidate once (the live item, else the
    /// last archived copy).
    pub(crate) fn load_all(dir: &StateDir) -> Result<Queue> {
        let mut q = Queue::load(dir)?;
        let (archived, _) = store::read_jsonl::<Item>(&dir.queue_archive())?;
        let live: HashSet<String> = q.items.iter().map(Item::key).collect();
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut items: Vec<Item> = Vec::new();
        for it in archived.into_iter().filter(|i| !live.contains(&i.key())) {
            match at.get(&it.key()) {
                Some(&i) => items[i] = it,
                None => {
                    at.insert(it.key(), items.len());
                    items.push(it);
                }
            }
        }
        items.append(&mut q.items);
        q.items = items;
        q.archived.clear();
        Ok(q)
    }

    /// Move the terminal items `resolved` accepts to `queue.archive.jsonl` (appended and
    /// synced first, then `queue.json` rewritten: a crash in between leaves a duplicate
    /// that [`load_all`](Self::load_all) folds, never a lost item). The caller holds the
    /// state lock. Returns how many moved.
    pub(crate) fn archive(&mut self, dir: &StateDir, resolved: impl Fn(&Item) -> bool) -> Result<usize> {
        let (gone, keep): (Vec<Item>, Vec<Item>) =
            std::mem::take(&mut self.items).into_iter().partition(|i| i.status.is_terminal() && resolved(i));
        self.items = keep;
        if gone.is_empty() {
            return Ok(0);
        }
        let lines = gone
            .iter()
            .map(serde_json::to_string)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::failed(format!("cannot encode a queue item: {e}")))?;
        store::append_lines(&dir.queue_archive(), &lines)?;
        for it in &gone {
            *self.archived.entry(it.status.as_str().to_string()).or_default() += 1;
        }
        self.save(dir)?;
        Ok(gone.len())
    }

    /// The slugs of the items not yet settled (queued, in progress, blocked).
    pub(crate) fn open_slugs(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter(|i| !i.status.is_terminal()).map(|i| i.slug.as_str())
    }

    /// Each item's position by its candidate key.
    pub(crate) fn positions(&self) -> HashMap<String, usize> {
        self.items.iter().enumerate().map(|(i, it)| (it.key(), i)).collect()
    }

    /// The position of the item of candidate `c`.
    pub(crate) fn find(&self, c: &impl Named) -> Option<usize> {
        self.items.iter().position(|i| i.names(c))
    }

    /// Add a new item as `queued` unless (slug, branch, sha) is already in the queue in
    /// any status. Returns its index.
    pub(crate) fn enqueue(&mut self, slug: &str, branch: &str, sha: &str, ready_at: &str, reason: &str) -> usize {
        if let Some(i) = self.find(&Candidate::new(slug, branch, sha)) {
            return i;
        }
        let at = clock::now_string();
        self.items.push(Item {
            slug: slug.into(),
            branch: branch.into(),
            sha: sha.into(),
            ready_at: ready_at.into(),
            status: Status::Queued,
            status_reason: reason.into(),
            status_at: at.clone(),
            attempts: 0,
            last_outcome: None,
            transitions: vec![Transition { from: None, to: Status::Queued, at, reason: reason.into() }],
        });
        self.items.len() - 1
    }

    /// Indices of items with `status`, in FIFO order.
    pub(crate) fn fifo(&self, status: Status) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.items.len()).filter(|i| self.items[*i].status == status).collect();
        idx.sort_by(|a, b| self.items[*a].fifo_key().cmp(&self.items[*b].fifo_key()));
        idx
    }

    /// Items by status, archived ones included.
    pub(crate) fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut c: BTreeMap<&'static str, u64> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for i in &self.items {
            *c.entry(i.status.as_str()).or_default() += 1;
        }
        for s in Status::ALL {
            *c.entry(s.as_str()).or_default() += self.archived.get(s.as_str()).copied().unwrap_or(0);
        }
        c
    }

    /// The most recent item of `slug` in one of `statuses`.
    pub(crate) fn latest_of_slug(&self, slug: &str, statuses: &[Status]) -> Option<usize> {
        (0..self.items.len()).rev().find(|i| self.items[*i].slug == slug && statuses.contains(&self.items[*i].status))
    }
}

/// Load, change and save the queue under the state lock; returns the changed item.
pub(crate) fn update(dir: &StateDir, item: &impl Named, f: impl FnOnce(&mut Item) -> Result<()>) -> Result<Item> {
    store::with_state_lock(dir, || {
        let mut q = Queue::load(dir)?;
        let idx =
            q.find(item).ok_or_else(|| Error::failed(format!("queue item {} vanished", item.candidate().key())))?;
        f(&mut q.items[idx])?;
        let changed = q.items[idx].clone();
        q.save(dir)?;
        Ok(changed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table_is_enforced_and_kept() {
        let mut q = Queue::default();
        let i = q.enqueue("s", "b", "x", "2026-01-01T00:00:00Z", "ready");
        assert_eq!(q.enqueue("s", "b", "x", "2026-01-01T00:00:00Z", "ready"), i);
        let it = &mut q.items[i];
        assert!(it.transition(Status::Blocked, "no").is_err());
        it.transition(Status::InProgress, "apply").unwrap();
        it.transition(Status::Blocked, "conflict").unwrap();
        it.transition(Status::Queued, "retry").unwrap();
        it.transition(Status::Integrated, "done").unwrap();
        assert!(it.transition(Status::Queued, "again").is_err());
        assert_eq!(it.transitions.len(), 5);
    }

    use proptest::prelude::*;

    /// SPEC §6, written out independently of `may_become`.
    const TABLE: &[(Status, Status)] = &[
        (Status::Queued, Status::InProgress),
        (Status::Queued, Status::Integrated),
        (Status::Queued, Status::Superseded),
        (Status::InProgress, Status::Integrated),
        (Status::InProgress, Status::Blocked),
        (Status::InProgress, Status::Superseded),
        (Status::InProgress, Status::Queued),
        (Status::Blocked, Status::Queued),
        (Status::Blocked, Status::Superseded),
    ];

    #[derive(Clone, Debug)]
    enum Op {
        Enqueue(usize, u8),
        Move(usize, Status),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, 0..3u8).prop_map(|(k, h)| Op::Enqueue(k, h)),
            (0..6usize, proptest::sample::select(Status::ALL.to_vec())).prop_map(|(k, s)| Op::Move(k, s)),
        ]
    }

    fn check_invariants(q: &Queue) {
        let mut keys = std::collections::HashSet::new();
        for it in &q.items {
            assert!(keys.insert(it.key()), "dedup on (slug, branch, sha): {}", it.key());
            let first = &it.transitions[0];
            assert_eq!((first.from, first.to), (None, Status::Queued), "history starts at queued");
            for w in it.transitions.windows(2) {
                assert_eq!(w[1].from, Some(w[0].to), "history is a chain");
                assert!(TABLE.contains(&(w[0].to, w[1].to)), "{:?} -> {:?} is not in the table", w[0].to, w[1].to);
            }
            let last = it.transitions.last().unwrap();
            assert_eq!((last.to, &last.reason, &last.at), (it.status, &it.status_reason, &it.status_at));
        }
        for st in Status::ALL {
            let idx = q.fifo(st);
            assert_eq!(idx.len(), q.items.iter().filter(|i| i.status == st).count());
            assert!(idx.windows(2).all(|w| q.items[w[0]].fifo_key() <= q.items[w[1]].fifo_key()));
        }
    }

    proptest! {
        /// Any sequence of operations keeps the invariants: only table transitions, a
        /// history consistent with the status, dedup; a refused transition changes nothing.
        #[test]
        fn any_operation_sequence_keeps_the_queue_invariants(ops in proptest::collection::vec(op(), 0..60)) {
            let mut q = Queue::default();
            for op in ops {
                match op {
                    Op::Enqueue(k, hour) => {
                        let before = q.clone();
                        let at = format!("2026-01-01T0{hour}:00:00+0{hour}:00");
                        let (slug, sha) = (format!("s{k}"), format!("{k:040x}"));
                        let i = q.enqueue(&slug, "b", &sha, &at, "ready");
                        prop_assert!(q.items[i].names(&Candidate::new(slug.as_str(), "b", sha.as_str())));
                        if before.items.len() == q.items.len() {
                            prop_assert_eq!(&before, &q, "a duplicate enqueue changes nothing");
                        }
                    }
                    Op::Move(k, to) => {
                        let Some(it) = q.items.get_mut(k) else { continue };
                        let before = it.clone();
                        let allowed = TABLE.contains(&(it.status, to));
                        prop_assert_eq!(it.transition(to, "op").is_ok(), allowed);
                        if !allowed {
                            prop_assert_eq!(&before, &*it);
                        }
                    }
                }
                check_invariants(&q);
            }
            let text = serde_json::to_string(&q).unwrap();
            prop_assert_eq!(serde_json::from_str::<Queue>(&text).unwrap(), q, "queue.json round-trips");
        }
    }

    #[test]
    fn archived_items_leave_the_queue_but_are_counted_and_listed_once() {
        let (_tmp, dir) = StateDir::temp();
        let mut q = Queue { version: 1, ..Queue::default() };
        for slug in ["done", "open", "other"] {
            let i = q.enqueue(slug, "b", &format!("{slug:0>40}"), "2026-01-01T00:00:00Z", "ready");
            if slug != "open" {
                q.items[i].transition(Status::Integrated, "landed").unwrap();
            }
        }
        // Only terminal items the caller calls resolved move.
        assert_eq!(q.archive(&dir, |it| it.slug != "other").unwrap(), 1);
        let hot = Queue::load(&dir).unwrap();
        assert_eq!(hot.items.iter().map(|i| i.slug.as_str()).collect::<Vec<_>>(), ["open", "other"]);
        assert_eq!(hot.counts()["integrated"], 2, "archived items still count");
        // A crash between the archive append and the rewrite leaves a duplicate line.
        let line = std::fs::read_to_string(dir.queue_archive()).unwrap();
        std::fs::write(dir.queue_archive(), line.repeat(2)).unwrap();
        let all = Queue::load_all(&dir).unwrap();
        assert_eq!(all.items.iter().map(|i| i.slug.as_str()).collect::<Vec<_>>(), ["done", "open", "other"]);
        assert_eq!(all.counts()["integrated"], 2, "no double count");
    }

    #[test]
    fn fifo_uses_real_timestamps() {
        let mut q = Queue::default();
        q.enqueue("late", "b", "1", "2026-01-01T00:00:00Z", "r");
        q.enqueue("early", "b", "2", "2026-01-01T01:00:00+02:00", "r");
        let order: Vec<&str> = q.fifo(Status::Queued).into_iter().map(|i| q.items[i].slug.as_str()).collect();
        assert_eq!(order, vec!["early", "late"]);
    }
}
