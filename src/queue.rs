//! The durable FIFO queue (SPEC §6): items with their full transition history, the
//! transition table enforced, dedup on (slug, branch, sha), FIFO by
//! (ready_at, slug, branch, sha) on real timestamps.

use crate::clock;
use crate::error::{Error, Result};
use crate::projection::timestamp_nanos;
use crate::state::{self, StateDir};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    InProgress,
    Integrated,
    Blocked,
    Superseded,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Queued, Status::InProgress, Status::Integrated, Status::Blocked, Status::Superseded];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Integrated => "integrated",
            Status::Blocked => "blocked",
            Status::Superseded => "superseded",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Integrated | Status::Superseded)
    }

    /// The transition table of SPEC §6.
    pub fn may_become(self, to: Status) -> bool {
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
pub struct Transition {
    pub from: Option<Status>,
    pub to: Status,
    pub at: String,
    pub reason: String,
}

/// The last evaluation of an item (shadow decision or cutover result).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LastOutcome {
    pub mode: String,
    pub outcome: String,
    pub main_sha: Option<String>,
    pub at: String,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Item {
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

impl Item {
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.slug, self.branch, self.sha)
    }

    /// One line for people: status, slug, branch@sha, reason.
    pub fn render(&self) -> String {
        format!(
            "{:<11} {:<8} {}@{}  {}",
            self.status.as_str(),
            self.slug,
            self.branch,
            crate::git::short(&self.sha),
            self.status_reason
        )
    }

    pub fn same(&self, slug: &str, branch: &str, sha: &str) -> bool {
        self.slug == slug && self.branch == branch && self.sha == sha
    }

    fn fifo_key(&self) -> (i128, &str, &str, &str) {
        (timestamp_nanos(&self.ready_at), &self.slug, &self.branch, &self.sha)
    }

    /// Move to `to`, enforcing the transition table and keeping the history.
    pub fn transition(&mut self, to: Status, reason: impl Into<String>) -> Result<()> {
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
pub struct Queue {
    pub version: u32,
    pub items: Vec<Item>,
}

impl Queue {
    /// Read `queue.json` (empty when missing; a precise error when damaged).
    pub fn load(dir: &StateDir) -> Result<Queue> {
        Ok(state::read_json(&dir.queue())?.unwrap_or(Queue { version: 1, items: Vec::new() }))
    }

    pub fn save(&self, dir: &StateDir) -> Result<()> {
        state::write_json(&dir.queue(), self)
    }

    pub fn find(&self, slug: &str, branch: &str, sha: &str) -> Option<usize> {
        self.items.iter().position(|i| i.same(slug, branch, sha))
    }

    /// Add a new item as `queued` unless (slug, branch, sha) is already in the queue in
    /// any status. Returns its index.
    pub fn enqueue(&mut self, slug: &str, branch: &str, sha: &str, ready_at: &str, reason: &str) -> usize {
        if let Some(i) = self.find(slug, branch, sha) {
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
    pub fn fifo(&self, status: Status) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.items.len()).filter(|i| self.items[*i].status == status).collect();
        idx.sort_by(|a, b| self.items[*a].fifo_key().cmp(&self.items[*b].fifo_key()));
        idx
    }

    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut c: std::collections::BTreeMap<&'static str, u64> =
            Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for i in &self.items {
            *c.entry(i.status.as_str()).or_default() += 1;
        }
        c
    }

    /// The most recent item of `slug` in one of `statuses`.
    pub fn latest_of_slug(&self, slug: &str, statuses: &[Status]) -> Option<usize> {
        (0..self.items.len()).rev().find(|i| self.items[*i].slug == slug && statuses.contains(&self.items[*i].status))
    }
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

    #[test]
    fn fifo_uses_real_timestamps() {
        let mut q = Queue::default();
        q.enqueue("late", "b", "1", "2026-01-01T00:00:00Z", "r");
        q.enqueue("early", "b", "2", "2026-01-01T01:00:00+02:00", "r");
        let order: Vec<&str> = q.fifo(Status::Queued).into_iter().map(|i| q.items[i].slug.as_str()).collect();
        assert_eq!(order, vec!["early", "late"]);
    }
}
