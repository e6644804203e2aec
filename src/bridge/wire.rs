//! The platform's wire format (README "Event bus"): a stream entry is a flat map of
//! strings. Reading one yields our event — validated exactly like `integrator emit` — or
//! says why it is not one; writing one turns a `deployment.completed` / `.failed` of ours
//! into the platform's fields.

use crate::events::{self, printable, Envelope, NewEvent, MAX_LINE, MAX_TEXT};
use serde_json::{json, Value};

/// The `source` of the entries the integrator writes.
pub(crate) const SOURCE: &str = "teleclaude-integrator";

/// Fields every envelope carries (`_extra` may be absent).
const REQUIRED: [&str; 14] = [
    "event",
    "version",
    "source",
    "timestamp",
    "idempotency_key",
    "level",
    "domain",
    "entity",
    "description",
    "visibility",
    "payload",
    "actions",
    "terminal_when",
    "resolution_shape",
];

/// What one stream entry is to us.
#[derive(Debug)]
pub(crate) enum Mapped {
    /// One of the five canonical events, valid.
    Event(NewEvent),
    /// An entry this integrator wrote itself (read back: not ingested again).
    Own,
    /// Another event of the platform's: acknowledged untouched.
    Foreign,
    /// Ours by name but broken: every reason, for the report.
    Malformed(Vec<String>),
}

/// Read one entry. `instance` identifies the entries this state dir wrote.
pub(crate) fn read(fields: &[(String, String)], instance: &str) -> Mapped {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(event) = get("event") else {
        return Mapped::Malformed(vec!["missing field `event`".into()]);
    };
    if events::canonical_type(event) != Some(event) {
        return Mapped::Foreign;
    }
    let size: usize = fields.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_LINE {
        return Mapped::Malformed(vec![format!("{size} bytes long (at most {MAX_LINE} per event)")]);
    }
    let extra = get("_extra").map(serde_json::from_str::<Value>);
    if let Some(Ok(x)) = &extra {
        if x.get("integrator_instance").and_then(Value::as_str) == Some(instance) {
            return Mapped::Own;
        }
    }
    let mut bad = check_fields(&get);
    match &extra {
        Some(Ok(v)) if !v.is_object() => bad.push("`_extra` is not a JSON object".into()),
        Some(Err(e)) => bad.push(format!("`_extra` is not JSON: {e}")),
        _ => {}
    }
    let payload = match get("payload").map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(p))) => Some(p),
        Some(Ok(_)) => {
            bad.push("`payload` is not a JSON object".into());
            None
        }
        Some(Err(e)) => {
            bad.push(format!("`payload` is not JSON: {e}"));
            None
        }
        None => None,
    };
    let (Some(payload), Some(source)) = (payload, get("source")) else { return Mapped::Malformed(bad) };
    match NewEvent::canonical(event, &payload, source) {
        Ok(e) if bad.is_empty() => Mapped::Event(e),
        Ok(_) => Mapped::Malformed(bad),
        Err(v) => Mapped::Malformed(bad.into_iter().chain(v).collect()),
    }
}

/// The envelope's own fields: present, and each with a value the platform defines.
fn check_fields<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
    let mut bad: Vec<String> =
        REQUIRED.iter().filter(|k| get(k).is_none()).map(|k| format!("missing field `{k}`")).collect();
    let rules: [(&str, fn(&str) -> bool, &str); 6] = [
        ("version", |v| v == "1", "is not 1"),
        ("level", |v| matches!(v, "0" | "1" | "2" | "3"), "is not a level (0, 1, 2, 3)"),
        ("visibility", |v| matches!(v, "local" | "cluster" | "public"), "is not local, cluster or public"),
        ("timestamp", |v| crate::clock::parse(v).is_ok(), "is not an ISO 8601 timestamp with an offset"),
        ("resolution_shape", |v| v.is_empty() || serde_json::from_str::<Value>(v).is_ok(), "is not JSON"),
        ("source", |v| !v.trim().is_empty() && v.len() <= MAX_TEXT && !v.contains(char::is_control), "is not one line"),
    ];
    for (k, ok, what) in rules {
        if let Some(v) = get(k).filter(|v| !ok(v)) {
            bad.push(format!("`{k}` = `{}` {what}", printable(v)));
        }
    }
    bad
}

/// The entry for one of our `deployment.completed` / `deployment.failed` events.
pub(crate) fn write(e: &Envelope, instance: &str) -> Vec<(String, String)> {
    let p = &e.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    let slug = s("slug");
    let at = format!("{}@{}", s("branch"), crate::git::short(s("sha")));
    let failed = e.kind == events::DEPLOYMENT_FAILED;
    let (level, description, actions, terminal_when, lifecycle) = if failed {
        let evidence: Vec<&str> = p
            .get("conflict_evidence")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let what = format!("{slug}: {at} blocked on {}", evidence.join(", "));
        let action = json!([{"kind": "follow_up", "description": s("next_action"), "follow_up": s("follow_up")}]);
        ("3", what, action.to_string(), events::DEPLOYMENT_COMPLETED.to_string(), "updates")
    } else {
        let what = format!("{slug}: {at} integrated as {}", crate::git::short(s("merge_commit")));
        ("2", what, "[]".to_string(), String::new(), "resolves")
    };
    let extra = json!({
        "actionable": failed,
        "notification": {"group_key": slug, "lifecycle": lifecycle, "unseen": failed},
        "integrator_instance": instance,
    });
    let description: String = description.lines().next().unwrap_or_default().chars().take(300).collect();
    [
        ("event", e.kind.clone()),
        ("version", "1".into()),
        ("source", SOURCE.into()),
        ("timestamp", e.at.clone()),
        ("idempotency_key", e.key.clone()),
        ("level", level.into()),
        ("domain", "software-development".into()),
        ("entity", slug.into()),
        ("description", description),
        ("visibility", "cluster".into()),
        ("payload", Value::Object(p.clone()).to_string()),
        ("actions", actions),
        ("terminal_when", terminal_when),
        ("resolution_shape", String::new()),
        ("_extra", extra.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The events we publish: what a run records about a candidate.
pub(crate) fn is_published(e: &Envelope) -> bool {
    e.source == "integrator" && (e.kind == events::DEPLOYMENT_COMPLETED || e.kind == events::DEPLOYMENT_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(over: &[(&str, &str)]) -> Vec<(String, String)> {
        let payload =
            r#"{"slug":"s1","review_round":1,"reviewer_session_id":"r","approved_at":"2026-01-01T00:00:00Z"}"#;
        let mut f: Vec<(String, String)> = [
            ("event", events::REVIEW_APPROVED),
            ("version", "1"),
            ("source", "daemon@host"),
            ("timestamp", "2026-01-01T00:00:00+00:00"),
            ("idempotency_key", ""),
            ("level", "2"),
            ("domain", "software-development"),
            ("entity", "s1"),
            ("description", "approved"),
            ("visibility", "cluster"),
            ("payload", payload),
            ("actions", "[]"),
            ("terminal_when", ""),
            ("resolution_shape", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in over {
            f.retain(|(n, _)| n != k);
            if !v.is_empty() || *k == "idempotency_key" {
                f.push((k.to_string(), v.to_string()));
            }
        }
        f
    }

    #[test]
    fn a_platform_envelope_is_our_event_keyed_like_emit() {
        let Mapped::Event(e) = read(&entry(&[]), "me") else { panic!("not an event") };
        assert_eq!(e.key, format!("{}:s1:1", events::REVIEW_APPROVED));
        assert_eq!(e.source, "daemon@host");
    }

    #[test]
    fn every_violation_is_listed_at_once() {
        let f = entry(&[("level", "7"), ("version", "2"), ("domain", ""), ("payload", r#"{"slug":"BAD"}"#)]);
        let Mapped::Malformed(v) = read(&f, "me") else { panic!("accepted") };
        let text = v.join("\n");
        for want in ["missing field `domain`", "`level` = `7`", "`version` = `2`", "slug"] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        let Mapped::Malformed(v) = read(&entry(&[("payload", "{not json")]), "me") else { panic!("accepted") };
        assert!(v[0].contains("`payload` is not JSON"), "{v:?}");
    }

    #[test]
    fn other_events_are_foreign_and_ours_are_recognised() {
        assert!(matches!(read(&entry(&[("event", "system.heartbeat")]), "me"), Mapped::Foreign));
        let own = entry(&[("_extra", r#"{"integrator_instance":"me"}"#)]);
        assert!(matches!(read(&own, "me"), Mapped::Own));
        assert!(matches!(read(&own, "someone-else"), Mapped::Event(_)));
    }
}
