//! Recording events: validation, idempotency, bulk ingest, damaged logs.

use crate::support::{jsonl, Sandbox};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn emit_records_an_envelope_and_a_duplicate_is_a_noop() {
    let sb = Sandbox::new();
    let out = sb.ok(&[
        "emit",
        "deployment-started",
        "--slug",
        "s1",
        "--branch",
        "feat",
        "--sha",
        SHA,
        "--at",
        "2026-01-01T02:00:00+02:00",
    ]);
    assert!(out.contains("recorded domain.software-development.deployment.started"), "{out}");
    let before = std::fs::read(sb.state().join("events.jsonl")).unwrap();
    let out = sb.ok(&["emit", "finalize-ready", "--slug", "s1", "--branch", "feat", "--sha", &SHA.to_uppercase()]);
    assert!(out.contains("duplicate"), "{out}");
    assert_eq!(std::fs::read(sb.state().join("events.jsonl")).unwrap(), before, "a duplicate leaves the log unchanged");
    let evs = jsonl(&sb.state().join("events.jsonl"));
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert_eq!(e["v"], 1);
    assert_eq!(e["type"], "domain.software-development.deployment.started");
    assert_eq!(e["key"], format!("domain.software-development.deployment.started:s1:feat:{SHA}"));
    assert_eq!(e["level"], "workflow");
    assert_eq!(e["payload"]["ready_at"], "2026-01-01T00:00:00Z");
    assert_eq!(e["payload"]["worker_session_id"], "tester");
    assert_eq!(e["id"].as_str().unwrap().len(), 36);
}

#[test]
fn every_invalid_input_exits_2_lists_all_violations_and_writes_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["emit", "review-approved", "--slug", "ok", "--round", "1"]);
    let log = sb.state().join("events.jsonl");
    let before = std::fs::read(&log).unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "emit",
                "deployment-started",
                "--slug",
                "Bad..Slug",
                "--branch",
                "-evil",
                "--sha",
                "xyz",
                "--at",
                "2026-01-01T00:00:00",
            ],
            &["slug `Bad..Slug`", "starts with `-`", "sha `xyz`", "RFC 3339"],
        ),
        (&["emit", "deployment-started", "--slug", "s", "--branch", "a..b", "--sha", SHA], &["contains `..`"]),
        (&["emit", "review-approved", "--slug", "s", "--round", "0"], &["review_round must be an integer ≥ 1"]),
        (&["emit", "branch-pushed", "--branch", "has space", "--sha", "12345"], &["contains ' '", "sha `12345`"]),
    ];
    for (args, needles) in cases {
        let (code, _, err) = sb.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{args:?}: missing {n:?} in\n{err}");
        }
        assert_eq!(std::fs::read(&log).unwrap(), before, "{args:?} wrote to the log");
    }
    // An unknown payload field through bulk ingest is rejected, the good line recorded.
    let input = "{\"type\":\"review-approved\",\"payload\":{\"slug\":\"x\",\"review_round\":1,\"reviewer_session_id\":\"r\",\"approved_at\":\"2026-01-01T00:00:00Z\",\"colour\":\"red\"}}\n{\"type\":\"review-approved\",\"payload\":{\"slug\":\"y\",\"review_round\":2,\"reviewer_session_id\":\"r\",\"approved_at\":\"2026-01-01T00:00:00Z\",\"_trace\":\"dropped\"}}\n".to_string();
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("recorded 1 / duplicate 0 / rejected 1"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: unknown payload field `colour`"));
    let evs = jsonl(&log);
    assert_eq!(evs.len(), 2);
    assert!(evs[1]["payload"].get("_trace").is_none());
}

#[test]
fn bulk_ingest_counts_recorded_and_duplicate() {
    let sb = Sandbox::new();
    let mut input = String::new();
    for i in 0..50 {
        input.push_str(&format!(
            "{{\"type\":\"domain.software-development.branch.pushed\",\"payload\":{{\"branch\":\"b{i}\",\"sha\":\"{SHA}\",\"remote\":\"origin\",\"pushed_at\":\"2026-01-01T00:00:00Z\",\"pusher\":\"p\"}},\"source\":\"bulk\"}}\n"
        ));
    }
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input.clone()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("recorded 50 / duplicate 0 / rejected 0"));
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("recorded 0 / duplicate 50 / rejected 0"));
    assert_eq!(jsonl(&sb.state().join("events.jsonl"))[0]["source"], "bulk");
}

#[test]
fn torn_and_corrupt_lines_are_reported_skipped_and_lose_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["emit", "review-approved", "--slug", "a", "--round", "1"]);
    let log = sb.state().join("events.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("this is not json\n");
    std::fs::write(&log, &text).unwrap();
    sb.ok(&["emit", "review-approved", "--slug", "b", "--round", "1"]);
    // A torn last line: a writer died mid-record.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"{\"v\":1,\"id\":\"torn").unwrap();
    let st = sb.status_json();
    assert_eq!(st["log"], serde_json::json!({"lines": 3, "skipped": 1, "torn": 1}));
    let human = sb.ok(&["status"]);
    assert!(human.contains("log: 3 lines, 1 skipped, 1 torn"), "{human}");
    // The next append starts on a fresh line and every good record survives.
    sb.ok(&["emit", "review-approved", "--slug", "c", "--round", "1"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("{\"v\":1,\"id\":\"torn\n{"), "torn line closed before the next record");
    let slugs: Vec<String> = jsonl(&log).iter().map(|e| e["payload"]["slug"].as_str().unwrap().to_string()).collect();
    assert_eq!(slugs, ["a", "b", "c"]);
    let st = sb.status_json();
    assert_eq!(st["log"], serde_json::json!({"lines": 5, "skipped": 2, "torn": 0}));
    let notes = sb.ok(&["notifications", "--json"]);
    assert!(notes.contains("\"slug\": \"c\""), "{notes}");
}
