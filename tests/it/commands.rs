//! The reading and housekeeping commands: status keys, queue retry/drop, log, lease renewal.

use crate::support::{bin, Sandbox};
use std::time::Duration;

use crate::support::CUTOVER;

#[test]
fn status_json_has_the_documented_keys() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let st = sb.status_json();
    for key in ["mode", "lease", "candidates", "queue", "last_run", "notifications", "log"] {
        assert!(st.get(key).is_some(), "status lacks {key}: {st:#}");
    }
    assert_eq!(st["queue"]["counts"]["queued"], 1);
    let item = &st["queue"]["items"][0];
    for key in ["slug", "branch", "sha", "ready_at", "status", "status_reason", "status_at", "attempts", "last_outcome"]
    {
        assert!(item.get(key).is_some(), "queue item lacks {key}");
    }
    let c = &st["candidates"][0];
    for key in ["slug", "branch", "sha", "ready_at", "state", "reasons", "superseded_by"] {
        assert!(c.get(key).is_some(), "candidate lacks {key}");
    }
    assert_eq!(st["last_run"]["mode"]["effective"], "shadow");
    assert_eq!(st["last_run"]["phase"], "done");
    assert_eq!(st["lease"]["held"], false);
}

#[test]
fn queue_retry_needs_a_ready_blocked_item_and_drop_supersedes() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let bad = sb.branch("bad", "shared.txt", "x\n");
    sb.land_on_main("shared.txt", "y\n");
    sb.ready("bad", "bad", &bad, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    // The remote branch disappears: retry re-checks readiness and refuses with the reasons.
    sb.git(&sb.work, &["push", "-q", "origin", ":refs/heads/bad"]);
    sb.git(&sb.work, &["fetch", "-q", "--prune", "origin"]);
    let (code, _, err) = sb.run(&["queue", "retry", "bad"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("sha {bad} is not reachable from origin/bad")), "{err}");
    let (code, _, err) = sb.run(&["queue", "retry", "nobody"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no blocked item for slug `nobody`"), "{err}");
    let (code, _, err) = sb.run(&["queue", "drop", "bad", "--reason", "  "]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = sb.run(&["queue", "drop", "bad", "--reason", &"x".repeat(1001)]);
    assert_eq!(code, 2, "a 1,001-character reason: {err}");
    assert!(err.contains("--reason must be one line of 1 to 1000 characters"), "{err}");
    assert!(sb.ok(&["queue", "drop", "bad", "--reason", "abandoned"]).contains("dropped"));
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let item = &q["items"][0];
    assert_eq!(item["status"], "superseded");
    assert_eq!(item["status_reason"], "dropped: abandoned");
    let hist: Vec<(String, String)> = item["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap_or("-").to_string(), t["to"].as_str().unwrap().to_string()))
        .collect();
    let want = [("-", "queued"), ("queued", "in_progress"), ("in_progress", "blocked"), ("blocked", "superseded")];
    assert_eq!(hist, want.map(|(a, b)| (a.to_string(), b.to_string())));
    let human = sb.ok(&["queue", "--all"]);
    assert!(human.contains("blocked → superseded: dropped: abandoned"), "{human}");
    assert_eq!(sb.ok(&["queue"]), "queue is empty\n");
}

#[test]
fn log_filters_by_slug_and_type() {
    let sb = Sandbox::new();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    sb.ok(&["emit", "review-approved", "--slug", "a", "--round", "1"]);
    sb.ok(&["emit", "review-approved", "--slug", "b", "--round", "1"]);
    sb.ok(&["emit", "deployment-started", "--slug", "a", "--branch", "x", "--sha", sha]);
    let all = sb.ok(&["log"]);
    assert_eq!(all.lines().count(), 3);
    let a = sb.ok(&["log", "--slug", "a"]);
    assert_eq!(a.lines().count(), 2, "{a}");
    let started = sb.ok(&["log", "--type", "deployment-started"]);
    assert_eq!(started.lines().count(), 1);
    assert!(
        started.contains("domain.software-development.deployment.started slug=a branch=x sha=0123456"),
        "{started}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&sb.ok(&["log", "--json", "--type", "domain.software-development"])).unwrap();
    assert_eq!(j["events"].as_array().unwrap().len(), 3);
}

#[test]
fn the_lease_is_renewed_while_a_long_verify_runs() {
    let sb = Sandbox::new();
    sb.config(
        &CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nlease_ttl_secs = 4\nverify = \"sleep 4\"\n"),
    );
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    crate::support::wait_for("the run to reach verify", 20, || {
        sb.read_state("checkpoint.json").contains("\"phase\": \"verify\"")
    });
    let lease = |sb: &Sandbox| -> serde_json::Value { serde_json::from_str(&sb.read_state("lease.json")).unwrap() };
    let first = lease(&sb)["renewed_at"].clone();
    let mut renewals = std::collections::BTreeSet::new();
    while child.try_wait().unwrap().is_none() {
        let l = lease(&sb);
        if l["released_at"].is_null() {
            renewals.insert(l["renewed_at"].as_str().unwrap().to_string());
            // Never expired while the holder works.
            let exp = l["expires_at"].as_str().unwrap().to_string();
            assert!(!sb.status_json()["lease"]["hung"].as_bool().unwrap(), "lease expired at {exp}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(child.wait().unwrap().success());
    renewals.remove(first.as_str().unwrap());
    assert!(renewals.len() >= 2, "renewed every ttl/4 during the 4 s verify: {renewals:?}");
    assert_eq!(sb.integrated_count(&sha), 1);
}

#[test]
fn a_dropped_candidate_stays_dropped_when_the_queue_is_rebuilt() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    // The longest reason allowed is 1,000 characters.
    let reason = format!("abandoned by its author{}", " ".repeat(977));
    sb.ok(&["queue", "drop", "s", "--reason", &reason]);
    let (code, _, err) = sb.run(&["queue", "drop", "s", "--reason", "two\nlines"]);
    assert_eq!(code, 2, "{err}");
    let drops: Vec<_> = crate::support::jsonl(&sb.state().join("events.jsonl"))
        .into_iter()
        .filter(|e| e["type"] == "integration.candidate.dropped")
        .collect();
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0]["payload"]["reason"], reason.as_str());
    // queue.json lost (moved aside after damage): the rebuilt queue must not take it up again,
    // not even in cutover.
    std::fs::rename(sb.state().join("queue.json"), sb.state().join("queue.json.damaged")).unwrap();
    sb.config(CUTOVER);
    let main = sb.origin_ref("main").unwrap();
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main").unwrap(), main, "a dropped candidate is never merged");
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    assert_eq!(q["items"][0]["status"], "superseded");
    assert_eq!(q["items"][0]["status_reason"], "dropped (integrator queue drop)");
}
