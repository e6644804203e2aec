//! A takeover is in the log (issue 15, friction 9): after a `kill -9` mid-run, the next
//! run ends the dead run's lifecycle and says that it took the lease over.

use crate::support::{bin, jsonl, Sandbox};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

#[test]
fn the_run_after_a_kill_closes_the_dead_runs_lifecycle_and_records_the_takeover() {
    let sb = Sandbox::new();
    // verify runs in <state>/worktree = <root>/work/.git/teleclaude/worktree.
    let verify = "verify = \"touch ../../../../started; test -e ../../../../fast || sleep 30\"\n";
    sb.cutover_with(verify);
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T00:00:01Z");
    let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).process_group(0).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sb.root.join("started").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before verify");
        assert!(Instant::now() < deadline, "timed out waiting for verify");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
    std::fs::write(sb.root.join("fast"), "").unwrap();
    sb.ok(&["run"]);
    assert!(sb.is_ancestor_of_main(&a));

    let evs = jsonl(&sb.state().join("events.jsonl"));
    let of = |kind: &str| evs.iter().filter(|e| e["type"] == kind).cloned().collect::<Vec<_>>();
    let started = of("integration.started");
    let completed = of("integration.completed");
    assert_eq!(started.len(), 2, "{evs:#?}");
    assert_eq!(completed.len(), 2, "each run's lifecycle is closed: {evs:#?}");
    let dead = started[0]["payload"]["run_id"].as_str().unwrap();
    let next = started[1]["payload"]["run_id"].as_str().unwrap();
    assert_eq!(completed[0]["payload"]["run_id"], dead);
    assert_eq!(completed[0]["payload"]["ok"], false);
    assert_eq!(completed[0]["payload"]["taken_over_by"], next);
    assert_eq!(completed[0]["payload"]["phase"], "verify");
    assert_eq!(started[1]["payload"]["took_over_from"]["run_id"], dead);
    let holder = started[1]["payload"]["took_over_from"]["holder"].as_str().unwrap();
    assert!(holder.contains(&format!("pid {}", child.id())), "{holder}");
    assert_eq!(completed[1]["payload"]["run_id"], next);
    assert_eq!(completed[1]["payload"]["ok"], true);
}
