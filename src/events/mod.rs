//! Events (SPEC §4): the envelope, the canonical types and the lifecycle names. Native
//! validation that lists every violation at once lives in `validate`, recording with dedup
//! under the log lock in `record`, bulk ingest in `ingest`, and the events built from
//! command-line arguments in `emit`.

pub(crate) mod emit;
pub(crate) mod ingest;
pub(crate) mod record;
pub mod validate;

pub(crate) use emit::branch_pushed;
pub use ingest::parse_ingest_line;
pub(crate) use ingest::{ingest, IngestReport};
pub(crate) use record::{record, record_canonical, record_envelopes, Recorded};
pub(crate) use validate::{
    canonical_type, check_branch, check_slug, printable, validate, MAX_LINE, MAX_LIST, MAX_LIST_ENTRY, MAX_TEXT,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) const REVIEW_APPROVED: &str = "domain.software-development.review.approved";
pub(crate) const BRANCH_PUSHED: &str = "domain.software-development.branch.pushed";
pub(crate) const DEPLOYMENT_STARTED: &str = "domain.software-development.deployment.started";
pub(crate) const DEPLOYMENT_COMPLETED: &str = "domain.software-development.deployment.completed";
pub(crate) const DEPLOYMENT_FAILED: &str = "domain.software-development.deployment.failed";

/// The lifecycle events the integrator writes itself (SPEC §4), all `integration.*`.
pub(crate) mod lifecycle {
    pub(crate) const STARTED: &str = "integration.started";
    pub(crate) const CANDIDATE_DEQUEUED: &str = "integration.candidate.dequeued";
    pub(crate) const CANDIDATE_ALREADY_MERGED: &str = "integration.candidate.already_merged";
    pub(crate) const MERGE_SUCCEEDED: &str = "integration.merge.succeeded";
    pub(crate) const MERGE_CONFLICTED: &str = "integration.merge.conflicted";
    pub(crate) const VERIFY_FAILED: &str = "integration.verify.failed";
    pub(crate) const PUSH_SUCCEEDED: &str = "integration.push.succeeded";
    pub(crate) const PUSH_REJECTED: &str = "integration.push.rejected";
    pub(crate) const CANDIDATE_DELIVERED: &str = "integration.candidate.delivered";
    pub(crate) const CANDIDATE_BLOCKED: &str = "integration.candidate.blocked";
    pub(crate) const COMPLETED: &str = "integration.completed";
    /// `integrator parity --accept`: the evidence that gates cutover.
    pub(crate) const PARITY_ACCEPTED: &str = "integration.parity.accepted";
    /// `integrator notifications seen <slug>`.
    pub(crate) const NOTIFICATION_SEEN: &str = "integration.notification.seen";
    /// `integrator queue drop`: kept in the log so a queue rebuilt from it never revives the item.
    pub(crate) const CANDIDATE_DROPPED: &str = "integration.candidate.dropped";
}

/// One line of `events.jsonl`. Field order is the wire order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Envelope {
    pub v: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub source: String,
    pub key: String,
    pub level: String,
    /// The domain of a canonical event (`software-development`); absent on `integration.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `true` on `deployment.failed`: someone has to act; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actionable: Option<bool>,
    pub payload: Map<String, Value>,
}

/// The domain a canonical type belongs to: `domain.<domain>.<…>` → `<domain>`.
pub(crate) fn domain_of(kind: &str) -> Option<&str> {
    kind.strip_prefix("domain.")?.split('.').next().filter(|d| !d.is_empty())
}

fn key_part(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The idempotency key of a canonical event of `spec`: its type and its key fields.
fn key_of<'v>(spec: &validate::Spec, field: impl Fn(&str) -> Option<&'v Value>) -> String {
    // Room for the type and a few slugs, branches and shas: built without growing.
    let mut key = String::with_capacity(spec.kind.len() + 160);
    key.push_str(spec.kind);
    for f in spec.key {
        key.push(':');
        key.push_str(&field(f).map(key_part).unwrap_or_default());
    }
    key
}

/// The full type and the idempotency key of a canonical event of `kind` with `payload`,
/// once the payload validates: what [`NewEvent::canonical`] would give, without building
/// the event (an envelope from elsewhere is checked, not rebuilt).
pub(crate) fn canonical_key(
    kind: &str,
    payload: &Map<String, Value>,
) -> std::result::Result<(&'static str, String), Vec<String>> {
    let mut fields = Vec::with_capacity(8);
    let spec = validate::check(kind, payload, |name, v| fields.push((name, v)))?;
    Ok((spec.kind, key_of(spec, |f| fields.iter().find(|(n, _)| *n == f).map(|(_, v)| v))))
}

/// An event ready to be recorded.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: String,
    pub source: String,
    pub key: String,
    pub level: String,
    pub payload: Map<String, Value>,
}

impl NewEvent {
    /// A canonical event: validated, normalised and keyed.
    pub fn canonical(
        kind: &str,
        payload: &Map<String, Value>,
        source: &str,
    ) -> std::result::Result<NewEvent, Vec<String>> {
        let (spec, payload) = validate(kind, payload)?;
        let key = key_of(spec, |f| payload.get(f));
        Ok(NewEvent {
            kind: spec.kind.to_string(),
            source: source.to_string(),
            key,
            level: spec.level.to_string(),
            payload,
        })
    }

    /// A lifecycle event written by the integrator itself (`integration.*`).
    pub fn lifecycle(kind: &str, key: String, payload: Map<String, Value>) -> NewEvent {
        NewEvent { kind: kind.to_string(), source: "integrator".into(), key, level: "operational".into(), payload }
    }
}

/// The default id for `--reviewer`, `--worker`, `--pusher`…: `$TELECLAUDE_SESSION_ID`, else
/// `$USER`, else the account name of the effective uid (containers, cron and systemd leave
/// `$USER` unset); empty when none of them names anyone.
pub(crate) fn default_actor() -> String {
    let var = |k: &str| std::env::var(k).ok();
    actor_from(var("TELECLAUDE_SESSION_ID"), var("USER"), account_name).unwrap_or_default()
}

/// The first non-empty of the session id, the user variable and the account name (asked
/// for only when both variables are empty).
fn actor_from(
    session: Option<String>,
    user: Option<String>,
    account: impl FnOnce() -> Option<String>,
) -> Option<String> {
    [session, user].into_iter().flatten().find(|v| !v.is_empty()).or_else(|| account().filter(|a| !a.is_empty()))
}

/// The login name of the effective uid from the password database (`getpwuid_r`).
fn account_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the size passed; on success `pw_name`
    // points into `buf`, which outlives the read below.
    let rc = unsafe { libc::getpwuid_r(libc::geteuid(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: `pw_name` is a NUL-terminated string inside `buf` (checked non-null above).
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod actor_tests {
    use super::actor_from;

    #[test]
    fn session_then_user_then_account() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(actor_from(s("sess"), s("u"), || s("acct")), s("sess"));
        assert_eq!(actor_from(s(""), s("u"), || s("acct")), s("u"));
        assert_eq!(actor_from(None, None, || s("acct")), s("acct"));
        assert_eq!(actor_from(s(""), s(""), || None), None);
        assert_eq!(actor_from(None, None, || s("")), None);
    }

    #[test]
    fn the_account_name_of_this_process_is_found() {
        let name = super::account_name().expect("the test's uid has a password entry");
        assert!(!name.is_empty());
    }
}
