//! `integrator run` in cutover: merge, verify, push, block, recover, notify, parity, handoff.

use crate::support::{bin, jsonl, Sandbox};
use std::time::{Duration, Instant};

use crate::support::{wait_for, CUTOVER};

fn cutover(extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.config(&format!("{CUTOVER}{extra}"));
    sb
}

fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    jsonl(&sb.state().join("events.jsonl")).into_iter().filter(|e| e["type"] == kind).collect()
}

fn queue_item(sb: &Sandbox, slug: &str) -> serde_json::Value {
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    q["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|i| i["slug"] == slug)
        .cloned()
        .unwrap_or_else(|| panic!("no item {slug}: {q:#}"))
}

#[test]
fn a_clean_candidate_lands_with_trailers_and_its_branch_is_deleted() {
    for delete in [true, false] {
        let sb = cutover(if delete { "" } else { "[integrator]\n" });
        if !delete {
            sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\ndelete_merged_branches = false\n"));
        }
        let old_main = sb.origin_ref("main").unwrap();
        let sha = sb.branch("feat", "feat.txt", "feature\n");
        sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
        let out = sb.ok(&["run"]);
        assert!(out.contains("integrated") && out.contains("s1"), "{out}");
        let main = sb.origin_ref("main").unwrap();
        assert!(sb.is_ancestor_of_main(&sha));
        let parents = sb.git(&sb.origin, &["rev-list", "--parents", "-n", "1", &main]);
        assert_eq!(parents, format!("{main} {old_main} {sha}"), "first parent is the old main, second the candidate");
        let body = sb.git(&sb.origin, &["log", "-1", "--format=%B", &main]);
        assert!(
            body.contains("s1")
                && body.contains("Integrated-Slug: s1")
                && body.contains(&format!("Integrated-Sha: {sha}")),
            "{body}"
        );
        let done = events_of(&sb, "domain.software-development.deployment.completed");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0]["payload"]["merge_commit"], main.as_str());
        assert_eq!(queue_item(&sb, "s1")["status"], "integrated");
        assert_eq!(sb.origin_ref("feat").is_none(), delete, "branch deleted only when delete_merged_branches");
        for kind in [
            "integration.started",
            "integration.candidate.dequeued",
            "integration.merge.succeeded",
            "integration.push.succeeded",
            "integration.candidate.delivered",
            "integration.completed",
        ] {
            assert_eq!(events_of(&sb, kind).len(), 1, "{kind}");
        }
        // A second run finds nothing to do and changes nothing.
        sb.ok(&["run"]);
        assert_eq!(sb.origin_ref("main").unwrap(), main);
        assert_eq!(sb.integrated_count(&sha), 1);
    }
}

#[test]
fn candidates_land_in_ready_at_order() {
    let sb = cutover("");
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    let c = sb.branch("c", "c.txt", "c\n");
    sb.ready("third", "c", &c, "2026-01-01T12:00:00Z");
    sb.ready("first", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("second", "b", &b, "2026-01-01T13:00:00+02:00");
    sb.ok(&["run"]);
    let log = sb.git(&sb.origin, &["log", "--first-parent", "--format=%s", "main"]);
    let order: Vec<&str> = log.lines().collect();
    let expected = [
        format!("Integrate third (c@{})", &c[..7]),
        format!("Integrate second (b@{})", &b[..7]),
        format!("Integrate first (a@{})", &a[..7]),
        "initial".into(),
    ];
    assert_eq!(order, expected, "newest first: landed in ready_at order first, second (11:00Z), third");
}

#[test]
fn a_conflict_is_blocked_with_evidence_and_the_next_candidate_still_lands() {
    let sb = cutover("");
    let bad = sb.branch("bad", "shared.txt", "theirs\n");
    let good = sb.branch("good", "good.txt", "good\n");
    sb.land_on_main("shared.txt", "ours\n");
    let main_before = sb.origin_ref("main").unwrap();
    sb.ready("bad-slug", "bad", &bad, "2026-01-01T10:00:00Z");
    sb.ready("good-slug", "good", &good, "2026-01-01T11:00:00Z");
    let (code, out, err) = sb.run(&["run"]);
    assert_eq!(code, 0, "a blocked candidate is a normal outcome: {out}{err}");
    assert!(!sb.is_ancestor_of_main(&bad));
    assert!(sb.is_ancestor_of_main(&good), "the clean candidate behind the blocked one lands in the same run");
    assert_eq!(sb.git(&sb.origin, &["rev-parse", "main^1"]), main_before);
    let item = queue_item(&sb, "bad-slug");
    assert_eq!(item["status"], "blocked");
    assert_eq!(item["status_reason"], "merge conflict in shared.txt");
    let failed = events_of(&sb, "domain.software-development.deployment.failed");
    assert_eq!(failed.len(), 1);
    let p = &failed[0]["payload"];
    assert_eq!(p["conflict_evidence"], serde_json::json!(["shared.txt"]));
    assert!(p["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d.as_str().unwrap().contains("CONFLICT (content): Merge conflict in shared.txt")));
    assert!(p["next_action"]
        .as_str()
        .unwrap()
        .starts_with("rebase bad onto origin/main, resolve shared.txt, push, and record deployment-started"));
    let stem = format!("bad-slug-integration-blocked-{}", &bad[..7]);
    assert_eq!(p["follow_up"], stem.as_str());
    let note = sb.read_state(&format!("followups/{stem}.md"));
    for needle in ["bad", bad.as_str(), "shared.txt", "rebase bad onto origin/main"] {
        assert!(note.contains(needle), "note lacks {needle}:\n{note}");
    }
    assert!(sb.ok(&["followups"]).contains(&stem));
    // The origin branch of a blocked candidate is kept.
    assert_eq!(sb.origin_ref("bad").as_deref(), Some(bad.as_str()));
    // queue retry refuses nothing here (still READY) and re-queues; the next run blocks again.
    assert!(sb.ok(&["queue", "retry", "bad-slug"]).contains("re-queued"));
    assert_eq!(queue_item(&sb, "bad-slug")["status"], "queued");
    sb.ok(&["run"]);
    assert_eq!(queue_item(&sb, "bad-slug")["status"], "blocked");
    assert_eq!(queue_item(&sb, "bad-slug")["attempts"], 2);
    // A new deployment-started for the slug supersedes the blocked item.
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    sb.git(&sb.work, &["checkout", "-q", "-B", "bad", "origin/main"]);
    let fixed = sb.commit(&sb.work, "shared.txt", "resolved\n", "resolve");
    sb.git(&sb.work, &["push", "-q", "-f", "origin", "bad:refs/heads/bad"]);
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    sb.ready("bad-slug", "bad", &fixed, "2026-01-01T12:00:00Z");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&fixed));
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let old = q["items"].as_array().unwrap().iter().find(|i| i["sha"] == bad.as_str()).unwrap();
    assert_eq!(old["status"], "superseded");
}

#[test]
fn a_commit_pushed_after_deployment_started_does_not_reach_main() {
    let sb = cutover("");
    let declared = sb.branch("feat", "feat.txt", "reviewed\n");
    sb.ready("s", "feat", &declared, "2026-01-01T10:00:00Z");
    sb.git(&sb.work, &["checkout", "-q", "feat"]);
    let later = sb.commit(&sb.work, "feat.txt", "unreviewed\n", "after finalize");
    sb.git(&sb.work, &["push", "-q", "origin", "feat:refs/heads/feat"]);
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&declared));
    assert!(!sb.is_ancestor_of_main(&later), "the moved tip is not merged");
    assert_eq!(sb.git(&sb.origin, &["show", "main:feat.txt"]), "reviewed");
    assert_eq!(sb.origin_ref("feat").as_deref(), Some(later.as_str()), "a branch that moved on keeps its commits");
}

#[test]
fn a_failing_verify_blocks_with_its_output() {
    let sb = cutover("");
    sb.config(&CUTOVER.replace(
        "mode = \"cutover\"\n",
        "mode = \"cutover\"\nverify = \"echo checking; echo broken test >&2; false\"\n",
    ));
    let sha = sb.branch("feat", "feat.txt", "f\n");
    let main = sb.origin_ref("main").unwrap();
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main").unwrap(), main);
    let item = queue_item(&sb, "s");
    assert_eq!(item["status"], "blocked");
    let failed = events_of(&sb, "domain.software-development.deployment.failed");
    let diag = failed[0]["payload"]["diagnostics"].to_string();
    assert!(diag.contains("checking") && diag.contains("broken test"), "{diag}");
    assert_eq!(events_of(&sb, "integration.verify.failed").len(), 1);
    assert!(!sb.state().join("worktree").exists(), "the private worktree is removed");
}

#[test]
fn a_push_rejected_because_main_moved_is_retried_on_the_new_main() {
    let sb = Sandbox::new();
    let scratch = sb.root.join("mover");
    sb.git(&sb.root, &["clone", "-q", "origin.git", "mover"]);
    let moved = sb.commit(&scratch, "moved.txt", "moved\n", "someone else lands first");
    let marker = sb.root.join("moved-once");
    // The first verify moves origin/main behind the integrator's back.
    let verify = format!(
        "if [ ! -e {m} ]; then touch {m}; git -C {s} push -q origin HEAD:refs/heads/main; fi",
        m = marker.display(),
        s = scratch.display()
    );
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\nverify = \"{verify}\"\n")));
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&moved));
    assert!(sb.is_ancestor_of_main(&sha));
    assert_eq!(sb.git(&sb.origin, &["rev-parse", "main^1"]), moved, "merged again onto the new main");
    assert_eq!(events_of(&sb, "integration.push.rejected").len(), 1);
    assert_eq!(queue_item(&sb, "s")["status"], "integrated");
}

#[test]
fn squash_lands_one_parent_and_is_recognised_as_merged() {
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nmerge = \"squash\"\n"));
    let old = sb.origin_ref("main").unwrap();
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let main = sb.origin_ref("main").unwrap();
    assert_eq!(sb.git(&sb.origin, &["rev-list", "--parents", "-n", "1", &main]), format!("{main} {old}"));
    assert!(!sb.is_ancestor_of_main(&sha));
    let all: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all"])).unwrap();
    assert_eq!(all["candidates"][0]["state"], "INTEGRATED");
    assert_eq!(
        events_of(&sb, "domain.software-development.deployment.completed")[0]["payload"]["merge_commit"],
        main.as_str()
    );
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main").unwrap(), main, "never merged twice");
}

/// A squash pushed by a run killed before it recorded anything has neither ancestry nor
/// a recorded completion to say it landed: the `Integrated-Sha` trailer on main alone
/// does, and the next run never squashes it a second time.
#[test]
fn a_squash_pushed_by_a_killed_run_is_recognised_by_its_trailer_alone() {
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nmerge = \"squash\"\n"));
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    crate::support::kill_9_at_failpoint(&sb, "after-push");
    let main = sb.origin_ref("main").unwrap();
    assert!(!sb.is_ancestor_of_main(&sha));
    assert!(events_of(&sb, "domain.software-development.deployment.completed").is_empty());
    let all: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all", "--fetch"])).unwrap();
    assert_eq!(all["candidates"][0]["state"], "INTEGRATED", "{all:#}");
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main").unwrap(), main, "never squashed twice");
}

/// A squash that lands by another hand while a run works (its trailer on main, its
/// completion recorded nowhere here) is recognised after the run's push is rejected and
/// main fetched again: the run reads the trailers of main as it is now, and never
/// squashes that candidate a second time.
#[test]
fn a_squash_landed_elsewhere_during_a_run_is_recognised_and_not_squashed_again() {
    let sb = Sandbox::new();
    let old = sb.origin_ref("main").unwrap();
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    // Another integrator's squash of b, ready on a side ref of the origin.
    sb.git(&sb.work, &["checkout", "-q", "-B", "elsewhere", "origin/main"]);
    sb.commit(&sb.work, "b.txt", "b\n", &format!("b, squashed elsewhere\n\nIntegrated-Sha: {b}"));
    sb.git(&sb.work, &["push", "-q", "origin", "elsewhere:refs/elsewhere/b"]);
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    let origin = sb.origin.display();
    // It lands on main while the run verifies a (only the first time: the old value must match).
    let verify = format!("git --git-dir={origin} update-ref refs/heads/main refs/elsewhere/b {old} 2>/dev/null; true");
    sb.config(
        &CUTOVER
            .replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\nmerge = \"squash\"\nverify = {verify:?}\n")),
    );
    sb.ready("sa", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("sb", "b", &b, "2026-01-01T10:01:00Z");
    sb.ok(&["run"]);
    let main = sb.origin_ref("main").unwrap();
    let subjects = sb.git(&sb.origin, &["log", "--format=%s", &format!("{old}..{main}")]);
    assert_eq!(subjects.lines().count(), 2, "b's squash from elsewhere and a's, nothing more:\n{subjects}");
    let completed = events_of(&sb, "domain.software-development.deployment.completed");
    let of_b: Vec<_> = completed.iter().filter(|e| e["payload"]["slug"] == "sb").collect();
    assert_eq!(of_b.len(), 1, "{completed:#?}");
    let elsewhere = sb.git(&sb.origin, &["rev-parse", "refs/elsewhere/b"]);
    assert_eq!(of_b[0]["payload"]["merge_commit"], elsewhere.as_str(), "{completed:#?}");
    assert_eq!(events_of(&sb, "integration.candidate.dequeued").len(), 1, "only a was taken up");
}

#[test]
fn squashes_in_one_run_are_each_recognised_as_merged_as_main_moves() {
    // The run reads main's trailers incrementally as its own pushes move main.
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nmerge = \"squash\"\n"));
    let old = sb.origin_ref("main").unwrap();
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("sa", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("sb", "b", &b, "2026-01-01T10:01:00Z");
    sb.ok(&["run"]);
    let main = sb.origin_ref("main").unwrap();
    assert_eq!(sb.git(&sb.origin, &["rev-list", "--count", &format!("{old}..{main}")]).trim(), "2");
    let all: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all"])).unwrap();
    let states: Vec<&str> =
        all["candidates"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["INTEGRATED", "INTEGRATED"]);
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main").unwrap(), main, "never merged twice");
}

fn kill_run_when(sb: &Sandbox, ready: impl Fn(&Sandbox) -> bool) {
    let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    wait_for("the kill point", 30, || ready(sb));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_9_during_verify_then_run_lands_everything_once() {
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nverify = \"sleep 30\"\n"));
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    kill_run_when(&sb, |sb| sb.read_state("checkpoint.json").contains("\"phase\": \"verify\""));
    assert_eq!(queue_item(&sb, "a")["status"], "in_progress");
    sb.config(CUTOVER);
    sb.ok(&["run"]);
    for sha in [&a, &b] {
        assert_eq!(sb.integrated_count(sha), 1);
    }
    assert_eq!(queue_item(&sb, "a")["status"], "integrated");
    assert_eq!(queue_item(&sb, "b")["status"], "integrated");
    assert_eq!(events_of(&sb, "domain.software-development.deployment.completed").len(), 2);
}

#[test]
fn kill_9_right_after_the_push_then_run_converges_on_git() {
    let sb = cutover("");
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    // The remote kills the integrator as soon as main is updated, before it can record anything.
    let hook = sb.origin.join("hooks/post-receive");
    let lease = sb.state().join("lease.json");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ngrep -q refs/heads/main && kill -9 $(sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p' {})\nexit 0\n",
            lease.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&hook).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = sb.integrator().arg("run").output().unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert!(sb.is_ancestor_of_main(&sha), "the push itself went through");
    assert_eq!(queue_item(&sb, "s")["status"], "in_progress");
    std::fs::remove_file(&hook).unwrap();
    sb.ok(&["run"]);
    assert_eq!(sb.integrated_count(&sha), 1);
    let item = queue_item(&sb, "s");
    assert_eq!(item["status"], "integrated");
    let done = events_of(&sb, "domain.software-development.deployment.completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["payload"]["merge_commit"], sb.origin_ref("main").unwrap().as_str());
    assert_eq!(sb.origin_ref("feat"), None, "the recovering run deletes the merged branch the killed run left");
}

#[test]
fn notifications_follow_the_slug_lifecycle() {
    let sb = cutover("");
    let state_of = |sb: &Sandbox, slug: &str| -> (String, bool) {
        let n: serde_json::Value = serde_json::from_str(&sb.ok(&["notifications", "--json", "--all"])).unwrap();
        let x = n["notifications"].as_array().unwrap().iter().find(|x| x["slug"] == slug).cloned().unwrap();
        (x["state"].as_str().unwrap().to_string(), x["seen"].as_bool().unwrap())
    };
    let good = sb.branch("good", "good.txt", "g\n");
    sb.ok(&["emit", "review-approved", "--slug", "good", "--round", "1"]);
    assert_eq!(state_of(&sb, "good"), ("approved".into(), false));
    sb.ok(&["emit", "branch-pushed", "--branch", "good", "--sha", &good]);
    sb.ok(&["emit", "deployment-started", "--slug", "good", "--branch", "good", "--sha", &good]);
    assert_eq!(state_of(&sb, "good"), ("in_progress".into(), false));
    sb.ok(&["run"]);
    assert_eq!(state_of(&sb, "good"), ("resolved".into(), false));

    let bad = sb.branch("bad", "shared.txt", "x\n");
    sb.land_on_main("shared.txt", "y\n");
    sb.ready("bad", "bad", &bad, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(state_of(&sb, "bad"), ("failed".into(), false));
    assert_eq!(sb.status_json()["notifications"]["unseen"], 1);
    sb.ok(&["notifications", "seen", "bad"]);
    assert_eq!(state_of(&sb, "bad"), ("failed".into(), true));
    assert_eq!(sb.status_json()["notifications"]["unseen"], 0);
    // Failing again makes it unseen again.
    sb.ok(&["queue", "retry", "bad"]);
    sb.ok(&["run"]);
    assert_eq!(state_of(&sb, "bad"), ("failed".into(), false));
    let (code, _, err) = sb.run(&["notifications", "seen", "nope"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn parity_compares_shadow_decisions_with_what_the_old_path_did() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n[cutover]\nparity_min_samples = 3\nparity_threshold = 0.75\n");
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    let c = sb.branch("c", "shared.txt", "c\n");
    let d = sb.branch("d", "d.txt", "d\n");
    sb.land_on_main("shared.txt", "main\n");
    for (slug, sha) in [("a", &a), ("b", &b), ("c", &c), ("d", &d)] {
        sb.ready(slug, slug, sha, "2026-01-01T10:00:00Z");
    }
    sb.ok(&["run"]);
    // The old path lands a and b (agree), and c although shadow would block (disagree);
    // d is superseded by a new candidate though shadow would integrate it (disagree).
    let scratch = sb.root.join("scratch-shared.txt");
    sb.git(&scratch, &["fetch", "-q", "origin"]);
    sb.git(&scratch, &["merge", "-q", "--no-edit", &a, &b]);
    sb.git(&scratch, &["merge", "-q", "--no-edit", "-X", "theirs", &c]);
    sb.git(&scratch, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let d2 = sb.branch("d2", "d.txt", "d2\n");
    sb.ready("d", "d2", &d2, "2026-01-01T11:00:00Z");
    sb.ok(&["run"]);
    let p: serde_json::Value = serde_json::from_str(&sb.ok(&["parity", "--json"])).unwrap();
    assert_eq!(
        (p["samples"].as_u64(), p["agree"].as_u64(), p["disagree"].as_u64()),
        (Some(4), Some(2), Some(2)),
        "{p:#}"
    );
    assert_eq!(p["ratio"], 0.5);
    assert_eq!(p["sufficient"], false);
    let (code, _, err) = sb.run(&["parity", "--accept"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("parity is not sufficient"), "{err}");
    assert!(events_of(&sb, "integration.parity.accepted").is_empty());
    // With a threshold it meets, --accept records the evidence and cutover may proceed.
    sb.config("[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nrollback_on_incomplete_parity = false\nparity_min_samples = 4\nparity_threshold = 0.5\n");
    assert_eq!(sb.run(&["run"]).0, 2, "no evidence yet");
    assert!(sb.ok(&["parity", "--accept"]).contains("accepted: yes"));
    assert_eq!(events_of(&sb, "integration.parity.accepted").len(), 1);
    assert!(sb.ok(&["run"]).contains("mode cutover"));
}

#[test]
fn event_trigger_lands_a_candidate_without_cron() {
    let sb = cutover("");
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\ntrigger = \"event\"\n"));
    let sha = sb.branch("feat", "feat.txt", "f\n");
    sb.ok(&["emit", "review-approved", "--slug", "s", "--round", "1"]);
    sb.ok(&["emit", "branch-pushed", "--branch", "feat", "--sha", &sha]);
    assert!(!sb.state().join("run.log").exists(), "nothing READY yet, no run started");
    let t = Instant::now();
    sb.ok(&["emit", "deployment-started", "--slug", "s", "--branch", "feat", "--sha", &sha]);
    assert!(t.elapsed() < Duration::from_secs(5), "emit returns at once");
    wait_for("the candidate on main", 20, || sb.is_ancestor_of_main(&sha));
    wait_for("the run to release the lease", 20, || sb.read_state("lease.json").contains("released_at"));
}

#[test]
fn ten_concurrent_emits_all_land_once() {
    let sb = cutover("");
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\ntrigger = \"event\"\n"));
    let mut shas = Vec::new();
    for i in 0..10 {
        let b = format!("f{i}");
        let sha = sb.branch(&b, &format!("{b}.txt"), "x\n");
        sb.ok(&["emit", "review-approved", "--slug", &b, "--round", "1"]);
        sb.ok(&["emit", "branch-pushed", "--branch", &b, "--sha", &sha]);
        shas.push((b, sha));
    }
    let children: Vec<_> = shas
        .iter()
        .map(|(b, sha)| {
            sb.cmd(bin("integrator"), &sb.work)
                .args(["emit", "deployment-started", "--slug", b, "--branch", b, "--sha", sha])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    wait_for("all ten on main", 60, || shas.iter().all(|(_, s)| sb.is_ancestor_of_main(s)));
    wait_for("the last run to finish", 30, || {
        sb.read_state("lease.json").contains("released_at") && !sb.status_json()["lease"]["held"].as_bool().unwrap()
    });
    for (_, s) in &shas {
        assert_eq!(sb.integrated_count(s), 1);
    }
    let log = sb.read_state("run.log");
    assert!(!log.contains("error"), "{log}");
}

#[test]
fn demo_shows_one_integrated_one_blocked_one_superseded() {
    let sb = Sandbox::new();
    let out = sb.ok(&["demo"]);
    assert!(out.contains("summary: 1 integrated, 1 blocked, 1 superseded"), "{out}");
    assert!(out.contains("would_block") && out.contains("would_integrate"), "{out}");
    assert!(out.contains("origin/main unchanged by shadow: yes"), "{out}");
}

#[test]
fn event_trigger_from_the_pre_push_hook_lands_the_candidate_after_the_push() {
    let sb = cutover("");
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\ntrigger = \"event\"\n"));
    let hook = sb.work.join(".git/hooks/pre-push");
    std::fs::write(&hook, format!("#!/bin/sh\nexec {} \"$@\"\n", bin("pre-push").display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.git(&sb.work, &["checkout", "-q", "-b", "feat", "origin/main"]);
    let sha = sb.commit(&sb.work, "feat.txt", "f\n", "feature");
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    // Approved and finalized before the branch reaches the remote: the push is the last piece.
    sb.ok(&["emit", "review-approved", "--slug", "s", "--round", "1"]);
    sb.ok(&["emit", "deployment-started", "--slug", "s", "--branch", "feat", "--sha", &sha]);
    assert!(!sb.state().join("run.log").exists(), "not READY yet: nothing started");
    sb.git(&sb.work, &["push", "-q", "origin", "feat:refs/heads/feat"]);
    wait_for("the candidate on main", 20, || sb.is_ancestor_of_main(&sha));
    assert_eq!(events_of(&sb, "domain.software-development.branch.pushed").len(), 1, "the hook recorded the push");
}

#[test]
fn a_protected_branch_is_never_deleted_after_delivery() {
    let sb = Sandbox::new();
    sb.config(&format!("{CUTOVER}[guard]\nprotected = [\"main\", \"release\"]\n"));
    let sha = sb.branch("release", "r.txt", "r\n");
    sb.ready("rel", "release", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&sha));
    assert_eq!(sb.origin_ref("release").as_deref(), Some(sha.as_str()), "a protected branch is kept");
}

#[test]
fn with_bookkeeping_deployment_completed_names_the_merge_commit() {
    let sb = Sandbox::new();
    sb.config(
        &CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nbookkeeping = \"echo entry >> CHANGELOG\"\n"),
    );
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let tip = sb.origin_ref("main").unwrap();
    assert_eq!(sb.git(&sb.origin, &["show", "main:CHANGELOG"]), "entry", "bookkeeping committed on top");
    let trailers =
        sb.git(&sb.origin, &["log", "-1", "--format=%(trailers:key=Integrated-Slug,key=Integrated-Sha)", "main"]);
    assert_eq!(trailers, format!("Integrated-Slug: s\nIntegrated-Sha: {sha}"), "the bookkeeping commit's trailers");
    let merge = sb.git(&sb.origin, &["rev-parse", "main^1"]);
    assert_eq!(sb.git(&sb.origin, &["rev-parse", &format!("{merge}^2")]), sha);
    let done = events_of(&sb, "domain.software-development.deployment.completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["payload"]["merge_commit"], merge.as_str(), "the merge, not the bookkeeping commit {tip}");
}

#[test]
fn a_candidate_superseded_while_its_push_was_rejected_is_not_pushed() {
    let sb = Sandbox::new();
    let scratch = sb.root.join("mover");
    sb.git(&sb.root, &["clone", "-q", "origin.git", "mover"]);
    sb.commit(&scratch, "moved.txt", "moved\n", "someone else lands first");
    let newer = sb.branch("feat-v2", "f.txt", "v2\n");
    sb.ok(&["emit", "branch-pushed", "--branch", "feat-v2", "--sha", &newer]);
    let marker = sb.root.join("moved-once");
    // During the first verify, main moves and the slug gets a newer candidate.
    let verify = format!(
        "if [ ! -e {m} ]; then touch {m}; git -C {s} push -q origin HEAD:refs/heads/main; {i} -C {w} emit deployment-started --slug s --branch feat-v2 --sha {newer} --at 2026-01-01T11:00:00Z >/dev/null; fi",
        m = marker.display(),
        s = scratch.display(),
        i = bin("integrator").display(),
        w = sb.work.display(),
    );
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\nverify = \"{verify}\"\n")));
    let old = sb.branch("feat", "f.txt", "v1\n");
    sb.ready("s", "feat", &old, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert!(!sb.is_ancestor_of_main(&old), "the superseded candidate was not pushed on the retry");
    assert!(sb.is_ancestor_of_main(&newer), "its successor landed in the same run");
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let old_item = q["items"].as_array().unwrap().iter().find(|i| i["sha"] == old.as_str()).unwrap();
    assert_eq!(old_item["status"], "superseded");
}

#[test]
fn a_recorded_completion_for_a_sha_not_on_main_does_not_fail_the_run() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    // The old path squash-merged it by hand (no trailer) and recorded the completion.
    let line = format!(
        "{{\"type\":\"domain.software-development.deployment.completed\",\"payload\":{{\"slug\":\"s\",\"branch\":\"feat\",\"sha\":\"{sha}\",\"merge_commit\":\"{}\",\"integrated_at\":\"2026-01-01T12:00:00Z\"}}}}\n",
        "a".repeat(40)
    );
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(line).output().unwrap();
    assert!(out.status.success());
    sb.ok(&["run"]);
    assert_eq!(queue_item(&sb, "s")["status"], "integrated");
    assert_eq!(events_of(&sb, "domain.software-development.deployment.completed").len(), 1, "nothing more announced");
}
