//! Canonical events built from arguments rather than read as JSON: those given to
//! `integrator emit <event>` and the `branch.pushed` the `pre-push` hook records. An id
//! left out defaults to [`default_actor`], a time left out to now.

use super::{
    default_actor, ingest, record_canonical, IngestReport, NewEvent, Recorded, BRANCH_PUSHED, DEPLOYMENT_STARTED,
    REVIEW_APPROVED,
};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::StateDir;
use serde_json::{Map, Value};

/// A canonical event given on the command line, not yet validated: its type and payload.
pub(crate) type Given = (&'static str, Map<String, Value>);

fn payload<const N: usize>(fields: [(&str, Value); N]) -> Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The id given by `flag`, else [`default_actor`]; when nobody can be named, an error that
/// says which flag or variable supplies it (rather than "must not be empty" downstream).
fn id_or_default(v: Option<String>, flag: &str) -> Result<String> {
    if let Some(v) = v {
        return Ok(v);
    }
    Some(default_actor()).filter(|a| !a.is_empty()).ok_or_else(|| {
        Error::usage_hint(
            format!("no id for {flag}: TELECLAUDE_SESSION_ID and USER are unset and the account has no name"),
            format!("pass {flag} ID, or set TELECLAUDE_SESSION_ID"),
        )
    })
}

fn at_or_now(at: Option<String>) -> String {
    at.unwrap_or_else(clock::now_string)
}

/// The source of events given on the command line: the actor, else `fallback`.
fn source_or(fallback: &str) -> String {
    Some(default_actor()).filter(|s| !s.is_empty()).unwrap_or_else(|| fallback.to_string())
}

/// `integrator emit review-approved`.
pub(crate) fn review_approved(slug: String, round: i64, reviewer: Option<String>, at: Option<String>) -> Result<Given> {
    let p = payload([
        ("slug", slug.into()),
        ("review_round", round.into()),
        ("reviewer_session_id", id_or_default(reviewer, "--reviewer")?.into()),
        ("approved_at", at_or_now(at).into()),
    ]);
    Ok((REVIEW_APPROVED, p))
}

/// `integrator emit deployment-started` (alias `finalize-ready`).
pub(crate) fn deployment_started(
    slug: String,
    branch: String,
    sha: String,
    worker: Option<String>,
    orchestrator: Option<String>,
    at: Option<String>,
) -> Result<Given> {
    let p = payload([
        ("slug", slug.into()),
        ("branch", branch.into()),
        ("sha", sha.into()),
        ("worker_session_id", id_or_default(worker, "--worker")?.into()),
        ("orchestrator_session_id", id_or_default(orchestrator, "--orchestrator")?.into()),
        ("ready_at", at_or_now(at).into()),
    ]);
    Ok((DEPLOYMENT_STARTED, p))
}

fn pushed(branch: &str, sha: &str, remote: &str, pusher: &str, at: String) -> Map<String, Value> {
    payload([
        ("branch", branch.into()),
        ("sha", sha.into()),
        ("remote", remote.into()),
        ("pushed_at", at.into()),
        ("pusher", pusher.into()),
    ])
}

/// `integrator emit branch-pushed`: the push the hook would have recorded, given by hand.
pub(crate) fn branch_pushed_by_hand(
    branch: String,
    sha: String,
    remote: String,
    pusher: Option<String>,
    at: Option<String>,
) -> Result<Given> {
    Ok((BRANCH_PUSHED, pushed(&branch, &sha, &remote, &id_or_default(pusher, "--pusher")?, at_or_now(at))))
}

/// A `branch.pushed` event as the `pre-push` hook records it.
pub(crate) fn branch_pushed(branch: &str, sha: &str, remote: &str, pusher: &str) -> Result<NewEvent> {
    let p = pushed(branch, sha, remote, pusher, clock::now_string());
    NewEvent::canonical(BRANCH_PUSHED, &p, "pre-push")
        .map_err(|violations| Error::Invalid { what: format!("{BRANCH_PUSHED} event"), violations })
}

/// Record one event given on the command line, validated; its source is the actor, else
/// `integrator-cli`.
pub(crate) fn record_given(dir: &StateDir, (kind, payload): Given) -> Result<Recorded> {
    record_canonical(dir, kind, payload, &source_or("integrator-cli"))
}

/// Bulk ingest given on the command line; a line without its own source gets the actor,
/// else `emit-json`.
pub(crate) fn ingest_given(dir: &StateDir, input: &[u8]) -> Result<IngestReport> {
    ingest(dir, input, &source_or("emit-json"))
}
