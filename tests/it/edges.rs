//! Correctness at the edges (issue 17): attributes from the merged trees, a remote that
//! refuses a commit, squash rounds, a main reset below an integration, verify's children,
//! a renamed main, and the rough edges around them.

use crate::support::guards::{write_exec, GuardSandbox};
use crate::support::{bin, jsonl, no_process, Sandbox, CUTOVER};
use std::path::Path;
use std::time::{Duration, Instant};

const FAILED: &str = "domain.software-development.deployment.failed";

fn cutover(extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.config(&format!("{CUTOVER}{extra}"));
    sb
}

/// `[integrator]` keys added to the cutover config (CUTOVER opens that table first).
fn cutover_with(keys: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{keys}")));
    sb
}

fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    jsonl(&sb.state().join("events.jsonl")).into_iter().filter(|e| e["type"] == kind).collect()
}

fn item(sb: &Sandbox, slug: &str) -> serde_json::Value {
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    q["items"].as_array().unwrap().iter().rev().find(|i| i["slug"] == slug).cloned().expect("queue item")
}

fn candidate(sb: &Sandbox, slug: &str) -> serde_json::Value {
    let s: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all"])).unwrap();
    s["candidates"].as_array().unwrap().iter().rev().find(|c| c["slug"] == slug).cloned().expect("candidate")
}

fn show(sb: &Sandbox, file: &str) -> String {
    sb.git(&sb.origin, &["show", &format!("main:{file}")])
}

/// One READY candidate `s1` adding its own file; its sha.
fn one_ready(sb: &Sandbox) -> String {
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    sha
}

/// A candidate changing shared.txt while main changed it too: a content conflict.
fn conflicting(sb: &Sandbox) -> String {
    let sha = sb.branch("feat", "shared.txt", "feature\n");
    sb.land_on_main("shared.txt", "main\n");
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    sha
}

#[test]
fn an_untracked_gitattributes_in_the_checkout_does_not_change_the_merge() {
    let sb = cutover("");
    conflicting(&sb);
    sb.write(&sb.work, ".gitattributes", "* merge=union\n");
    let main = sb.origin_ref("main");
    sb.ok(&["run"]);
    assert_eq!(sb.origin_ref("main"), main, "a conflict must not land as a union merge");
    assert_eq!(item(&sb, "s1")["status"], "blocked");
    assert_eq!(events_of(&sb, FAILED)[0]["payload"]["conflict_evidence"], serde_json::json!(["shared.txt"]));
}

#[test]
fn a_committed_merge_driver_on_main_applies_whatever_the_checkout_holds() {
    let sb = cutover("");
    sb.land_on_main(".gitattributes", "shared.txt merge=union\n");
    conflicting(&sb);
    // The checkout is on a branch without the attributes file.
    sb.git(&sb.work, &["checkout", "-q", "-b", "elsewhere", "HEAD"]);
    assert!(!sb.work.join(".gitattributes").exists());
    sb.ok(&["run"]);
    assert_eq!(item(&sb, "s1")["status"], "integrated");
    assert_eq!(show(&sb, "shared.txt"), "main\nfeature");
}

#[test]
fn a_commit_the_remote_refuses_is_blocked_with_its_message_and_the_queue_moves_on() {
    let sb = cutover("");
    write_exec(
        &sb.origin.join("hooks/pre-receive"),
        "#!/bin/sh\nwhile read old new ref; do\n  if git diff --name-only \"$old\" \"$new\" | grep -q forbidden; then\n    echo \"policy: forbidden.txt may not land\" >&2; exit 1\n  fi\ndone\n",
    );
    let bad = sb.branch("bad", "forbidden.txt", "no\n");
    let good = sb.branch("good", "good.txt", "yes\n");
    sb.ready("bad", "bad", &bad, "2026-01-01T10:00:00Z");
    sb.ready("good", "good", &good, "2026-01-01T11:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(item(&sb, "bad")["status"], "blocked");
    assert_eq!(item(&sb, "good")["status"], "integrated");
    assert!(sb.is_ancestor_of_main(&good) && !sb.is_ancestor_of_main(&bad));
    let failed = events_of(&sb, FAILED);
    assert_eq!(failed.len(), 1);
    let p = &failed[0]["payload"];
    assert_eq!(p["conflict_evidence"], serde_json::json!(["policy: forbidden.txt may not land"]));
    assert!(p["diagnostics"].to_string().contains("pre-receive hook declined"), "{p}");
    let note = sb.state().join(format!("followups/{}.md", p["follow_up"].as_str().unwrap()));
    assert!(std::fs::read_to_string(note).unwrap().contains("policy: forbidden.txt may not land"));
    // A second run leaves it blocked: nothing is "recovered after an interrupted run".
    sb.ok(&["run"]);
    assert_eq!(item(&sb, "bad")["status"], "blocked");
}

#[test]
fn a_push_that_never_reached_the_remote_stays_retryable() {
    let sb = cutover("");
    let sha = one_ready(&sb);
    let nowhere = sb.root.join("gone.git");
    sb.git(&sb.work, &["config", "remote.origin.pushurl", nowhere.to_str().unwrap()]);
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 1, "{err}");
    assert!(events_of(&sb, FAILED).is_empty(), "a transient failure blocks nobody");
    sb.git(&sb.work, &["config", "--unset", "remote.origin.pushurl"]);
    sb.ok(&["run"]);
    assert_eq!(item(&sb, "s1")["status"], "integrated");
    assert!(sb.is_ancestor_of_main(&sha));
}

#[test]
fn a_second_squash_round_lands_on_top_of_the_first() {
    let sb = cutover_with("merge = \"squash\"\n");
    let round1 = sb.branch("feat", "f.txt", "one\n");
    sb.ready("s1", "feat", &round1, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(show(&sb, "f.txt"), "one");
    sb.git(&sb.work, &["checkout", "-q", "feat"]);
    let round2 = sb.commit(&sb.work, "f.txt", "one\ntwo\n", "round 2");
    sb.git(&sb.work, &["push", "-q", "origin", "feat:refs/heads/feat"]);
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    sb.ok(&["emit", "branch-pushed", "--branch", "feat", "--sha", &round2]);
    let at = "2026-01-01T11:00:00Z";
    sb.ok(&["emit", "deployment-started", "--slug", "s1", "--branch", "feat", "--sha", &round2, "--at", at]);
    sb.ok(&["run"]);
    assert!(events_of(&sb, FAILED).is_empty(), "{:?}", events_of(&sb, FAILED));
    assert_eq!(show(&sb, "f.txt"), "one\ntwo");
    assert_eq!((sb.integrated_count(&round1), sb.integrated_count(&round2)), (1, 1));
}

#[test]
fn a_main_reset_below_an_integration_is_not_integrated_and_is_reported() {
    let sb = cutover("");
    let before = sb.origin_ref("main").unwrap();
    one_ready(&sb);
    sb.ok(&["run"]);
    assert_eq!(candidate(&sb, "s1")["state"], "INTEGRATED");
    // An admin resets main to before the integration.
    sb.git(&sb.origin, &["update-ref", "refs/heads/main", &before]);
    let s: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all", "--fetch"])).unwrap();
    let c = s["candidates"].as_array().unwrap().iter().find(|c| c["slug"] == "s1").unwrap();
    assert_eq!(c["state"], "NOT_READY", "{c}");
    assert!(c["reasons"].to_string().contains("main moved backwards"), "{c}");
    assert!(s["main_moved_backwards"].as_str().is_some_and(|w| w.contains("origin/main moved backwards")), "{s}");
    assert!(sb.ok(&["status"]).contains("warning: origin/main moved backwards"));
    let (code, out, _) = sb.run(&["doctor", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = d["findings"].as_array().unwrap().iter().find(|f| f["check"] == "main-history").cloned().unwrap();
    assert_eq!((code, &f["ok"]), (1, &serde_json::json!(false)), "{f}");
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: origin/main moved backwards"), "{err}");
    assert_eq!(sb.origin_ref("main").unwrap(), before, "the run does not re-land it by itself");
}

/// Only a main that lost the tip the last run left is "moved backwards": not a main that
/// moved forward past it, and not a tip this clone no longer has (nothing to compare).
#[test]
fn a_main_moved_forward_or_a_last_tip_git_lacks_is_no_rewind() {
    let sb = cutover("");
    one_ready(&sb);
    sb.ok(&["run"]);
    sb.land_on_main("later.txt", "later\n");
    let status = || -> serde_json::Value { serde_json::from_str(&sb.ok(&["status", "--json", "--fetch"])).unwrap() };
    assert_eq!(status()["main_moved_backwards"], serde_json::Value::Null, "moved forward");
    let path = sb.state().join("checkpoint.json");
    let mut cp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(cp["main_sha"].is_string(), "{cp}");
    cp["main_sha"] = "1".repeat(40).into();
    std::fs::write(&path, cp.to_string()).unwrap();
    assert_eq!(status()["main_moved_backwards"], serde_json::Value::Null, "a last tip git does not have");
    assert!(!sb.ok(&["status"]).contains("moved backwards"));
}

/// A run whose work went through but whose projection cannot be kept (its file blocked by
/// a directory) fails, exit 1, and its checkpoint says so: never "done" over a lost save.
#[test]
fn a_run_that_cannot_keep_its_projection_fails_and_is_checkpointed_failed() {
    let sb = cutover("");
    let sha = one_ready(&sb);
    let blocked = sb.state().join("projection.json");
    let _ = std::fs::remove_file(&blocked);
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("projection.json"), "{err}");
    let cp = std::fs::read_to_string(sb.state().join("checkpoint.json")).unwrap();
    assert!(cp.contains("\"phase\": \"failed\""), "{cp}");
    // The work itself went through: the candidate is on main.
    let log = sb.git(&sb.origin, &["log", "--format=%P", "-1", "main"]);
    assert!(log.contains(&sha), "{log}");
}

/// Run the integrator in the background and wait up to `secs` for it to end.
fn run_within(sb: &Sandbox, secs: u64) -> i32 {
    let mut child = sb.cmd(crate::support::bin("integrator"), &sb.work).arg("run").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("integrator run did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One READY candidate and a run with these `[integrator]` keys, which must end within 60 s.
fn run_one_with(keys: &str) -> Sandbox {
    let sb = cutover_with(keys);
    one_ready(&sb);
    assert_eq!(run_within(&sb, 60), 0);
    sb
}

#[test]
fn verify_ends_when_its_shell_ends_and_takes_its_children_along() {
    let sb = run_one_with("verify = \"sleep 100011 & echo started\"\n");
    assert_eq!(item(&sb, "s1")["status"], "integrated");
    assert!(no_process(&sb.root, "sleep 100011"), "the verify's background child outlived it");
}

#[test]
fn a_verify_that_outlives_its_timeout_is_killed_and_blocks() {
    let sb = run_one_with("verify = \"echo checking; sleep 100012\"\nverify_timeout_secs = 1\n");
    assert_eq!(item(&sb, "s1")["status"], "blocked");
    assert!(item(&sb, "s1")["status_reason"].as_str().unwrap().contains("timed out after 1 s"));
    let p = &events_of(&sb, FAILED)[0]["payload"];
    assert!(p["diagnostics"].to_string().contains("checking"), "{p}");
    assert!(no_process(&sb.root, "sleep 100012"));
}

#[test]
fn a_renamed_main_is_protected_and_doctor_flags_a_list_without_it() {
    let sb = GuardSandbox::new();
    sb.config("[integrator]\nmain = \"trunk\"\n");
    sb.git(&sb.origin, &["branch", "trunk", "main"]);
    sb.install_hook();
    let wt = sb.worktree("wt", "feature");
    sb.commit(&wt, "f.txt", "feature\n", "feature work");
    let trunk = sb.origin_ref("trunk");
    let out = sb.git_out(&wt, &["push", "origin", "HEAD:trunk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAIN_GUARDRAIL_BLOCKED"));
    assert_eq!(sb.origin_ref("trunk"), trunk);
    let (code, out, _) = sb.run(&["doctor", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = d["findings"].as_array().unwrap().iter().find(|f| f["check"] == "guard.protected").cloned().unwrap();
    assert_eq!((code, &f["ok"]), (1, &serde_json::json!(false)), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("\"trunk\""), "{f}");
    sb.config("[integrator]\nmain = \"trunk\"\n[guard]\nprotected = [\"trunk\"]\n");
    let (_, out, _) = sb.run(&["doctor", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(d["findings"].as_array().unwrap().iter().any(|f| f["check"] == "guard.protected" && f["ok"] == true));
}

fn repo_config(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.work.join(".git/config")).unwrap()
}

#[test]
fn a_verify_that_changes_the_repository_config_is_undone_and_blocked() {
    let sb = cutover_with("verify = \"git config core.hooksPath /tmp/nohooks\"\n");
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    let before = repo_config(&sb);
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    let before_main = sb.origin_ref("main");
    sb.ok(&["run"]);
    assert_eq!(repo_config(&sb), before, "the shared config is as it was");
    assert_eq!(sb.origin_ref("main"), before_main);
    assert!(item(&sb, "s1")["status_reason"].as_str().unwrap().contains("changed the repository configuration"));
}

#[test]
fn a_verify_that_cannot_run_stops_the_run_and_blocks_nobody() {
    let sb = cutover_with("verify = \"no-such-checker --all\"\n");
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    let (code, out, err) = sb.run(&["run"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.matches("integrator: error:").count(), 1, "{err}");
    assert!(err.contains("`no-such-checker --all` could not run (exit 127)"), "{err}");
    assert!(events_of(&sb, FAILED).is_empty());
    assert_eq!(
        (item(&sb, "a")["status"].as_str(), item(&sb, "b")["status"].as_str()),
        (Some("queued"), Some("queued"))
    );
}

#[test]
fn in_merge_mode_a_message_with_the_trailers_does_not_integrate_a_candidate() {
    let sb = cutover("");
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    let scratch = sb.root.join("scratch");
    sb.git(&sb.root, &["clone", "-q", "origin.git", scratch.to_str().unwrap()]);
    let msg = format!("Integrate s1 (feat)\n\nIntegrated-Slug: s1\nIntegrated-Sha: {sha}\n");
    sb.git(&scratch, &["commit", "-q", "--allow-empty", "-m", &msg]);
    sb.git(&scratch, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["status", "--fetch"]);
    assert_eq!(candidate(&sb, "s1")["state"], "READY");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&sha), "the run merged it for real");
}

#[test]
fn log_takes_every_spelling_of_a_type_and_lists_them_for_an_unknown_one() {
    let sb = cutover("");
    conflicting(&sb);
    sb.ok(&["run"]);
    for kind in ["deployment.failed", "deployment-failed", "domain.software-development.deployment.failed"] {
        let out = sb.ok(&["log", "--type", kind]);
        assert_eq!(out.lines().count(), 1, "--type {kind}: {out}");
        assert!(out.contains(FAILED), "{out}");
    }
    let (code, out, err) = sb.run(&["log", "--type", "deploy.nope"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("unknown event type `deploy.nope`") && err.contains("deployment-failed"), "{err}");
}

#[test]
fn queue_json_shows_the_transitions_items_have() {
    let sb = cutover("");
    conflicting(&sb);
    sb.ok(&["run"]);
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json"])).unwrap();
    let t = q["items"][0]["transitions"].as_array().unwrap();
    let to: Vec<&str> = t.iter().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(to[to.len() - 2..], ["in_progress", "blocked"], "{q}");
}

#[test]
fn a_file_directory_conflict_names_the_real_path() {
    let sb = cutover("");
    let sha = sb.branch("feat", "d/inner.txt", "dir\n");
    sb.land_on_main("d", "file\n");
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let p = &events_of(&sb, FAILED)[0]["payload"];
    assert_eq!(p["conflict_evidence"], serde_json::json!(["d"]), "{p}");
    assert!(p["next_action"].as_str().unwrap().contains("resolve d,"), "{p}");
}

#[test]
fn one_private_worktree_serves_every_candidate_of_a_run_and_starts_clean() {
    // A marker in the worktree's own git dir survives a move but not a new worktree; a
    // file left in the tree (ignored or not) must be gone for the next candidate.
    let log = "verify.log";
    let verify = format!(
        "test ! -e junk || exit 3; touch junk; g=$(git rev-parse --git-dir); \
         if test -e \"$g/seen\"; then echo kept >> ../{log}; fi; touch \"$g/seen\""
    );
    let sb = cutover_with(&format!("verify = '{verify}'\n"));
    let a = sb.branch("a", "a.txt", "a\n");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    sb.ok(&["run"]);
    assert_eq!(
        (item(&sb, "a")["status"].as_str(), item(&sb, "b")["status"].as_str()),
        (Some("integrated"), Some("integrated"))
    );
    assert_eq!(std::fs::read_to_string(sb.state().join(log)).unwrap_or_default(), "kept\n");
    let worktrees = sb.git(&sb.work, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "{worktrees}");
    assert!(!Path::new(&sb.state().join("worktree")).exists());
}

/// A directory at the private worktree's place that git does not know (a copy, a restore,
/// a hand-made one) is removed before the run checks out there; with nothing left over
/// the run spends no git process on cleaning.
#[test]
fn a_stray_directory_at_the_private_worktree_is_cleared_and_nothing_stale_costs_nothing() {
    let sb = cutover_with("verify = 'test -e a.txt'\n");
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    let trace = sb.root.join("trace");
    let out = sb.cmd(bin("integrator"), &sb.work).env("GIT_TRACE", &trace).args(["run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(item(&sb, "a")["status"], "integrated");
    let traced = std::fs::read_to_string(&trace).unwrap();
    assert!(!traced.contains("worktree remove --force --force"), "a clean start cleaned:\n{traced}");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    let stray = sb.state().join("worktree");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("left.txt"), "left\n").unwrap();
    sb.ok(&["run"]);
    assert_eq!(item(&sb, "b")["status"], "integrated", "{}", sb.ok(&["queue", "--all"]));
    assert!(!stray.exists());
}

/// `integrator queue` and `status` give each item one line: status, slug, branch@sha and
/// the reason, in columns.
#[test]
fn the_queue_text_gives_each_item_its_status_slug_branch_sha_and_reason() {
    let sb = cutover_with("");
    let c = sb.branch("c", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("s1", "c", &c, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let line = format!("blocked     s1       c@{}  merge conflict in shared.txt", &c[..7]);
    let q = sb.ok(&["queue", "--all"]);
    assert!(q.lines().any(|l| l.starts_with(&line)), "{q}");
    let status = sb.ok(&["status"]);
    assert!(status.contains(&line), "{status}");
}

/// A `queue.json` that cannot be read (here a directory in its place) is an error, never
/// taken for an empty queue: a run merges nothing.
#[test]
fn an_unreadable_queue_is_an_error_never_an_empty_queue() {
    let sb = cutover_with("");
    one_ready(&sb);
    std::fs::create_dir_all(sb.state().join("queue.json")).unwrap();
    let main = sb.origin_ref("main");
    for args in [&["queue"][..], &["run"]] {
        let (code, _, err) = sb.run(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("cannot read") && err.contains("queue.json"), "{args:?}: {err}");
    }
    assert_eq!(sb.origin_ref("main"), main);
}
