//! The projection: a fold of the event log into what readiness, notifications and parity
//! need. Incremental: a snapshot (`projection.json`) stores the fold with the log offset
//! it covers, so a reader only parses the lines appended since.

use crate::clock;
use crate::error::Result;
use crate::events;
use crate::state::{self, LogHealth, StateDir};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Bumped whenever the snapshot's shape or meaning changes; an old snapshot is rebuilt.
const SNAPSHOT_VERSION: u32 = 1;

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
    /// Fold one event; false when it is not fit to fold (counted as skipped).
    fn apply(&mut self, e: &Line<'_>) -> bool {
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
        let end = state::scan_lines(&dir.events(), self.offset, &mut health, |_, line| {
            match serde_json::from_slice::<Line>(line) {
                Ok(e) => self.apply(&e),
                Err(_) => false,
            }
        })?;
        self.offset = end;
        self.health = health;
        Ok(end != before)
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
        let mut p = state::read_json::<Projection>(&dir.projection())
            .ok()
            .flatten()
            .filter(|p| p.version == SNAPSHOT_VERSION && p.offset <= log_len)
            .unwrap_or_default();
        if p.offset == 0 {
            p = Projection { version: SNAPSHOT_VERSION, ..Projection::default() };
        }
        let covered = p.offset;
        p.catch_up(dir)?;
        Ok((p, covered))
    }

    /// Write the snapshot so the next reader starts from here.
    pub fn save(&self, dir: &StateDir) -> Result<()> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| crate::error::Error::failed(format!("cannot encode the projection: {e}")))?;
        state::write_cache(&dir.projection(), &bytes)
    }

    /// Per slug, the winning candidate and the others it supersedes.
    pub fn winners(&self) -> BTreeMap<&str, &Started> {
        let mut w: BTreeMap<&str, &Started> = BTreeMap::new();
        for st in &self.started {
            let e = w.entry(st.slug.as_str()).or_insert(st);
            if st.order_key() > e.order_key() {
                *e = st;
            }
        }
        w
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
