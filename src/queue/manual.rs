//! The operator's hand on the queue: `integrator queue retry` re-queues a blocked item
//! once readiness says it is READY again; `integrator queue drop` supersedes an item and
//! records the drop in the event log.

use super::{Queue, Status};
use crate::candidate::Named;
use crate::error::{Error, Result};
use crate::events::{self, lifecycle, NewEvent};
use crate::projection::Projection;
use crate::readiness::{self, CandidateView, State};
use crate::repo::Repo;
use crate::store;

/// Re-queue the latest blocked item of `slug` after a readiness re-check says READY.
pub(crate) fn retry(repo: &Repo, slug: &str) -> Result<()> {
    events::check_slug(slug).map_err(Error::usage)?;
    let cfg = repo.config()?;
    let mut proj = Projection::load(&repo.state)?;
    proj.take_back_slug(&repo.state, slug)?;
    let views = readiness::evaluate_now(&repo.git, &cfg, &proj, &repo.state)?;
    store::with_state_lock(&repo.state, || {
        let mut q = Queue::load(&repo.state)?;
        let Some(i) = q.latest_of_slug(slug, &[Status::Blocked]) else {
            return Err(Error::usage(format!("no blocked item for slug `{slug}`")));
        };
        let it = &q.items[i];
        let view = views.iter().find(|v| v.names(it));
        require_ready(slug, view)?;
        q.items[i].transition(Status::Queued, "retry requested")?;
        q.save(&repo.state)
    })
}

/// A retry needs the item's candidate to be READY now.
fn require_ready(slug: &str, view: Option<&CandidateView>) -> Result<()> {
    match view {
        Some(v) if v.state == State::Ready => Ok(()),
        Some(v) => {
            Err(Error::failed(format!("{} is not READY ({}): {}", slug, v.state.as_str(), v.reasons.join("; "))))
        }
        None => Err(Error::failed(format!("{slug} has no candidate in the event log"))),
    }
}

/// Drop the latest queued or blocked item of `slug`: it becomes superseded, for `reason`.
pub(crate) fn drop(repo: &Repo, slug: &str, reason: &str) -> Result<()> {
    events::check_slug(slug).map_err(Error::usage)?;
    if reason.trim().is_empty() || reason.len() > 1000 || reason.chars().any(char::is_control) {
        return Err(Error::usage("--reason must be one line of 1 to 1000 characters"));
    }
    store::with_state_lock(&repo.state, || {
        let mut q = Queue::load(&repo.state)?;
        let Some(i) = q.latest_of_slug(slug, &[Status::Queued, Status::Blocked]) else {
            return Err(Error::usage(format!("no queued or blocked item for slug `{slug}`")));
        };
        let it = &q.items[i];
        // The log keeps the drop too, so a queue rebuilt from it never revives the item.
        let mut p = serde_json::Map::new();
        for (k, v) in [("slug", it.slug.as_str()), ("branch", &it.branch), ("sha", &it.sha), ("reason", reason)] {
            p.insert(k.into(), v.into());
        }
        let key = format!("{}:{}", lifecycle::CANDIDATE_DROPPED, it.key());
        events::record(&repo.state, vec![NewEvent::lifecycle(lifecycle::CANDIDATE_DROPPED, key, p)])?;
        q.items[i].transition(Status::Superseded, format!("dropped: {reason}"))?;
        q.save(&repo.state)
    })
}
