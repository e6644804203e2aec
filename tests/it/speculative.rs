//! Speculative verify (`verify_parallel = K > 1`): the checks of a window of candidates run
//! at once, each on the merge of those before it, and the candidates land in queue order
//! as the exact commits that were checked — with the outcome of the serial run.

use crate::support::queue::{landed, queue_outcome, ready_all, Change};
use crate::support::{bin, jsonl, no_process, Sandbox};
use std::time::{Duration, Instant};

fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    jsonl(&sb.state().join("events.jsonl")).into_iter().filter(|e| e["type"] == kind).collect()
}

/// A sandbox whose processes find `<root>/tested` in `$TC_TESTED`.
fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    let tested = sb.root.join("tested").display().to_string();
    sb.extra_env.push(("TC_TESTED".into(), tested));
    sb
}

/// A verify that records the commit it checks in `$TC_TESTED`, then runs `then` (the same
/// text in every sandbox, so that block reasons compare).
fn recording(then: &str) -> String {
    format!("git rev-parse HEAD >> $TC_TESTED; {then}")
}

fn tested(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.root.join("tested")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Candidates `c0..c<n>`, each adding its own file.
fn clean(n: usize) -> Vec<Change> {
    (0..n).map(|i| Change::new(&format!("c{i}"), &[(&format!("c{i}.txt"), &format!("{i}\n"))])).collect()
}

/// Each landed commit is a merge of the candidate due next in queue order onto the one
/// before, and a commit some verify checked; no private worktree is left.
fn assert_landed_in_order_as_tested(sb: &Sandbox, shas: &[&String]) {
    let landed = landed(sb);
    let second: Vec<&String> = landed.iter().map(|(_, parents, _)| &parents[1]).collect();
    assert_eq!(second, shas, "landed in queue order");
    let tested = tested(sb);
    for (commit, _, _) in &landed {
        assert!(tested.contains(commit), "{commit} landed untested; tested: {tested:?}");
    }
    assert!(!sb.state().join("speculative").exists(), "speculative worktrees left behind");
    let worktrees = sb.git(&sb.work, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "{worktrees}");
}

#[test]
fn four_checks_run_at_once_and_land_in_queue_order_as_the_commits_checked() {
    let sb = sandbox();
    // Each verify waits until all four have started: only checks running at once pass.
    let barrier = format!(
        "touch {r}/started-$(git rev-parse HEAD); n=0; \
         while [ $(ls {r} | grep -c '^started-') -lt 4 ]; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.05; done",
        r = sb.root.display()
    );
    sb.cutover_with(&format!("verify = \"{}\"\nverify_parallel = 4\n", recording(&barrier)));
    let shas = ready_all(&sb, &clean(4));
    sb.ok(&["run"]);
    let outcome = queue_outcome(&sb);
    assert!(outcome.iter().all(|(_, status, _)| status == "integrated"), "{outcome:#?}");
    assert_landed_in_order_as_tested(&sb, &shas.iter().collect::<Vec<_>>());
    assert_eq!(tested(&sb).len(), 4, "one check per candidate");
}

/// c0 changes shared.txt; c1 fails verify; c2 conflicts with c0; c3, c4 are clean.
fn mixed_queue() -> Vec<Change> {
    vec![
        Change::new("c0", &[("shared.txt", "zero\n")]),
        Change::new("c1", &[("FAIL-c1", "x\n")]),
        Change::new("c2", &[("shared.txt", "two\n")]),
        Change::new("c3", &[("c3.txt", "3\n")]),
        Change::new("c4", &[("c4.txt", "4\n")]),
    ]
}

fn run_queue(k: u32, changes: &[Change]) -> (Sandbox, Vec<String>) {
    let sb = sandbox();
    let verify = recording("test -z \\\"$(ls | grep '^FAIL-')\\\"");
    sb.cutover_with(&format!("verify = \"{verify}\"\nverify_parallel = {k}\n"));
    let shas = ready_all(&sb, changes);
    sb.ok(&["run"]);
    (sb, shas)
}

#[test]
fn a_failing_or_conflicting_candidate_is_blocked_and_what_was_built_on_it_rebuilt_without_it() {
    let (serial, _) = run_queue(1, &mixed_queue());
    let (sb, shas) = run_queue(4, &mixed_queue());
    let outcome = queue_outcome(&sb);
    let status: Vec<&str> = outcome.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(status, ["integrated", "blocked", "blocked", "integrated", "integrated"], "{outcome:#?}");
    assert!(outcome[1].2.contains("check `"), "c1 blocked by its verify: {outcome:#?}");
    assert_eq!(outcome[2].2, "merge conflict in shared.txt");
    assert_landed_in_order_as_tested(&sb, &[&shas[0], &shas[3], &shas[4]]);
    // c3 was first checked on top of c1 (and failed): that speculation was discarded,
    // not blamed on c3.
    let failed: Vec<String> = events_of(&sb, "integration.verify.failed")
        .iter()
        .map(|e| e["payload"]["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed, ["c1"]);
    assert!(tested(&sb).len() > tested(&serial).len(), "the speculation on c1 was checked and discarded");
    // The serial run's outcome, commit for commit.
    assert_eq!(sb.origin_ref("main"), serial.origin_ref("main"));
    assert_eq!(outcome, queue_outcome(&serial));
}

#[test]
fn a_hanging_verify_is_killed_at_the_timeout_and_the_queue_goes_on() {
    let sb = Sandbox::new();
    sb.cutover_with(
        "verify = \"if test -e HANG; then sleep 100013; fi\"\nverify_timeout_secs = 1\nverify_parallel = 3\n",
    );
    let mut changes = clean(3);
    changes[1].files.push(("HANG".into(), "x\n".into()));
    let shas = ready_all(&sb, &changes);
    let t = Instant::now();
    let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the run hung on the verify");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcome = queue_outcome(&sb);
    let status: Vec<&str> = outcome.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(status, ["integrated", "blocked", "integrated"], "{outcome:#?}");
    assert!(outcome[1].2.contains("timed out after 1 s"), "{outcome:#?}");
    assert!(sb.is_ancestor_of_main(&shas[2]) && !sb.is_ancestor_of_main(&shas[1]));
    assert!(no_process(&sb.root, "sleep 100013"), "a timed-out verify outlived its slot");
}

#[test]
fn a_push_rejected_under_the_pipeline_rebuilds_every_speculation_on_the_new_main() {
    let sb = sandbox();
    let mover = sb.root.join("mover");
    sb.git(&sb.root, &["clone", "-q", "origin.git", "mover"]);
    // The first check to start lands a commit on main by the old path, once.
    let moved = format!(
        "if mkdir {r}/moved 2>/dev/null; then echo m > {m}/moved.txt && git -C {m} add moved.txt && \
         git -C {m} commit -qm moved && git -C {m} push -q origin HEAD:refs/heads/main; fi",
        r = sb.root.display(),
        m = mover.display()
    );
    sb.cutover_with(&format!("verify = \"{}\"\nverify_parallel = 3\n", recording(&moved)));
    let shas = ready_all(&sb, &clean(3));
    sb.ok(&["run"]);
    assert_eq!(events_of(&sb, "integration.push.rejected").len(), 1);
    let landed = landed(&sb);
    assert_eq!(landed.len(), 4, "the moved commit, then the three candidates: {landed:#?}");
    let second: Vec<&String> = landed[1..].iter().map(|(_, parents, _)| &parents[1]).collect();
    assert_eq!(second, shas.iter().collect::<Vec<_>>(), "landed in queue order");
    for (commit, _, _) in &landed[1..] {
        assert_eq!(sb.git(&sb.origin, &["show", &format!("{commit}:moved.txt")]), "m", "{commit} is on the new main");
        assert!(tested(&sb).contains(commit), "{commit} landed untested");
    }
}

#[test]
fn verify_parallel_must_be_a_whole_number_from_1_to_64() {
    for bad in ["0", "65", "-1", "2.5", "\"4\""] {
        let sb = Sandbox::new();
        sb.cutover_with(&format!("verify = \"true\"\nverify_parallel = {bad}\n"));
        let (code, _, err) = sb.run(&["run"]);
        assert_eq!(code, 2, "verify_parallel = {bad}: {err}");
        assert!(err.contains("verify_parallel"), "verify_parallel = {bad}: {err}");
        assert!(!sb.state().join("checkpoint.json").exists(), "nothing written");
        let doctor = sb.integrator().args(["doctor"]).output().unwrap();
        let text = String::from_utf8_lossy(&doctor.stdout);
        assert!(text.contains("FAIL config") && text.contains("verify_parallel"), "{text}");
    }
}

#[test]
fn max_items_bounds_what_the_pipeline_takes_and_the_rest_stays_queued() {
    let sb = sandbox();
    sb.cutover_with(&format!("verify = \"{}\"\nverify_parallel = 4\n", recording("true")));
    let shas = ready_all(&sb, &clean(5));
    sb.ok(&["run", "--max-items", "2"]);
    let status: Vec<String> = queue_outcome(&sb).into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(status, ["integrated", "integrated", "queued", "queued", "queued"]);
    assert_eq!(tested(&sb).len(), 2, "only the two taken were checked");
    sb.ok(&["run"]);
    assert_landed_in_order_as_tested(&sb, &shas.iter().collect::<Vec<_>>());
}

#[test]
fn max_push_retries_counts_per_candidate_under_the_pipeline() {
    let sb = sandbox();
    // Every check lets someone else land on main first (from a clone of its own, since
    // checks run at once): every push is rejected.
    let moved = format!(
        "d=$(mktemp -d {r}/m.XXXXXX) && git clone -q {o} $d/m && git -C $d/m commit -q --allow-empty -m moved && \
         until git -C $d/m push -q origin HEAD:refs/heads/main; do git -C $d/m pull -q --rebase origin main; done",
        o = sb.origin.display(),
        r = sb.root.display()
    );
    sb.cutover_with(&format!("max_push_retries = 1\nverify = \"{moved}\"\nverify_parallel = 2\n"));
    ready_all(&sb, &clean(2));
    sb.ok(&["run"]);
    let outcome = queue_outcome(&sb);
    assert!(outcome.iter().all(|(_, s, r)| s == "blocked" && r == "push rejected"), "{outcome:#?}");
    let rejected = events_of(&sb, "integration.push.rejected");
    for slug in ["c0", "c1"] {
        let n = rejected.iter().filter(|e| e["payload"]["slug"] == slug).count();
        assert_eq!(n, 2, "{slug}: the first push and one retry");
    }
}

/// A verify that, for a candidate holding `CONFIG`, changes the shared config (then says
/// so in `<root>/changed` and keeps running); for one holding only `WAIT`, waits (3 s at
/// most) until that change was made, then passes.
const CONFIG_CHANGING: &str = "c=$(dirname $TC_TESTED)/changed; \
    if test -e CONFIG; then git config core.hooksPath /tmp/x && touch $c && sleep 2; \
    elif test -e WAIT; then n=0; until test -e $c; do n=$((n+1)); [ $n -gt 60 ] && exit 0; sleep 0.05; done; fi";

fn run_config_queue(k: u32) -> Sandbox {
    let sb = sandbox();
    sb.cutover_with(&format!("verify = \"{}\"\nverify_parallel = {k}\n", recording(CONFIG_CHANGING)));
    let changes =
        vec![Change::new("c0", &[("WAIT", "x\n")]), Change::new("c1", &[("CONFIG", "x\n")]), clean(3).remove(2)];
    ready_all(&sb, &changes);
    sb.ok(&["run"]);
    sb
}

#[test]
fn a_check_that_changes_the_config_is_blocked_and_undone_while_the_checks_beside_it_pass() {
    let serial = run_config_queue(1);
    let sb = run_config_queue(3);
    let outcome = queue_outcome(&sb);
    let status: Vec<&str> = outcome.iter().map(|(_, s, _)| s.as_str()).collect();
    // c0 ended while c1's change was in the config: it is not blamed for it.
    assert_eq!(status, ["integrated", "blocked", "integrated"], "{outcome:#?}");
    assert!(outcome[1].2.contains("changed the repository configuration"), "{outcome:#?}");
    for s in [&sb, &serial] {
        let out = s.git_out(&s.work, &["config", "--get", "core.hooksPath"]);
        assert_eq!(out.status.code(), Some(1), "core.hooksPath is unset again: {out:?}");
    }
    assert_eq!(outcome, queue_outcome(&serial), "the serial run's outcome");
}
