//! Validation of canonical events: the payload shape of each type, and the checks of
//! slugs, branch names, object names, timestamps and one-line texts. Every violation is
//! listed at once.

use super::{BRANCH_PUSHED, DEPLOYMENT_COMPLETED, DEPLOYMENT_FAILED, DEPLOYMENT_STARTED, REVIEW_APPROVED};
use crate::clock;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Slug,
    Branch,
    Sha,
    Text,
    Time,
    Round,
    List,
}

/// The shape of one canonical type.
#[derive(Debug)]
pub struct Spec {
    pub(super) kind: &'static str,
    short: Option<&'static str>,
    fields: &'static [(&'static str, Field, bool)],
    pub(super) key: &'static [&'static str],
    pub(super) level: &'static str,
}

use Field::*;

const SPECS: &[Spec] = &[
    Spec {
        kind: REVIEW_APPROVED,
        short: Some("review-approved"),
        fields: &[
            ("slug", Slug, true),
            ("review_round", Round, true),
            ("reviewer_session_id", Text, true),
            ("approved_at", Time, true),
        ],
        key: &["slug", "review_round"],
        level: "workflow",
    },
    Spec {
        kind: BRANCH_PUSHED,
        short: Some("branch-pushed"),
        fields: &[
            ("branch", Branch, true),
            ("sha", Sha, true),
            ("remote", Text, true),
            ("pushed_at", Time, true),
            ("pusher", Text, true),
        ],
        key: &["branch", "sha", "remote"],
        level: "workflow",
    },
    Spec {
        kind: DEPLOYMENT_STARTED,
        short: Some("deployment-started"),
        fields: &[
            ("slug", Slug, true),
            ("branch", Branch, true),
            ("sha", Sha, true),
            ("worker_session_id", Text, true),
            ("orchestrator_session_id", Text, true),
            ("ready_at", Time, true),
        ],
        key: &["slug", "branch", "sha"],
        level: "workflow",
    },
    Spec {
        kind: DEPLOYMENT_COMPLETED,
        short: None,
        fields: &[
            ("slug", Slug, true),
            ("branch", Branch, true),
            ("sha", Sha, true),
            ("merge_commit", Sha, true),
            ("integrated_at", Time, true),
        ],
        key: &["slug", "merge_commit"],
        level: "workflow",
    },
    Spec {
        kind: DEPLOYMENT_FAILED,
        short: None,
        fields: &[
            ("slug", Slug, true),
            ("branch", Branch, true),
            ("sha", Sha, true),
            ("conflict_evidence", List, true),
            ("diagnostics", List, true),
            ("next_action", Text, true),
            ("blocked_at", Time, true),
            ("follow_up", Text, false),
        ],
        key: &["slug", "branch", "sha", "blocked_at"],
        level: "business",
    },
];

fn spec_for(kind: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.kind == kind || s.short == Some(kind))
}

/// The full canonical name of a type given as full name or short form.
pub fn canonical_type(kind: &str) -> Option<&'static str> {
    spec_for(kind).map(|s| s.kind)
}

/// Check a slug: `^[a-z0-9][a-z0-9._-]{0,127}$`, no `..`.
pub fn check_slug(s: &str) -> std::result::Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
        && !s.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!("slug `{}` must match ^[a-z0-9][a-z0-9._-]{{0,127}}$ without `..`", printable(s)))
    }
}

/// Check and normalise a branch name the way `git check-ref-format --branch` does,
/// never starting with `-`; a leading `refs/heads/` is stripped.
pub fn check_branch(s: &str) -> std::result::Result<String, String> {
    let name = s.strip_prefix("refs/heads/").unwrap_or(s);
    let bad = |why: &str| Err(format!("branch `{}` is not a valid branch name: {why}", printable(s)));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_BRANCH {
        return bad(&format!("{} bytes long (at most {MAX_BRANCH})", name.len()));
    }
    if name.starts_with('-') {
        return bad("starts with `-`");
    }
    if name == "HEAD" || name == "@" {
        return bad("reserved name");
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == ' ' || "~^:?*[\\".contains(*c)) {
        return bad(&format!("contains {c:?}"));
    }
    if name.contains("..") {
        return bad("contains `..`");
    }
    if name.contains("@{") {
        return bad("contains `@{`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return bad("empty path component");
    }
    if name.ends_with('.') {
        return bad("ends with `.`");
    }
    if name.split('/').any(|c| c.starts_with('.') || c.ends_with(".lock")) {
        return bad("a component starts with `.` or ends with `.lock`");
    }
    Ok(name.to_string())
}

/// Check and lower-case a full object name.
pub fn check_sha(s: &str, field: &str) -> std::result::Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if crate::git::is_full_sha(&lower) {
        Ok(lower)
    } else {
        Err(format!("{field} `{}` is not a full 40- or 64-hex object name", printable(s)))
    }
}

/// The longest one-line text field (ids, remote, next action), in bytes.
pub const MAX_TEXT: usize = 4096;
/// The longest branch name, in bytes (longer ones cannot be files on common filesystems).
pub const MAX_BRANCH: usize = 1024;
/// At most this many entries, each at most `MAX_LIST_ENTRY` bytes, in a list field.
pub const MAX_LIST: usize = 256;
pub const MAX_LIST_ENTRY: usize = 8192;
/// The longest bulk-ingest line, in bytes: a longer one is rejected before it is parsed.
pub const MAX_LINE: usize = 1 << 20;

/// Shorten and escape user input for an error message.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(|c| c.escape_debug()).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Validate a payload for `kind` (full or short name). Returns the normalised payload
/// (lower-case shas, UTC timestamps, branches without `refs/heads/`, `_` keys dropped)
/// or every violation.
pub fn validate(
    kind: &str,
    payload: &Map<String, Value>,
) -> std::result::Result<(&'static Spec, Map<String, Value>), Vec<String>> {
    let mut out = Map::new();
    let spec = check(kind, payload, |name, v| {
        out.insert(name.to_string(), v);
    })?;
    Ok((spec, out))
}

/// [`validate`], handing each normalised field to `keep` instead of building a payload.
pub(super) fn check(
    kind: &str,
    payload: &Map<String, Value>,
    mut keep: impl FnMut(&'static str, Value),
) -> std::result::Result<&'static Spec, Vec<String>> {
    let Some(spec) = spec_for(kind) else {
        return Err(vec![format!("type `{}` is not a canonical event type", printable(kind))]);
    };
    let mut errors = Vec::new();
    for name in payload.keys() {
        if name.starts_with('_') {
            continue;
        }
        if !spec.fields.iter().any(|(f, _, _)| f == name) {
            errors.push(format!("unknown payload field `{}`", printable(name)));
        }
    }
    for &(name, field, required) in spec.fields {
        let Some(value) = payload.get(name).filter(|v| !v.is_null()) else {
            if required {
                errors.push(format!("{name} is required"));
            }
            continue;
        };
        match check_value(name, field, value) {
            Ok(v) => keep(name, v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

fn check_value(name: &str, field: Field, value: &Value) -> std::result::Result<Value, String> {
    if field == Round {
        return match value.as_u64() {
            Some(n) if n >= 1 => Ok(Value::from(n)),
            _ => Err(format!("{name} must be an integer ≥ 1, got {value}")),
        };
    }
    if field == List {
        let items = value.as_array().ok_or_else(|| format!("{name} must be a list of strings"))?;
        if items.is_empty() {
            return Err(format!("{name} must have at least one entry"));
        }
        if items.len() > MAX_LIST {
            return Err(format!("{name} has {} entries (at most {MAX_LIST})", items.len()));
        }
        if items.iter().any(|i| i.as_str().is_some_and(|s| s.len() > MAX_LIST_ENTRY)) {
            return Err(format!("{name} entries must be at most {MAX_LIST_ENTRY} bytes"));
        }
        if items.iter().any(|i| i.as_str().is_none_or(|s| s.trim().is_empty())) {
            return Err(format!("{name} entries must be non-empty strings"));
        }
        return Ok(value.clone());
    }
    let s = value.as_str().ok_or_else(|| format!("{name} must be a string, got {value}"))?;
    if s.trim().is_empty() {
        return Err(format!("{name} must not be empty"));
    }
    let v = match field {
        Slug => check_slug(s).map(|_| s.to_string())?,
        Branch => check_branch(s)?,
        Sha => check_sha(s, name)?,
        Time => clock::parse(s).map(clock::format).map_err(|_| {
            format!(
                "{name}: `{}` is not an RFC 3339 timestamp with an offset (e.g. 2026-01-31T12:00:00Z)",
                printable(s)
            )
        })?,
        _ => {
            if s.len() > MAX_TEXT {
                return Err(format!("{name} is {} bytes long (at most {MAX_TEXT})", s.len()));
            }
            if s.contains(|c: char| c.is_control()) {
                return Err(format!("{name} `{}` must be a single line without control characters", printable(s)));
            }
            s.to_string()
        }
    };
    Ok(Value::String(v))
}

#[cfg(test)]
mod tests {
    use super::super::NewEvent;
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_violation_is_listed() {
        let p = obj(
            json!({"slug": "Bad", "branch": "-x", "sha": "zz", "worker_session_id": "", "orchestrator_session_id": "o", "ready_at": "2026-01-01T00:00:00", "extra": 1, "_note": "dropped"}),
        );
        let errs = validate("deployment-started", &p).unwrap_err();
        assert_eq!(errs.len(), 6, "{errs:?}");
    }

    #[test]
    fn normalises_and_keys() {
        let sha = "A".repeat(40);
        let p = obj(
            json!({"slug": "s", "branch": "refs/heads/feat/x", "sha": sha, "worker_session_id": "w", "orchestrator_session_id": "o", "ready_at": "2026-01-01T02:00:00+02:00", "_x": 1}),
        );
        let e = NewEvent::canonical("deployment-started", &p, "me").unwrap();
        assert_eq!(e.payload["branch"], "feat/x");
        assert_eq!(e.payload["ready_at"], "2026-01-01T00:00:00Z");
        assert!(!e.payload.contains_key("_x"));
        assert_eq!(e.key, format!("{DEPLOYMENT_STARTED}:s:feat/x:{}", "a".repeat(40)));
    }

    use proptest::prelude::*;

    const FIELDS: &[&str] = &[
        "slug",
        "branch",
        "sha",
        "remote",
        "pusher",
        "pushed_at",
        "review_round",
        "reviewer_session_id",
        "approved_at",
        "worker_session_id",
        "orchestrator_session_id",
        "ready_at",
        "merge_commit",
        "integrated_at",
        "conflict_evidence",
        "diagnostics",
        "next_action",
        "blocked_at",
        "follow_up",
        "_x",
        "x",
    ];

    fn value() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            "[a-z0-9._-]{1,12}",
            "[0-9a-fA-F]{40}",
            "(refs/heads/)?[a-zA-Z0-9/._@{}~^:?*\\\\ \\[-]{0,16}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](Z|[+-][01][0-9]:[0-5][0-9])?",
            ".{0,12}",
        ];
        let leaf = prop_oneof![
            text.prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Value::Array))
    }

    fn payload() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec((proptest::sample::select(FIELDS), value()), 0..10)
            .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn kind() -> impl Strategy<Value = String> {
        let mut known: Vec<String> = SPECS.iter().map(|s| s.kind.to_string()).collect();
        known.extend(SPECS.iter().filter_map(|s| s.short.map(str::to_string)));
        prop_oneof![proptest::sample::select(known), ".{0,20}"]
    }

    proptest! {
        /// Validation never panics; it either accepts a normalised payload (validating it
        /// again is a no-op, the key is built from it) or lists at least one violation.
        #[test]
        fn validation_accepts_a_normal_form_or_lists_violations(kind in kind(), payload in payload()) {
            match NewEvent::canonical(&kind, &payload, "src") {
                Ok(e) => {
                    let again = NewEvent::canonical(&e.kind, &e.payload, "src").unwrap();
                    prop_assert_eq!(&again.payload, &e.payload);
                    prop_assert_eq!(&again.key, &e.key);
                    prop_assert!(e.payload.keys().all(|k| !k.starts_with('_')));
                    let prefix = format!("{}:", e.kind);
                    prop_assert!(e.key.starts_with(&prefix));
                }
                Err(v) => prop_assert!(!v.is_empty()),
            }
        }

        /// Whatever `check_branch` accepts, `git check-ref-format --branch` accepts too.
        #[test]
        fn accepted_branches_are_valid_for_git(name in "[a-zA-Z0-9./@{}~^:?*\\[ _-]{1,16}") {
            if let Ok(b) = check_branch(&name) {
                let ok = std::process::Command::new("git")
                    .args(["check-ref-format", "--branch", &b])
                    .env("LC_ALL", "C")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(true);
                prop_assert!(ok, "git refuses the branch {:?} that check_branch accepted", b);
            }
        }
    }

    #[test]
    fn branch_rules() {
        for bad in [
            "-x", "a..b", "a b", "a/", "/a", "a//b", "a.lock", ".a", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b",
            "a@{1}", "HEAD", "a.", "a\tb",
        ] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
        for good in ["a", "feat/x-1", "a.b", "UPPER", "a@b"] {
            assert!(check_branch(good).is_ok(), "{good}");
        }
    }
}
