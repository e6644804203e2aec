//! The breach alarm: routes client-side guards cannot close (nested git under `rebase -x`
//! for a non-agent, a fresh clone without the hook, a force push) move main; `run`,
//! `status` and `doctor` say so, record `integration.guardrail.breached` once, and keep
//! showing it until it is acknowledged.

use crate::guard_prepush::setup;
use crate::support::guards::{ok, GuardSandbox as Sandbox};
use crate::support::CUTOVER;

fn breached_events(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.read_state("events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "integration.guardrail.breached")
        .collect()
}

fn acknowledge(sb: &Sandbox) {
    let out = sb.ok(&["notifications", "seen", "guardrail-breach"]);
    assert!(out.contains("acknowledged"), "{out}");
    assert!(sb.status_json().get("breach").is_none());
    let report: serde_json::Value = serde_json::from_str(&sb.run(&["doctor", "--json"]).1).unwrap();
    let finding = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "breach").unwrap().clone();
    assert_eq!(finding["ok"], true, "{finding}");
}

#[test]
fn nested_git_and_a_fresh_clone_move_main_and_the_alarm_catches_both() {
    let (sb, wt, _) = setup();
    sb.config(CUTOVER);
    // The first check after cutover records where main starts.
    assert!(sb.status_json().get("breach").is_none());
    let start = sb.origin_ref("main").unwrap();

    // Row 7 (not an agent, so no agent policy): git puts its exec-path first on PATH for
    // `rebase -x`, so the inner git is the real one and `--no-verify` skips the hook.
    let cmd = "git push -q --no-verify origin HEAD:main";
    ok(sb.shim_git(&wt).args(["rebase", "-q", "-x", cmd, "HEAD~1"]).output().unwrap());
    let sneaked = sb.origin_ref("main").unwrap();
    assert_ne!(sneaked, start, "the nested push did not move main: the test proves nothing");
    let s = sb.ok(&["status", "--fetch"]);
    assert!(s.contains("GUARDRAIL BREACH") && s.contains(&sneaked[..7]), "{s}");
    let json = sb.status_json();
    assert_eq!(json["breach"]["tip"], sneaked.as_str());
    assert_eq!(json["breach"]["non_fast_forward"], false);
    assert_eq!(json["breach"]["commits"][0]["sha"], sneaked.as_str());
    let (code, out, _) = sb.run(&["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("GUARDRAIL BREACH"), "{out}");
    // Recorded once, however often it is looked at.
    sb.ok(&["status"]);
    assert_eq!(breached_events(&sb).len(), 1);
    acknowledge(&sb);

    // Row 9: a fresh clone has no hook; the shim guards by hook, not by destination.
    let clone = sb.dir().join("x");
    ok(sb.shim_git(&sb.dir()).args(["clone", "-q", sb.origin.to_str().unwrap(), "x"]).output().unwrap());
    sb.commit(&clone, "x.txt", "x\n", "from a fresh clone");
    ok(sb.shim_git(&clone).args(["push", "-q", "origin", "HEAD:main"]).output().unwrap());
    let from_clone = sb.origin_ref("main").unwrap();
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let (_, out, err) = sb.run(&["run"]);
    assert!(err.contains("GUARDRAIL BREACH") && err.contains(&from_clone[..7]), "{out}\n{err}");
    assert_eq!(breached_events(&sb).len(), 2);
    acknowledge(&sb);

    // A force push that rewrites main: a non-fast-forward.
    ok(sb.shim_git(&clone).args(["push", "-q", "-f", "origin", &format!("{start}:main")]).output().unwrap());
    let json = {
        sb.ok(&["status", "--fetch"]);
        sb.status_json()
    };
    assert_eq!(json["breach"]["non_fast_forward"], true, "{json}");
    assert_eq!(breached_events(&sb).len(), 3);
}

#[test]
fn before_cutover_the_old_path_is_no_breach() {
    let sb = Sandbox::new();
    sb.install_hook();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    assert!(sb.status_json().get("breach").is_none());
    sb.commit(&sb.work, "m.txt", "1\n", "old path delivery");
    ok(sb.shim_git(&sb.work).args(["push", "-q", "origin", "main"]).output().unwrap());
    sb.ok(&["status", "--fetch"]);
    assert!(sb.status_json().get("breach").is_none());
    assert!(!sb.read_state("events.jsonl").contains("integration.guardrail.breached"));
}
