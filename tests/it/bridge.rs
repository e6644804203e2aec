//! The event bus (README "Event bus"): a real redis-server per test; the platform's side
//! writes envelopes in its wire format, the integrator reads, lands, and writes back.

use crate::support::redis::{entries, entries_of, envelope, json_field, pending, platform_ready, xadd, Redis};
use crate::support::{jsonl, Sandbox, CUTOVER};
use serde_json::{json, Value};

const COMPLETED: &str = "domain.software-development.deployment.completed";
const FAILED: &str = "domain.software-development.deployment.failed";
const APPROVED: &str = "domain.software-development.review.approved";

fn bridged(extra: &str) -> (Sandbox, Redis) {
    let sb = Sandbox::new();
    let redis = Redis::start(&sb.root.join("redis"));
    sb.config(&format!("{CUTOVER}{extra}{}", redis.config()));
    (sb, redis)
}

fn events_of(sb: &Sandbox, kind: &str) -> Vec<Value> {
    jsonl(&sb.state().join("events.jsonl")).into_iter().filter(|e| e["type"] == kind).collect()
}

fn outbox(sb: &Sandbox) -> usize {
    std::fs::read_dir(sb.state().join("bridge/outbox")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn platform_envelopes_make_a_candidate_ready_and_its_landing_goes_on_the_stream() {
    let (sb, redis) = bridged("");
    let mut con = redis.con();
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    platform_ready(&mut con, "s1", "feat", &sha, "2026-01-01T10:00:00Z");
    let out = sb.ok(&["run"]);
    assert!(out.contains("integrated") && out.contains("s1"), "{out}");
    assert!(sb.is_ancestor_of_main(&sha));
    let approved = events_of(&sb, APPROVED);
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["source"], "daemon@platform");
    let done = entries_of(&mut con, COMPLETED);
    assert_eq!(done.len(), 1, "{:#?}", entries(&mut con));
    let e = &done[0];
    let main = sb.origin_ref("main").unwrap();
    for (k, v) in [("level", "2"), ("domain", "software-development"), ("entity", "s1"), ("visibility", "cluster")] {
        assert_eq!(e[k], v, "{k} of {e:?}");
    }
    assert_eq!(e["version"], "1");
    assert_eq!(e["source"], "teleclaude-integrator");
    assert_eq!(e["idempotency_key"], format!("{COMPLETED}:s1:{main}"));
    assert!(e["description"].contains("s1") && !e["description"].contains('\n'), "{e:?}");
    assert_eq!(json_field(e, "payload")["merge_commit"], main.as_str());
    let extra = json_field(e, "_extra");
    assert_eq!(extra["actionable"], false);
    assert_eq!(extra["notification"]["lifecycle"], "resolves");
    assert_eq!(outbox(&sb), 0, "delivered and removed");
    assert_eq!(pending(&mut con), 0, "everything read was acknowledged");
    // Our own entry read back is recognised, not ingested again.
    let again = sb.ok(&["bridge", "--once"]);
    assert!(again.contains("recorded 0") && again.contains("own 1"), "{again}");
    assert_eq!(events_of(&sb, COMPLETED).len(), 1);
}

#[test]
fn a_conflict_puts_an_actionable_failure_with_its_paths_on_the_stream() {
    let (sb, redis) = bridged("");
    let mut con = redis.con();
    let sha = sb.branch("clash", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    platform_ready(&mut con, "s2", "clash", &sha, "2026-01-01T10:00:00Z");
    let out = sb.ok(&["run"]);
    assert!(out.contains("blocked"), "{out}");
    let failed = entries_of(&mut con, FAILED);
    assert_eq!(failed.len(), 1, "{:#?}", entries(&mut con));
    let e = &failed[0];
    assert_eq!(e["level"], "3");
    assert_eq!(e["entity"], "s2");
    let extra = json_field(e, "_extra");
    assert_eq!(extra["actionable"], true);
    assert_eq!(extra["notification"]["lifecycle"], "updates");
    assert_eq!(extra["notification"]["unseen"], true);
    let payload = json_field(e, "payload");
    assert!(payload["conflict_evidence"].as_array().unwrap().iter().any(|p| p == "shared.txt"), "{payload:#}");
    assert!(e["description"].contains("shared.txt"), "{e:?}");
    let note = format!("followups/s2-integration-blocked-{}.md", &sha[..7]);
    assert!(sb.state().join(&note).is_file(), "{note} missing");
    assert_eq!(payload["follow_up"], format!("s2-integration-blocked-{}", &sha[..7]));
}

/// The projection a reader sees, without the times a state dir stamps itself.
fn projection(sb: &Sandbox, dir: &std::path::Path) -> (Value, Value) {
    let out = |args: &[&str]| -> Value {
        let o = sb.integrator_in(dir).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let mut status = out(&["status", "--json", "--all"]);
    let candidates = status["candidates"].as_array_mut().unwrap();
    candidates.sort_by_key(|c| c["slug"].as_str().unwrap().to_string());
    // BLOCKED is the queue's word for a READY candidate its clone tried and blocked: a
    // fresh clone has no queue yet, so compare what the log and git say.
    for c in candidates.iter_mut().filter(|c| c["state"] == "BLOCKED") {
        c["state"] = "READY".into();
        c["reasons"] = serde_json::json!([]);
    }
    let mut notes = out(&["notifications", "--json", "--all"]);
    for n in notes["notifications"].as_array_mut().unwrap() {
        n.as_object_mut().unwrap().remove("updated_at");
    }
    (status["candidates"].clone(), notes)
}

#[test]
fn a_fresh_clone_rebuilds_the_same_projection_from_the_streams_history() {
    let (sb, redis) = bridged("");
    let mut con = redis.con();
    let a = sb.branch("fa", "a.txt", "a\n");
    let b = sb.branch("fb", "shared.txt", "theirs\n");
    platform_ready(&mut con, "sa", "fa", &a, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    sb.land_on_main("shared.txt", "ours\n");
    platform_ready(&mut con, "sb", "fb", &b, "2026-01-01T11:00:00Z");
    let approved =
        json!({"slug": "sc", "review_round": 2, "reviewer_session_id": "r", "approved_at": "2026-01-01T12:00:00Z"});
    xadd(&mut con, &envelope(APPROVED, &approved, &[]));
    sb.ok(&["run"]);
    sb.ok(&["bridge", "--once"]);
    let fresh = sb.root.join("fresh");
    sb.git(&sb.root, &["clone", "-q", "origin.git", fresh.to_str().unwrap()]);
    let state = fresh.join(".git/teleclaude");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("config.toml"), format!("{CUTOVER}{}", redis.config())).unwrap();
    let replay = sb.integrator_in(&fresh).args(["bridge", "--once"]).output().unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    sb.git(&fresh, &["fetch", "-q", "origin"]);
    let local = projection(&sb, &sb.work);
    let rebuilt = projection(&sb, &fresh);
    assert_eq!(local, rebuilt);
    let states: Vec<&str> =
        local.1["notifications"].as_array().unwrap().iter().map(|n| n["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["resolved", "failed", "approved"], "{local:#?}");
}

#[test]
fn redis_stopped_mid_run_the_run_lands_from_the_local_log_and_catches_up_later() {
    let sb = Sandbox::new();
    let mut redis = Redis::start_persistent(&sb.root.join("redis"));
    let pid = redis.pid();
    // Wait until the port is closed (the killed server stays a zombie of this test until reaped).
    let port = redis.port;
    let verify =
        format!("verify = \"kill {pid}; while redis-cli -p {port} ping >/dev/null 2>&1; do sleep 0.05; done\"\n");
    let cfg = CUTOVER.replace("[cutover]", &format!("{verify}[cutover]"));
    sb.config(&format!("{cfg}{}", redis.config()));
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    platform_ready(&mut redis.con(), "s1", "feat", &sha, "2026-01-01T10:00:00Z");
    let (code, out, err) = sb.run(&["run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(sb.is_ancestor_of_main(&sha), "landed while Redis was down: {out}");
    assert_eq!(err.matches("event bus unavailable").count(), 1, "said once: {err}");
    assert_eq!(outbox(&sb), 1, "deployment.completed waits in the outbox");
    let status = sb.ok(&["status"]);
    assert!(status.contains("UNREACHABLE") && status.contains("outbox 1"), "{status}");
    redis.restart();
    let mut con = redis.con();
    let late =
        json!({"slug": "s9", "review_round": 1, "reviewer_session_id": "r", "approved_at": "2026-01-01T12:00:00Z"});
    xadd(&mut con, &envelope(APPROVED, &late, &[]));
    let once = sb.ok(&["bridge", "--once"]);
    assert!(once.contains("published 1") && once.contains("recorded 1"), "{once}");
    assert_eq!(entries_of(&mut con, COMPLETED).len(), 1);
    assert_eq!(outbox(&sb), 0);
    assert!(events_of(&sb, APPROVED).iter().any(|e| e["payload"]["slug"] == "s9"));
    let status = sb.status_json();
    assert_eq!(status["bridge"]["state"], "ok", "{status:#}");
    assert_eq!(status["bridge"]["outbox"], 0);
}

#[test]
fn a_trimmed_gap_and_malformed_entries_are_reported_acknowledged_and_write_nothing() {
    let (sb, redis) = bridged("");
    let mut con = redis.con();
    sb.ok(&["bridge", "--once"]);
    let ok =
        json!({"slug": "s1", "review_round": 1, "reviewer_session_id": "r", "approved_at": "2026-01-01T10:00:00Z"});
    let bad_slug = json!({"slug": "Not A Slug", "review_round": 0, "reviewer_session_id": "r", "approved_at": "2026-01-01T10:00:00Z"});
    for over in [vec![("payload", "{\"slug\": ")], vec![("level", "9")], vec![("domain", "")], vec![("version", "2")]] {
        xadd(&mut con, &envelope(APPROVED, &ok, &over));
    }
    xadd(&mut con, &envelope(APPROVED, &bad_slug, &[]));
    xadd(&mut con, &envelope("system.heartbeat", &json!({}), &[]));
    let (code, out, err) = sb.run(&["bridge", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("recorded 0") && out.contains("rejected 5") && out.contains("not ours 1"), "{out}");
    for why in ["`payload` is not JSON", "`level` = `9`", "missing field `domain`", "`version` = `2`", "slug"] {
        assert!(err.contains(why), "{why} not reported: {err}");
    }
    assert!(jsonl(&sb.state().join("events.jsonl")).is_empty(), "nothing written");
    assert_eq!(pending(&mut con), 0, "acknowledged, never retried");
    // 20 more, trimmed to the last 5 before the bridge reads them.
    for n in 0..20 {
        let p = json!({"slug": format!("g{n}"), "review_round": 1, "reviewer_session_id": "r", "approved_at": "2026-01-01T10:00:00Z"});
        let mut cmd = redis::cmd("XADD");
        cmd.arg(crate::support::redis::STREAM).arg("MAXLEN").arg(5).arg("*");
        for (k, v) in envelope(APPROVED, &p, &[]) {
            cmd.arg(k).arg(v);
        }
        let _: String = cmd.query(&mut con).unwrap();
    }
    let (code, _, err) = sb.run(&["bridge", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("15 entries after"), "{err}");
    assert_eq!(events_of(&sb, APPROVED).len(), 5);
    let s = sb.status_json();
    let gap = &s["bridge"]["gaps"][0];
    assert_eq!(gap["lost"], 15, "{s:#}");
    assert_eq!(s["bridge"]["rejected"].as_array().unwrap().len(), 5);
    let text = sb.ok(&["status"]);
    assert!(
        text.contains(&format!(
            "GAP: 15 entries after {} before {}",
            gap["after"].as_str().unwrap(),
            gap["before"].as_str().unwrap()
        )),
        "{text}"
    );
    let doctor: Value =
        serde_json::from_slice(&sb.integrator().args(["doctor", "--json"]).output().unwrap().stdout).unwrap();
    let violations = crate::schemas::Schemas::load().violations("doctor", &doctor);
    assert!(violations.is_empty(), "doctor --json with the bridge on: {violations:#?}");
    let found = doctor["findings"].as_array().unwrap().iter().find(|f| f["check"] == "bridge gap").cloned();
    assert!(found.is_some_and(|f| f["message"].as_str().unwrap().contains("15 entries")), "{doctor:#}");
}
