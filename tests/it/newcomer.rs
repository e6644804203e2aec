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
    sb.config(&crate::support::CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{bookkeeping}")));
    let sha = sb.branch("feat-a", "a.txt", "a\n");
    sb.ready("feat-a", "feat-a", &sha, "2026-01-01T00:00:01Z");
    sb.ok(&["run"]);
    assert_eq!(sb.git(&sb.origin, &["show", "main:DELIVERED"]), format!("feat-a feat-a {sha}"));
}
