//! The knobs that bound a run (SPEC §8): `--time-budget`, `max_push_retries`,
//! `grace_secs`, checked against what lands on the bare remote.

use crate::support::{bin, jsonl, wait_for, Sandbox, CUTOVER};

fn cutover_with(sb: &Sandbox, keys: &str) {
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{keys}")));
}

fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    jsonl(&sb.state().join("events.jsonl")).into_iter().filter(|e| e["type"] == kind).collect()
}

fn status_of(sb: &Sandbox, sha: &str) -> String {
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let items = q["items"].as_array().unwrap();
    let item = items.iter().find(|i| i["sha"] == sha).unwrap_or_else(|| panic!("no item {sha}: {q:#}"));
    item["status"].as_str().unwrap().to_string()
}

#[test]
fn a_time_budget_stops_the_drain_between_candidates() {
    let sb = Sandbox::new();
    // Each verify takes longer than the whole budget: one candidate, then the run stops.
    cutover_with(&sb, "verify = \"sleep 1.2\"\n");
    let shas: Vec<String> = (0..3)
        .map(|i| {
            let sha = sb.branch(&format!("b{i}"), &format!("f{i}.txt"), "x\n");
            sb.ready(&format!("s{i}"), &format!("b{i}"), &sha, &format!("2026-01-01T10:0{i}:00Z"));
            sha
        })
        .collect();
    sb.ok(&["run", "--time-budget", "1"]);
    assert!(sb.is_ancestor_of_main(&shas[0]), "the first candidate is applied");
    for sha in &shas[1..] {
        assert!(!sb.is_ancestor_of_main(sha), "the budget was spent before {sha}");
        assert_eq!(status_of(&sb, sha), "queued");
    }
    sb.ok(&["run"]);
    assert!(shas.iter().all(|s| sb.is_ancestor_of_main(s)), "the next run drains the rest");
}

#[test]
fn a_push_rejected_more_than_max_push_retries_times_blocks_the_candidate() {
    for retries in [0usize, 2] {
        let sb = Sandbox::new();
        let mover = sb.root.join("mover");
        sb.git(&sb.root, &["clone", "-q", "origin.git", "mover"]);
        // Every verify lets someone else land on main first: every push is rejected.
        let verify = format!(
            "git -C {m} commit -q --allow-empty -m moved && git -C {m} push -q origin HEAD:refs/heads/main",
            m = mover.display()
        );
        cutover_with(&sb, &format!("max_push_retries = {retries}\nverify = \"{verify}\"\n"));
        let sha = sb.branch("feat", "f.txt", "f\n");
        sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
        sb.ok(&["run"]);
        let rejected = events_of(&sb, "integration.push.rejected");
        assert_eq!(rejected.len(), retries + 1, "max_push_retries = {retries}: the first push and {retries} retries");
        assert_eq!(status_of(&sb, &sha), "blocked");
        assert!(!sb.is_ancestor_of_main(&sha));
        let failed = events_of(&sb, "domain.software-development.deployment.failed");
        assert_eq!(failed.len(), 1, "{failed:#?}");
        assert!(failed[0].to_string().contains("push rejected"), "{:#}", failed[0]);
    }
}

#[test]
fn grace_secs_keeps_the_lease_for_a_late_event_and_the_same_run_lands_it() {
    let sb = Sandbox::new();
    cutover_with(&sb, "grace_secs = 3\n");
    let first = sb.branch("b1", "f1.txt", "1\n");
    let late = sb.branch("b2", "f2.txt", "2\n");
    sb.ready("s1", "b1", &first, "2026-01-01T10:00:00Z");
    let mut run = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    wait_for("the run's grace period", 20, || sb.read_state("checkpoint.json").contains("\"phase\": \"grace\""));
    assert!(sb.is_ancestor_of_main(&first));
    // A candidate that becomes READY while the run waits: the same run takes it.
    sb.ready("s2", "b2", &late, "2026-01-01T10:01:00Z");
    assert!(run.wait().unwrap().success());
    assert!(sb.is_ancestor_of_main(&late), "the late candidate landed before the lease was released");
    assert_eq!(events_of(&sb, "integration.started").len(), 1, "one run did both");
}
