//! Folding one log line into the projection. Replay parses every line of the log, so a
//! line is read borrowed and only the fields the fold needs are parsed.

use super::{completed_key, Projection};
use crate::candidate::{Candidate, Started};
use crate::events::{self, lifecycle};
use crate::notification::{Notification, NotificationState};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// The part of an envelope the fold reads, borrowed from the line: replay parses a
/// million lines, and a full `Envelope` allocates a map and a string per payload field.
/// The other envelope fields must be present (a line without them is skipped) but are
/// not kept.
#[derive(Deserialize)]
#[allow(dead_code)] // `v`, `id`, `source`, `key`, `level`: required, never read.
pub(super) struct Line<'a> {
    pub(super) v: IgnoredAny,
    pub(super) id: IgnoredAny,
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) at: Cow<'a, str>,
    pub(super) source: IgnoredAny,
    pub(super) key: IgnoredAny,
    pub(super) level: IgnoredAny,
    #[serde(borrow)]
    pub(super) payload: Payload<'a>,
}

/// The payload fields the fold reads; the others are skipped unparsed.
#[derive(Deserialize)]
pub(super) struct Payload<'a> {
    #[serde(borrow, default)]
    pub(super) slug: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) branch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) sha: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) remote: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) ready_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) merge_commit: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) review_round: Option<serde_json::Value>,
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

/// A payload field as an owned string ("" when absent).
fn owned(v: &Option<Cow<'_, str>>) -> String {
    v.as_deref().unwrap_or_default().to_string()
}

impl Projection {
    /// Fold one event; false when it is not fit to fold (counted as skipped). Without
    /// `slug_state` only what is not kept per slug is folded (counters, parity): the slug's
    /// state already includes the event (see `covered`).
    pub(super) fn apply(&mut self, e: &Line<'_>, slug_state: bool) -> bool {
        let p = &e.payload;
        match e.kind.as_ref() {
            events::DEPLOYMENT_STARTED if !sane_candidate(p, true) => return false,
            events::BRANCH_PUSHED if !sane_candidate(p, false) => return false,
            _ => {}
        }
        if matches!(e.kind.as_ref(), events::REVIEW_APPROVED | events::BRANCH_PUSHED | events::DEPLOYMENT_STARTED) {
            self.readiness_events += 1;
        }
        if slug_state {
            self.fold_slug_state(e);
        }
        true
    }

    /// Fold what an event says about its slug.
    fn fold_slug_state(&mut self, e: &Line<'_>) {
        let p = &e.payload;
        let slug = owned(&p.slug);
        match e.kind.as_ref() {
            events::REVIEW_APPROVED => {
                let round = p.review_round.as_ref().and_then(|v| v.as_u64()).unwrap_or(1);
                let r = self.approvals.entry(slug.clone()).or_insert(0);
                *r = (*r).max(round);
                self.notify(slug, NotificationState::Approved, &e.at);
            }
            events::BRANCH_PUSHED => {
                self.pushes.insert((owned(&p.remote), owned(&p.branch), owned(&p.sha)));
            }
            events::DEPLOYMENT_STARTED => {
                let st = Started { slug, branch: owned(&p.branch), sha: owned(&p.sha), ready_at: owned(&p.ready_at) };
                self.notify(st.slug.clone(), NotificationState::InProgress, &e.at);
                self.started.push(st);
            }
            events::DEPLOYMENT_COMPLETED => {
                self.completed.insert(completed_key(&slug, &owned(&p.sha)), owned(&p.merge_commit));
                self.notify(slug, NotificationState::Resolved, &e.at);
            }
            events::DEPLOYMENT_FAILED => self.notify(slug, NotificationState::Failed, &e.at),
            lifecycle::NOTIFICATION_SEEN => {
                if let Some(n) = self.notifications.get_mut(&slug) {
                    n.seen = true;
                }
            }
            lifecycle::PARITY_ACCEPTED => self.parity_accepted = true,
            lifecycle::CANDIDATE_DROPPED => {
                self.dropped.insert(Candidate::new(slug, owned(&p.branch), owned(&p.sha)).key());
            }
            _ => {}
        }
    }

    /// The slug's notification moves to `state`, unseen.
    fn notify(&mut self, slug: String, state: NotificationState, at: &str) {
        let n = self.notifications.entry(slug.clone()).or_insert_with(|| Notification {
            slug,
            state,
            seen: false,
            updated_at: String::new(),
        });
        n.state = state;
        n.seen = false;
        n.updated_at = at.to_string();
    }
}
