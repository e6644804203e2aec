//! What a new user trips over (issue 15): each test reproduces one friction item.

use crate::support::{jsonl, show, write_exec, Sandbox};
use std::fs;

/// The account name of this test process, as `id -un` prints it.
fn account() -> String {
    let out = std::process::Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ids_default_to_the_account_name_when_user_is_unset() {
    let sb = Sandbox::new();
    let sha = sb.branch("login-form", "login.txt", "form\n");
    for args in [
        &["emit", "review-approved", "--slug", "login-form", "--round", "1"][..],
        &["emit", "deployment-started", "--slug", "login-form", "--branch", "login-form", "--sha", &sha],
    ] {
        let out = sb.integrator().env_remove("USER").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
    }
    let evs = jsonl(&sb.state().join("events.jsonl"));
    let who = account();
    assert_eq!(evs[0]["payload"]["reviewer_session_id"], who.as_str());
    assert_eq!(evs[1]["payload"]["worker_session_id"], who.as_str());
    assert_eq!(evs[1]["payload"]["orchestrator_session_id"], who.as_str());
    assert_eq!(evs[0]["source"], who.as_str());
}

#[test]
fn emit_help_documents_each_ids_default() {
    let sb = Sandbox::new();
    for (event, flags) in [
        ("review-approved", &["--reviewer"][..]),
        ("deployment-started", &["--worker", "--orchestrator"]),
        ("branch-pushed", &["--pusher"]),
    ] {
        let help = sb.ok(&["emit", event, "--help"]);
        for flag in flags {
            let line = help.lines().skip_while(|l| !l.contains(flag)).take(2).collect::<String>();
            assert!(line.contains("Default: $TELECLAUDE_SESSION_ID, else $USER, else the account name"), "{help}");
        }
    }
}

#[test]
fn install_self_test_does_not_run_the_preserved_hook() {
    let sb = Sandbox::new();
    let hooks = sb.hooks_dir();
    let ran = sb.root.join("foreign-hook-ran");
    write_exec(&hooks.join("pre-push"), &format!("#!/bin/sh\necho \"$@\" >> '{}'\n", ran.display()));
    let out = sb.install();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nself-test: ok\n"), "{}", show(&out));
    assert!(!ran.exists(), "the self-test ran pre-push.local: {:?}", fs::read_to_string(&ran));
    // A real push still runs it, with git's argv.
    sb.git(&sb.work, &["checkout", "-q", "-b", "topic"]);
    sb.commit(&sb.work, "t.txt", "t\n", "topic");
    sb.git(&sb.work, &["push", "-q", "origin", "topic"]);
    assert!(fs::read_to_string(&ran).unwrap().starts_with("origin "), "{:?}", fs::read_to_string(&ran));
}

#[test]
fn bookkeeping_is_told_what_it_delivers() {
    let sb = Sandbox::new();
    let bookkeeping = "bookkeeping = 'echo \"$TELECLAUDE_SLUG $TELECLAUDE_BRANCH $TELECLAUDE_SHA\" >> DELIVERED'\n";
    sb.cutover_with(bookkeeping);
    let sha = sb.branch("feat-a", "a.txt", "a\n");
    sb.ready("feat-a", "feat-a", &sha, "2026-01-01T00:00:01Z");
    sb.ok(&["run"]);
    assert_eq!(sb.git(&sb.origin, &["show", "main:DELIVERED"]), format!("feat-a feat-a {sha}"));
}

/// Cutover, and candidate `c` READY but conflicting with main; returns its sha.
fn conflicting_candidate() -> (Sandbox, String) {
    let sb = Sandbox::new();
    sb.config(crate::support::CUTOVER);
    let sha = sb.branch("c", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("c", "c", &sha, "2026-01-01T00:00:01Z");
    (sb, sha)
}

#[test]
fn canonical_events_carry_their_domain_and_a_failure_is_actionable() {
    let (sb, _) = conflicting_candidate();
    sb.ok(&["run"]);
    let evs = jsonl(&sb.state().join("events.jsonl"));
    let failed: Vec<_> = evs.iter().filter(|e| e["type"] == "domain.software-development.deployment.failed").collect();
    assert_eq!(failed.len(), 1, "{evs:#?}");
    assert_eq!(failed[0]["domain"], "software-development");
    assert_eq!(failed[0]["actionable"], true);
    for e in &evs {
        let kind = e["type"].as_str().unwrap();
        if kind.starts_with("domain.") {
            assert_eq!(e["domain"], "software-development", "{e}");
        } else {
            assert!(e.get("domain").is_none(), "{e}");
        }
        if kind != "domain.software-development.deployment.failed" {
            assert!(e.get("actionable").is_none(), "{e}");
        }
    }
}

#[test]
fn status_gives_a_blocked_candidate_one_state_and_counts_unseen_as_notifications_lists() {
    let (sb, sha) = conflicting_candidate();
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ok(&["emit", "review-approved", "--slug", "b", "--round", "1"]);
    sb.ok(&["run"]);
    let text = sb.ok(&["status"]);
    let line = text.lines().find(|l| l.contains(&format!("c c@{}", &sha[..7])) && !l.contains("blocked ")).unwrap();
    assert!(line.trim_start().starts_with("BLOCKED "), "{text}");
    assert!(!text.contains("READY "), "{text}");
    let s = sb.status_json();
    let c = s["candidates"].as_array().unwrap().iter().find(|c| c["slug"] == "c").unwrap().clone();
    assert_eq!(c["state"], "BLOCKED", "{s:#}");
    assert_eq!(c["reasons"][0], "merge conflict in shared.txt", "{s:#}");
    let listed: serde_json::Value = serde_json::from_str(&sb.ok(&["notifications", "--json"])).unwrap();
    let listed = listed["notifications"].as_array().unwrap().len();
    assert_eq!(listed, 2, "c failed and b approved: {b}");
    assert_eq!(s["notifications"]["unseen"], listed);
    assert!(text.contains(&format!("notifications: {listed} unseen\n")), "{text}");
}

#[test]
fn queue_text_shows_the_shadow_verdict_and_the_run_summary_counts_superseded() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let c = sb.branch("c", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("c", "c", &c, "2026-01-01T00:00:01Z");
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T00:00:02Z");
    sb.ok(&["run"]);
    let q = sb.ok(&["queue"]);
    assert!(q.contains("— shadow would_block: conflict in shared.txt\n"), "{q}");
    assert!(q.contains("— shadow would_integrate: merges cleanly onto"), "{q}");
    assert!(sb.ok(&["status"]).contains("— shadow would_block: conflict in shared.txt\n"));
    let a2 = sb.branch("a2", "a.txt", "a2\n");
    sb.ready("a", "a2", &a2, "2026-01-01T00:00:03Z");
    let out = sb.ok(&["run"]);
    assert!(out.contains("superseded 1"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("superseded ") && l.contains(&format!("a@{}", &a[..7]))), "{out}");
}

#[test]
fn followups_are_open_until_the_candidate_is_superseded_then_resolved_with_all() {
    let (sb, c) = conflicting_candidate();
    sb.ok(&["run"]);
    let stem = format!("c-integration-blocked-{}", &c[..7]);
    let open = sb.ok(&["followups"]);
    assert!(open.starts_with(&format!("open      {stem}  ")), "{open}");
    let c2 = sb.branch("c2", "c.txt", "fixed\n");
    sb.ready("c", "c2", &c2, "2026-01-01T00:00:02Z");
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&c2));
    assert_eq!(sb.ok(&["followups"]), "no open follow-ups (--all shows the resolved ones)\n");
    let all: serde_json::Value = serde_json::from_str(&sb.ok(&["followups", "--json", "--all"])).unwrap();
    assert_eq!(all["followups"][0]["stem"], stem.as_str());
    assert_eq!(all["followups"][0]["status"], "resolved");
}

#[test]
fn cleanup_worktrees_removes_a_clean_landed_agent_worktree_but_never_one_with_changes() {
    let sb = Sandbox::new();
    sb.cutover_with("cleanup_worktrees = true\n");
    let mut shas = Vec::new();
    for name in ["clean", "dirty"] {
        let wt = sb.root.join(format!("agent-{name}"));
        sb.git(&sb.work, &["worktree", "add", "-q", "-b", name, wt.to_str().unwrap(), "origin/main"]);
        let sha = sb.commit(&wt, &format!("{name}.txt"), "work\n", name);
        sb.git(&wt, &["push", "-q", "origin", name]);
        sb.ready(name, name, &sha, "2026-01-01T00:00:01Z");
        shas.push(sha);
    }
    sb.write(&sb.root.join("agent-dirty"), "notes.txt", "unsaved\n");
    let out = sb.ok(&["run"]);
    assert!(shas.iter().all(|s| sb.is_ancestor_of_main(s)), "{out}");
    assert!(!sb.root.join("agent-clean").exists(), "{out}");
    assert!(out.contains(&format!("removed the worktree {} (clean landed)", sb.root.join("agent-clean").display())));
    assert_eq!(fs::read_to_string(sb.root.join("agent-dirty/notes.txt")).unwrap(), "unsaved\n");
    let list = sb.git(&sb.work, &["worktree", "list"]);
    assert!(list.contains("agent-dirty") && !list.contains("agent-clean"), "{list}");
}
