//! Resolved history leaves `projection.json` and `queue.json` for their archives, so what
//! `status` reads after a run is the size of the open work; every view and every decision
//! stays what the whole log says.

use crate::support::{Sandbox, CUTOVER};
use serde_json::Value;

fn json(sb: &Sandbox, args: &[&str]) -> Value {
    serde_json::from_str(&sb.ok(args)).unwrap_or_else(|e| panic!("integrator {args:?}: {e}"))
}

fn states(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["branch"].as_str().unwrap().to_string(), c["state"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn resolved_slugs_leave_the_snapshot_and_the_queue_but_stay_in_the_all_views() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    for i in 0..3 {
        let name = format!("done{i}");
        let sha = sb.branch(&name, &format!("{name}.txt"), "x\n");
        sb.ready(&name, &name, &sha, &format!("2026-01-01T10:0{i}:00Z"));
    }
    // Open work: declared but never approved.
    let open = sb.branch("open", "open.txt", "o\n");
    sb.ok(&["emit", "deployment-started", "--slug", "open", "--branch", "open", "--sha", &open]);
    sb.ok(&["run"]);

    let snapshot = sb.read_state("projection.json");
    for i in 0..3 {
        assert!(!snapshot.contains(&format!("done{i}")), "done{i} is resolved history: {snapshot}");
    }
    assert!(snapshot.contains("\"open\""), "{snapshot}");
    let queue: Value = serde_json::from_str(&sb.read_state("queue.json")).unwrap();
    assert_eq!(queue["items"], serde_json::json!([]), "{queue:#}");
    assert_eq!(queue["archived"]["integrated"], 3, "{queue:#}");

    let status = sb.status_json();
    assert_eq!(states(&status), [("open".to_string(), "NOT_READY".to_string())]);
    assert_eq!(status["queue"]["counts"]["integrated"], 3, "archived items are counted");
    let all = json(&sb, &["status", "--json", "--all"]);
    let mut expected: Vec<(String, String)> = (0..3).map(|i| (format!("done{i}"), "INTEGRATED".to_string())).collect();
    expected.push(("open".into(), "NOT_READY".into()));
    assert_eq!(states(&all), expected);
    let items = json(&sb, &["queue", "--json", "--all"]);
    let items: Vec<(&str, &str)> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["slug"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(items, [("done0", "integrated"), ("done1", "integrated"), ("done2", "integrated")]);
    let notes = json(&sb, &["notifications", "--json", "--all"]);
    let resolved = notes["notifications"].as_array().unwrap().iter().filter(|n| n["state"] == "resolved").count();
    assert_eq!(resolved, 3, "{notes:#}");
    // A second run has nothing to do and archives nothing twice.
    sb.ok(&["run"]);
    let archived = sb.read_state("queue.archive.jsonl");
    assert_eq!(archived.lines().count(), 3, "{archived}");
}

/// A cutover sandbox where `slug` landed from `branch` (ready at `at`); returns its sha.
fn landed(slug: &str, branch: &str, at: &str) -> (Sandbox, String) {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let sha = sb.branch(branch, &format!("{branch}.txt"), "x\n");
    sb.ready(slug, branch, &sha, at);
    sb.ok(&["run"]);
    assert_eq!(sb.integrated_count(&sha), 1);
    (sb, sha)
}

/// A new round of `slug`: a branch with one commit, approved (`round`), pushed and
/// declared ready at `at`; returns its sha.
fn new_round(sb: &Sandbox, slug: &str, round: u32, branch: &str, at: &str) -> String {
    let sha = sb.branch(branch, &format!("{branch}.txt"), &format!("{branch}\n"));
    sb.ok(&["emit", "review-approved", "--slug", slug, "--round", &round.to_string()]);
    sb.ok(&["emit", "branch-pushed", "--branch", branch, "--sha", &sha]);
    sb.ok(&["emit", "deployment-started", "--slug", slug, "--branch", branch, "--sha", &sha, "--at", at]);
    sha
}

#[test]
fn an_event_about_an_archived_slug_brings_its_history_back() {
    let (sb, v2) = landed("s", "s-v2", "2026-01-01T12:00:00Z");
    assert!(!sb.read_state("projection.json").contains("s-v2"), "s is archived");

    // A late, approved and pushed candidate of s that is older than the merged one: the
    // whole log says it is superseded, so it must never land.
    let v1 = new_round(&sb, "s", 2, "s-v1", "2026-01-01T11:00:00Z");
    let status = sb.status_json();
    let c = status["candidates"].as_array().unwrap().iter().find(|c| c["branch"] == "s-v1").cloned().unwrap();
    assert_eq!(c["state"], "SUPERSEDED", "{status:#}");
    assert_eq!(c["superseded_by"], format!("s-v2@{v2}"));
    sb.ok(&["run"]);
    assert!(!sb.is_ancestor_of_main(&v1), "a superseded candidate never lands");

    // A newer round of s lands, once; the merged one stays merged once.
    let v3 = sb.branch("s-v3", "s3.txt", "v3\n");
    sb.ready("s", "s-v3", &v3, "2026-01-01T13:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(sb.integrated_count(&v3), 1);
    assert_eq!(sb.integrated_count(&v2), 1);
    // Seen on an archived slug's notification works like on any other.
    sb.ok(&["run"]);
    assert!(!sb.read_state("projection.json").contains("\"s\""), "s is resolved again");
    assert_eq!(sb.ok(&["notifications", "seen", "s"]), "s: seen\n");
}

#[test]
fn a_lost_archive_is_rebuilt_from_the_log() {
    let (sb, _) = landed("gone", "gone", "2026-01-01T10:00:00Z");
    let reference = json(&sb, &["status", "--json", "--all"]);
    std::fs::remove_file(sb.state().join("projection.archive.jsonl")).unwrap();
    let again = json(&sb, &["status", "--json", "--all"]);
    assert_eq!(again["candidates"], reference["candidates"]);
    assert_eq!(states(&again), [("gone".to_string(), "INTEGRATED".to_string())]);
    // status replayed the log and left the rewrite to the next run.
    assert!(!sb.state().join("projection.archive.jsonl").exists());
    sb.ok(&["run"]);
    assert!(sb.read_state("projection.archive.jsonl").contains("slug:gone"), "written again");
    assert!(!sb.read_state("projection.json").contains("\"gone\""));
    assert_eq!(json(&sb, &["status", "--json", "--all"])["candidates"], reference["candidates"]);
}

/// `n` merged slugs (approved, pushed, started, completed) and two open ones, as bulk input.
fn history(n: usize) -> String {
    let mut input = String::new();
    let p = "domain.software-development.";
    for i in 0..n + 2 {
        let (slug, sha, merge) = (format!("h{i:05}"), format!("{:040x}", i + 1), format!("{:040x}", i + 1_000_000));
        let at = "2026-01-01T10:00:00Z";
        input.push_str(&format!(
            "{{\"type\":\"{p}review.approved\",\"payload\":{{\"slug\":\"{slug}\",\"review_round\":1,\"reviewer_session_id\":\"r\",\"approved_at\":\"{at}\"}}}}\n\
             {{\"type\":\"{p}branch.pushed\",\"payload\":{{\"branch\":\"{slug}\",\"sha\":\"{sha}\",\"remote\":\"origin\",\"pushed_at\":\"{at}\",\"pusher\":\"p\"}}}}\n\
             {{\"type\":\"{p}deployment.started\",\"payload\":{{\"slug\":\"{slug}\",\"branch\":\"{slug}\",\"sha\":\"{sha}\",\"worker_session_id\":\"w\",\"orchestrator_session_id\":\"o\",\"ready_at\":\"{at}\"}}}}\n"
        ));
        if i < n {
            input.push_str(&format!(
                "{{\"type\":\"{p}deployment.completed\",\"payload\":{{\"slug\":\"{slug}\",\"branch\":\"{slug}\",\"sha\":\"{sha}\",\"merge_commit\":\"{merge}\",\"integrated_at\":\"{at}\"}}}}\n"
            ));
        }
    }
    input
}

#[test]
fn what_status_reads_after_a_run_does_not_grow_with_history() {
    let mut sizes = Vec::new();
    for n in [10, 1000] {
        let sb = Sandbox::new();
        sb.config("[integrator]\nmode = \"shadow\"\n");
        let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(history(n)).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        sb.ok(&["run"]);
        let snapshot = sb.read_state("projection.json");
        // The open slugs are there; no merged one is.
        assert!(snapshot.contains(&format!("\"h{n:05}\"")) && snapshot.contains(&format!("\"h{:05}\"", n + 1)));
        assert!(!snapshot.contains("\"h00000\""), "{snapshot}");
        // Digits aside (log offset, line counts, generation id), the snapshot is the same.
        let shape: String = snapshot.chars().filter(|c| !c.is_ascii_hexdigit() && *c != '-').collect();
        sizes.push((snapshot.len(), shape));
        let all = json(&sb, &["status", "--json", "--all"]);
        assert_eq!(all["candidates"].as_array().unwrap().len(), n + 2);
    }
    let ((small, a), (large, b)) = (&sizes[0], &sizes[1]);
    assert_eq!(a, b, "the snapshot's shape does not depend on the length of history");
    assert!(large - small < 16, "snapshot {small} bytes after 10 merged slugs, {large} after 1000");
}

#[test]
fn a_status_between_runs_does_not_strand_a_queued_item() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    // The old path lands it and records the completion; a `status` archives the slug
    // before the next run has settled its queue item.
    sb.git(&sb.work, &["push", "-q", "origin", &format!("{sha}:refs/heads/main")]);
    let line = format!(
        "{{\"type\":\"domain.software-development.deployment.completed\",\"payload\":{{\"slug\":\"s\",\"branch\":\"feat\",\"sha\":\"{sha}\",\"merge_commit\":\"{sha}\",\"integrated_at\":\"2026-01-01T12:00:00Z\"}}}}\n"
    );
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(line).output().unwrap();
    assert!(out.status.success());
    sb.ok(&["status"]);
    assert!(!sb.read_state("projection.json").contains("\"feat\""), "status archived the slug");
    sb.ok(&["run"]);
    let q: Value = serde_json::from_str(&sb.read_state("queue.json")).unwrap();
    assert_eq!(q["items"], serde_json::json!([]), "{q:#}");
    assert_eq!(q["archived"]["integrated"], 1, "{q:#}");
    let parity = json(&sb, &["parity", "--json"]);
    assert_eq!((parity["samples"].as_u64(), parity["agree"].as_u64()), (Some(1), Some(1)), "{parity:#}");
}

#[test]
fn a_dropped_candidate_is_not_taken_up_again_when_its_slug_reopens() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let c1 = sb.branch("c1", "c1.txt", "1\n");
    sb.ready("s", "c1", &c1, "2026-01-01T10:00:00Z");
    sb.ok(&["run", "--max-items", "0"]);
    sb.ok(&["queue", "drop", "s", "--reason", "replaced"]);
    let c2 = sb.branch("c2", "c2.txt", "2\n");
    sb.ready("s", "c2", &c2, "2026-01-01T11:00:00Z");
    sb.ok(&["run"]);
    // A new round of the archived slug brings back its history, the drop included.
    let c3 = new_round(&sb, "s", 2, "c3", "2026-01-01T12:00:00Z");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&c3) && !sb.is_ancestor_of_main(&c1));
    let counts = &sb.status_json()["queue"]["counts"];
    assert_eq!((counts["superseded"].as_u64(), counts["integrated"].as_u64()), (Some(1), Some(2)), "{counts:#}");
    let outcomes = sb.read_state("outcomes.jsonl");
    let c1_outcomes = outcomes.lines().filter(|l| l.contains(&c1) && l.contains("\"superseded\"")).count();
    assert_eq!(c1_outcomes, 0, "the drop records no outcome, and reopening the slug adds none: {outcomes}");
}
