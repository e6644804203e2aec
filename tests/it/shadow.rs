//! `integrator run` in shadow mode, mode resolution, the lease.

use crate::support::{jsonl, Sandbox};
use std::time::{Duration, Instant};

fn refs_snapshot(sb: &Sandbox) -> (String, String) {
    (sb.git(&sb.origin, &["for-each-ref"]), sb.git(&sb.work, &["for-each-ref", "refs/heads"]))
}

#[test]
fn shadow_records_would_integrate_and_would_block_and_never_writes_main() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let clean = sb.branch("clean", "clean.txt", "clean\n");
    let conflicting = sb.branch("conflicting", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("clean-slug", "clean", &clean, "2026-01-01T10:00:00Z");
    sb.ready("conflict-slug", "conflicting", &conflicting, "2026-01-01T11:00:00Z");
    let before = refs_snapshot(&sb);

    let out = sb.ok(&["run"]);
    assert!(out.contains("mode shadow: shadow requested"), "{out}");
    assert_eq!(refs_snapshot(&sb).0, before.0, "origin unchanged");
    assert_eq!(refs_snapshot(&sb).1, before.1, "local branches unchanged");

    let outcomes = jsonl(&sb.state().join("outcomes.jsonl"));
    assert_eq!(outcomes.len(), 2, "{outcomes:#?}");
    assert_eq!(outcomes[0]["slug"], "clean-slug");
    assert_eq!(outcomes[0]["outcome"], "would_integrate");
    assert_eq!(outcomes[0]["mode"], "shadow");
    assert!(outcomes[0]["merge_tree"].as_str().is_some_and(|t| t.len() == 40));
    assert_eq!(outcomes[1]["outcome"], "would_block");
    assert_eq!(outcomes[1]["reasons"], serde_json::json!(["conflict in shared.txt"]));

    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json"])).unwrap();
    let statuses: Vec<&str> = q["items"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "queued"], "shadow does not consume the queue");

    // Nothing changed: a second run records nothing new anywhere.
    let events_before = sb.read_state("events.jsonl");
    sb.ok(&["run"]);
    assert_eq!(jsonl(&sb.state().join("outcomes.jsonl")).len(), 2);
    assert_eq!(sb.read_state("events.jsonl"), events_before);

    // Main moves: both are re-evaluated against the new main.
    sb.land_on_main("other.txt", "x\n");
    sb.ok(&["run"]);
    assert_eq!(jsonl(&sb.state().join("outcomes.jsonl")).len(), 4);

    // The old path lands the clean one: it becomes integrated, announced once.
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let scratch = sb.root.join("scratch-other.txt");
    sb.git(&scratch, &["fetch", "-q", "origin"]);
    sb.git(&scratch, &["merge", "-q", "--no-edit", &clean]);
    sb.git(&scratch, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    sb.ok(&["run"]);
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let item = q["items"].as_array().unwrap().iter().find(|i| i["slug"] == "clean-slug").unwrap();
    assert_eq!(item["status"], "integrated");
    assert_eq!(item["status_reason"], "already on origin/main");
    let completed: Vec<_> = jsonl(&sb.state().join("events.jsonl"))
        .into_iter()
        .filter(|e| e["type"] == "domain.software-development.deployment.completed")
        .collect();
    assert_eq!(completed.len(), 1);
    let merge = sb.git(&scratch, &["rev-parse", "HEAD"]);
    assert_eq!(completed[0]["payload"]["merge_commit"], merge.as_str());
    sb.ok(&["run"]);
    assert_eq!(
        jsonl(&sb.state().join("events.jsonl"))
            .iter()
            .filter(|e| e["type"] == "domain.software-development.deployment.completed")
            .count(),
        1
    );
}

#[test]
fn mode_table_is_applied_and_printed() {
    let sb = Sandbox::new();
    let rows: &[(&str, &[(&str, &str)], i32, &str)] = &[
        ("[integrator]\nmode = \"off\"\n", &[], 0, "mode off"),
        ("[integrator]\nmode = \"shadow\"\n", &[], 0, "mode shadow: shadow requested"),
        ("[integrator]\nmode = \"cutover\"\n", &[], 0, "mode shadow: cutover disabled: remaining in shadow mode"),
        (
            "[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\n",
            &[],
            0,
            "mode shadow: parity evidence incomplete: rollback to shadow mode",
        ),
        (
            "[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nrollback_on_incomplete_parity = false\n",
            &[],
            2,
            "cutover enabled but parity evidence incomplete",
        ),
        (
            "[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n",
            &[],
            0,
            "mode cutover: cutover enabled with accepted parity evidence",
        ),
        (
            "[integrator]\nmode = \"shadow\"\n",
            &[
                ("TELECLAUDE_INTEGRATOR_MODE", "cutover"),
                ("TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED", "1"),
                ("TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE", "accepted"),
            ],
            0,
            "mode cutover",
        ),
        (
            "[integrator]\nmode = \"cutover\"\n",
            &[("TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED", "1")],
            0,
            "parity evidence incomplete: rollback to shadow mode",
        ),
    ];
    for (cfg, env, code, needle) in rows {
        sb.config(cfg);
        let out = sb.integrator().envs(env.iter().copied()).arg("run").output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(*code), "{cfg}: {text}");
        assert!(text.contains(needle), "{cfg} {env:?}: expected {needle:?} in {text}");
    }
    // status shows the same resolution.
    sb.config("[integrator]\nmode = \"cutover\"\n");
    let st = sb.status_json();
    assert_eq!(
        st["mode"],
        serde_json::json!({"requested": "cutover", "effective": "shadow", "reason": "cutover disabled: remaining in shadow mode"})
    );
    // --mode overrides the request.
    assert!(sb.ok(&["run", "--mode", "off"]).contains("mode off"));
}

#[test]
fn bad_configuration_names_file_and_key_and_exits_2() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmood = \"shadow\"\n");
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 2);
    assert!(err.contains("config.toml") && err.contains("mood"), "{err}");
    sb.config("[integrator]\nlease_ttl_secs = \"soon\"\n");
    let (code, _, err) = sb.run(&["status"]);
    assert_eq!(code, 2);
    assert!(err.contains("lease_ttl_secs"), "{err}");
    std::fs::write(sb.work.join("teleclaude.toml"), "[guard]\nprotected = [\"refs/heads/main\"]\n").unwrap();
    sb.config("");
    let (code, _, err) = sb.run(&["status"]);
    assert_eq!(code, 2);
    assert!(err.contains("teleclaude.toml") && err.contains("guard.protected"), "{err}");
}

#[test]
fn a_second_run_gets_lease_busy_and_kill_9_frees_the_lease_at_once() {
    let sb = Sandbox::new();
    // A verify that blocks keeps the first run holding the lease.
    sb.config("[integrator]\nmode = \"cutover\"\nverify = \"sleep 30\"\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n");
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    let mut holder = sb.cmd(crate::support::bin("integrator"), &sb.work).arg("run").arg("--quiet").spawn().unwrap();
    crate::support::wait_for("the first run to reach verify", 20, || {
        sb.read_state("checkpoint.json").contains("\"verify\"")
    });
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 75, "{err}");
    let line = err.trim();
    assert!(line.starts_with("lease busy: held by integrator run (tester) pid ") && line.contains(" since "), "{line}");
    assert_eq!(line.lines().count(), 1);
    let lease: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    assert_eq!(lease["pid"], holder.id());
    let st = sb.status_json();
    assert_eq!(st["lease"]["held"], true);

    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let st = sb.status_json();
    assert_eq!(st["lease"]["held"], false);
    assert_eq!(st["lease"]["stale"], true);
    // The next run takes the lease at once (stale takeover) and finishes the work.
    sb.config("[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n");
    let t = Instant::now();
    sb.ok(&["run"]);
    assert!(t.elapsed() < Duration::from_secs(10));
    let lease: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    assert_eq!(lease["stale_takeover"]["pid"], holder.id());
    assert!(lease["released_at"].is_string());
    assert_eq!(lease["token"], "");
    assert_eq!(sb.integrated_count(&sha), 1);
}

#[test]
fn status_after_a_run_reads_only_the_snapshot() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let mut input = String::new();
    for i in 0..100_000 {
        input.push_str(&format!(
            "{{\"type\":\"review-approved\",\"payload\":{{\"slug\":\"s{i}\",\"review_round\":1,\"reviewer_session_id\":\"r\",\"approved_at\":\"2026-01-01T00:00:00Z\"}}}}\n"
        ));
    }
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap();
    assert!(out.status.success());
    sb.ok(&["run"]);
    let snap: serde_json::Value = serde_json::from_str(&sb.read_state("projection.json")).unwrap();
    let log_len = std::fs::metadata(sb.state().join("events.jsonl")).unwrap().len();
    assert_eq!(snap["offset"].as_u64(), Some(log_len), "the snapshot covers the whole log");
    // Proof that status does not re-read the log: overwrite the covered bytes with garbage
    // of the same length. A replay would count 100k skipped lines; the snapshot reader sees none.
    let garbage: Vec<u8> = (0..log_len).map(|i| if i % 100 == 99 { b'\n' } else { b'x' }).collect();
    std::fs::write(sb.state().join("events.jsonl"), garbage).unwrap();
    let t = Instant::now();
    let st = sb.status_json();
    let took = t.elapsed();
    assert_eq!(st["log"]["lines"], 100_000);
    assert_eq!(st["log"]["skipped"], 0);
    eprintln!("status after a run on a 100k-event log took {took:?}");
}
