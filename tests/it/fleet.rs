//! The fleet (README "Fleet"): clones as computers around one real `git daemon` remote.

use crate::support::fleet::{all_once, hold_background_slot, hooks_dir, writer_of, Computer, Fleet, FLEET};
use crate::support::guards::write_exec;
use crate::support::{bin, jsonl};
use std::process::Stdio;
use std::time::Duration;

fn notifications(f: &Fleet, c: &Computer) -> serde_json::Value {
    serde_json::from_str(&f.ok(c, &["notifications", "--fetch", "--json", "--all"])).unwrap()
}

/// Acceptance 1: agents on B and C record their events; A lands every candidate once,
/// in `ready_at` order; B sees them resolved.
#[test]
fn three_computers_one_integrator() {
    let f = Fleet::new();
    let (a, b, c) = (f.computer("a", FLEET), f.computer("b", FLEET), f.computer("c", FLEET));
    f.candidate(&b, "b1", "2026-01-01T10:00:02Z");
    f.candidate(&c, "c1", "2026-01-01T10:00:01Z");
    f.candidate(&c, "c2", "2026-01-01T10:00:03Z");
    let out = f.ok(&a, &["run"]);
    assert!(out.contains("run complete: 3 processed"), "{out}");
    assert_eq!(f.landed(), ["c1", "b1", "c2"]);
    // Nothing lands twice: a second run (and one on B) finds everything on main.
    f.ok(&a, &["run"]);
    assert_eq!(f.landed(), ["c1", "b1", "c2"]);
    let n = notifications(&f, &b);
    let states: Vec<(String, String)> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["slug"].as_str().unwrap().to_string(), x["state"].as_str().unwrap().to_string()))
        .collect();
    for slug in ["b1", "c1", "c2"] {
        let completed: Vec<String> = f.keys(&b).into_iter().filter(|k| k.contains("completed")).collect();
        let cursor = std::fs::read_to_string(b.dir.join(".git/teleclaude/fleet/cursor.json")).unwrap_or_default();
        assert!(states.contains(&(slug.to_string(), "resolved".to_string())), "{slug}: {n:#} {completed:?} {cursor}");
    }
    // Each computer's log holds every event once.
    for x in [&a, &b, &c] {
        f.ok(x, &["sync", "--quiet"]);
        assert!(all_once(&f.keys(x)), "{}", x.host);
    }
    assert_eq!(f.keys(&a).len(), f.keys(&b).len());
    // A's doctor shows the fleet: both writers, the lease, the remote's atomic pushes.
    let (_, out, _) = f.run(&a, &["doctor", "--json"]);
    let doctor: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fleet: Vec<(String, String)> = doctor["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["check"].as_str().unwrap().starts_with("fleet-"))
        .map(|x| (x["check"].as_str().unwrap().to_string(), x["message"].as_str().unwrap().to_string()))
        .collect();
    let has = |check: &str, text: &str| fleet.iter().any(|(c, m)| c == check && m.contains(text));
    assert!(has("fleet-sync", "last sync"), "{fleet:?}");
    assert_eq!(fleet.iter().filter(|(c, m)| c == "fleet-writer" && m.contains("last event")).count(), 2, "{fleet:?}");
    assert!(has("fleet-lease", "free (last held by integrator run (tester) on a)"), "{fleet:?}");
    assert!(has("fleet-atomic", "takes atomic pushes"), "{fleet:?}");
}

/// Acceptance 2: two integrators on two computers started together, ten times.
#[test]
fn two_integrators_started_together_land_each_candidate_once() {
    let f = Fleet::new();
    let cfg = FLEET.replace("lease_ttl_secs = 30\n", "lease_ttl_secs = 30\nverify = \"sleep 0.3\"\n");
    let (a, b, c) = (f.computer("a", &cfg), f.computer("b", &cfg), f.computer("c", FLEET));
    let mut busy = 0;
    let mut slugs = Vec::new();
    for round in 0..10 {
        let slug = format!("r{round}");
        f.candidate(&c, &slug, &format!("2026-01-01T10:00:{round:02}Z"));
        slugs.push(slug);
        let children: Vec<_> = [&a, &b]
            .iter()
            .map(|x| {
                f.integrator(x).args(["run", "--quiet"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        for (x, child) in [&a, &b].into_iter().zip(children) {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => {}
                Some(75) => {
                    busy += 1;
                    let other = if x.host == "a" { "b" } else { "a" };
                    assert!(err.contains("lease busy: held by") && err.contains(&format!(" on {other} ")), "{err}");
                }
                code => panic!("{}: exit {code:?}: {err}", x.host),
            }
        }
    }
    assert!(busy > 0, "the two integrators never met");
    // Whatever a round's loser left is landed by the next run.
    f.ok(&a, &["run", "--quiet"]);
    let landed = f.landed();
    assert!(all_once(&landed), "{landed:?}");
    assert_eq!(landed.len(), slugs.len(), "{landed:?}");
}

/// Acceptance 3: a holder stopped past its expiry is taken over; when it resumes the
/// remote refuses its push of main.
#[test]
fn a_paused_holder_taken_over_never_moves_main() {
    let f = Fleet::new();
    let marker = f.sb.root.join("a-verifying");
    let fast = FLEET
        .replace("lease_ttl_secs = 30", "lease_ttl_secs = 4")
        .replace("[fleet]\nenabled = true\n", "[fleet]\nenabled = true\nclock_skew_secs = 0\n");
    let a_cfg = fast.replace(
        "lease_ttl_secs = 4\n",
        &format!("lease_ttl_secs = 4\nverify = \"touch {}; sleep 1\"\n", marker.display()),
    );
    let (a, b, c) = (f.computer("a", &a_cfg), f.computer("b", &fast), f.computer("c", FLEET));
    let sha = f.candidate(&c, "x1", "2026-01-01T10:00:01Z");
    let holder = f.integrator(&a).args(["run"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    crate::support::wait_for("A to verify", 30, || marker.exists());
    let pid = holder.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(5500));
    let out = f.ok(&b, &["run"]);
    assert!(out.contains("integrated") && out.contains("x1"), "{out}");
    let main = f.sb.origin_ref("main").unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let out = holder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the fleet lease on `origin` was taken over"), "{err}");
    assert_eq!(f.sb.origin_ref("main").unwrap(), main, "main untouched by the old holder");
    assert_eq!(f.sb.integrated_count(&sha), 1);
    let lease = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%B", "refs/teleclaude/lease"]);
    assert!(lease.contains("\"host\": \"b\""), "{lease}");
}

/// Acceptance 4: clocks ±20 s apart (through the clock seam) change no outcome.
#[test]
fn clock_skew_changes_no_outcome() {
    let f = Fleet::new();
    let (mut a, mut b, c) = (f.computer("a", FLEET), f.computer("b", FLEET), f.computer("c", FLEET));
    a.env.push(("TELECLAUDE_NOW".into(), "+20".into()));
    b.env.push(("TELECLAUDE_NOW".into(), "-20".into()));
    for round in 0..3 {
        f.candidate(&c, &format!("k{round}"), &format!("2026-01-01T10:00:0{round}Z"));
        let kids: Vec<_> = [&a, &b]
            .iter()
            .map(|x| f.integrator(x).args(["run", "--quiet"]).stderr(Stdio::piped()).spawn().unwrap())
            .collect();
        let codes: Vec<Option<i32>> = kids.into_iter().map(|k| k.wait_with_output().unwrap().status.code()).collect();
        assert!(codes.iter().all(|c| matches!(c, Some(0 | 75))), "{codes:?}");
        assert!(codes.contains(&Some(0)), "{codes:?}");
    }
    // One after the other, each takes the released lease whatever its clock says.
    f.candidate(&c, "k3", "2026-01-01T10:00:03Z");
    f.ok(&b, &["run", "--quiet"]);
    f.candidate(&c, "k4", "2026-01-01T10:00:04Z");
    f.ok(&a, &["run", "--quiet"]);
    assert_eq!(f.landed(), ["k0", "k1", "k2", "k3", "k4"]);
}

/// Acceptance 5: the remote unreachable during a sync; then a kill -9 at every step.
#[test]
fn an_unreachable_remote_and_killed_syncs_converge() {
    let mut f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    f.ok(&a, &["emit", "review-approved", "--slug", "first", "--round", "1"]);
    f.ok(&a, &["sync", "--quiet"]);
    f.stop();
    f.ok(&b, &["emit", "review-approved", "--slug", "offline", "--round", "1"]);
    let (code, _, err) = f.run(&b, &["sync"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot reach the fleet remote `origin`") && err.contains("the events stay in this clone"),
        "{err}"
    );
    f.restart();
    f.ok(&b, &["sync", "--quiet"]);
    // B's emits start no background sync while this test holds its slot: each step's
    // sync below is the only one.
    let _slot = hold_background_slot(&b);
    let steps = ["fetched", "keys-noted", "ingested", "tree-written", "committed", "pushed", "cursor-saved"];
    for (round, step) in steps.iter().enumerate() {
        f.ok(&a, &["emit", "review-approved", "--slug", &format!("a{round}"), "--round", "1"]);
        f.ok(&b, &["emit", "review-approved", "--slug", &format!("b{round}"), "--round", "1"]);
        f.ok(&a, &["sync", "--quiet"]);
        let mut killed = f.integrator(&b);
        killed.args(["sync", "--quiet"]).env("TELECLAUDE_FLEET_KILL_AT", step);
        let status = killed.status().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{step}: {status:?}");
    }
    for x in [&b, &a, &b] {
        f.ok(x, &["sync", "--quiet"]);
    }
    let (ka, kb) = (f.keys(&a), f.keys(&b));
    assert!(all_once(&ka) && all_once(&kb), "{ka:?}\n{kb:?}");
    let mut sa = ka.clone();
    let mut sb = kb.clone();
    sa.sort();
    sb.sort();
    assert_eq!(sa, sb, "both computers hold the same events");
    assert_eq!(ka.len(), 2 + 2 * steps.len());
    // B's writer ref holds each of B's events once.
    let published = f.published(&writer_of(&b));
    assert!(all_once(&published), "{published:?}");
    assert_eq!(published.len(), 1 + steps.len());
}

/// An emit reaches the remote by itself: the background sync it starts publishes it.
#[test]
fn an_emit_reaches_every_computer_without_an_explicit_sync() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    f.ok(&b, &["emit", "review-approved", "--slug", "bg", "--round", "1"]);
    crate::support::wait_for("the background sync to publish", 20, || {
        f.ok(&a, &["sync", "--quiet"]);
        f.keys(&a).iter().any(|k| k.ends_with(":bg:1"))
    });
    let log = std::fs::read_to_string(b.dir.join(".git/teleclaude/fleet/sync.log")).unwrap_or_default();
    assert!(!log.contains("error"), "{log}");
}

/// A push through the pre-push hook reaches the remote by itself: the hook records
/// `branch.pushed` and starts the background sync that publishes it.
#[test]
fn a_hooked_push_reaches_every_computer_without_an_explicit_sync() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    write_exec(&hooks_dir(&b).join("pre-push"), &format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin("pre-push").display()));
    let sha = f.branch(&b, "hooked", "hooked.txt");
    crate::support::wait_for("the hook's background sync to publish", 20, || {
        f.ok(&a, &["sync", "--quiet"]);
        f.keys(&a).iter().any(|k| k.contains(&sha))
    });
    let log = std::fs::read_to_string(b.dir.join(".git/teleclaude/fleet/sync.log")).unwrap_or_default();
    assert!(!log.contains("error"), "{log}");
}

/// Acceptance 6: cutover recorded on A refuses B's old canonical push once B synced.
#[test]
fn cutover_on_one_computer_refuses_the_old_path_on_another() {
    let f = Fleet::new();
    let a = f.computer("a", FLEET);
    let b = f.computer("b", "[fleet]\nenabled = true\n");
    write_exec(&hooks_dir(&b).join("pre-push"), &format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin("pre-push").display()));
    let push_main = |file: &str| {
        f.sb.git(&b.dir, &["pull", "-q", "--ff-only", "origin", "main"]);
        f.sb.commit(&b.dir, file, "x\n", file);
        let mut cmd = f.sb.cmd("git", &b.dir);
        cmd.args(["push", "origin", "HEAD:refs/heads/main"]);
        cmd.output().unwrap()
    };
    // Before cutover the old delivery path still pushes main from B's main checkout.
    let out = push_main("before.txt");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = f.ok(&a, &["run"]);
    assert!(out.contains("mode cutover"), "{out}");
    // Not synced yet: B does not know.
    let out = push_main("unsynced.txt");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    f.ok(&b, &["sync", "--quiet"]);
    let main = f.sb.origin_ref("main").unwrap();
    let out = push_main("after.txt");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("MAIN_GUARDRAIL_BLOCKED"), "{err}");
    assert_eq!(f.sb.origin_ref("main").unwrap(), main);
}

/// A writer ref rewritten on the remote is refused, kept aside, and reported by doctor.
#[test]
fn a_rewritten_writer_ref_is_refused_and_reported() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    let writer = writer_of(&b);
    // Rewrite: a root commit of the same writer replaces the history.
    let forged = f.forge_batch(&writer, None, &format!("teleclaude events {writer} 0 0\n"), None);
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("was rewritten (not a fast-forward): refused and kept aside"), "{err}");
    let aside = f.sb.git(&a.dir, &["rev-parse", &format!("refs/teleclaude/fleet/rewritten/{writer}")]);
    assert_eq!(aside, forged);
    let (code, out, _) = f.run(&a, &["doctor"]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL fleet-writer") && out.contains("was rewritten"), "{out}");
}

/// A remote without the atomic capability: a fleet cutover run refuses, clearly.
#[test]
fn a_remote_without_atomic_pushes_refuses_a_cutover_run() {
    let f = Fleet::new();
    f.sb.git(&f.sb.origin, &["config", "receive.advertiseAtomic", "false"]);
    let a = f.computer("a", FLEET);
    let (code, _, err) = f.run(&a, &["run"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not support atomic pushes") && err.contains("fleet.allow_non_atomic"), "{err}");
    assert!(f.sb.git_out(&f.sb.origin, &["rev-parse", "--verify", "-q", "refs/teleclaude/lease"]).stdout.is_empty());
    let allowed = FLEET.replace("[fleet]\nenabled = true\n", "[fleet]\nenabled = true\nallow_non_atomic = true\n");
    let b = f.computer("b", &allowed);
    let sha = f.candidate(&b, "n1", "2026-01-01T10:00:01Z");
    f.ok(&b, &["run"]);
    assert_eq!(f.sb.integrated_count(&sha), 1);
    let events = jsonl(&b.dir.join(".git/teleclaude/events.jsonl"));
    assert!(events.iter().any(|e| e["type"] == "integration.candidate.delivered"));
}

/// `status --fetch` and `notifications --fetch` show the fleet's view: what another
/// computer recorded appears only after the fetch (which syncs).
#[test]
fn status_and_notifications_with_fetch_show_the_fleets_view() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    // No background sync on either computer: only the `--fetch` below brings events in.
    let (_a_slot, _b_slot) = (hold_background_slot(&a), hold_background_slot(&b));
    f.candidate(&b, "far", "2026-01-01T10:00:01Z");
    let slugs = |c: &Computer, args: &[&str]| -> Vec<String> {
        let status: serde_json::Value = serde_json::from_str(&f.ok(c, args)).unwrap();
        status["candidates"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap().to_string()).collect()
    };
    assert!(slugs(&a, &["status", "--json"]).is_empty(), "A has not synced yet");
    assert_eq!(slugs(&a, &["status", "--fetch", "--json"]), ["far"]);
    // A lands it; B learns of it with its notifications' --fetch, not before.
    f.ok(&a, &["run", "--quiet"]);
    assert_eq!(f.landed(), ["far"]);
    let state = |n: &serde_json::Value| -> Option<String> {
        let all = n["notifications"].as_array().unwrap();
        all.iter().find(|x| x["slug"] == "far").map(|x| x["state"].as_str().unwrap().to_string())
    };
    let before: serde_json::Value = serde_json::from_str(&f.ok(&b, &["notifications", "--json", "--all"])).unwrap();
    assert_ne!(state(&before).as_deref(), Some("resolved"), "{before:#}");
    let after = notifications(&f, &b);
    assert_eq!(state(&after).as_deref(), Some("resolved"), "{after:#}");
}

/// A lease record on the remote written by "another computer" (`z`): held until 2999, or
/// released.
fn forge_lease(f: &Fleet, released: bool) {
    let mut record = serde_json::json!({
        "key": "integration/main", "owner": "integrator run (z)", "host": "z", "pid": 4242, "token": "t0k3n",
        "acquired_at": "2026-01-01T00:00:00Z", "renewed_at": "2026-01-01T00:00:00Z",
        "expires_at": "2999-01-01T00:00:00Z", "ttl_secs": 30, "writer": "w-zzzzzzzzzzzzzzzz",
    });
    if released {
        record["released_at"] = "2026-01-01T00:00:01Z".into();
        record["token"] = "".into();
    }
    let message = format!("teleclaude lease integrator run (z) on z\n\n{record:#}\n");
    let origin = &f.sb.origin;
    let tree = f.sb.git(origin, &["hash-object", "-t", "tree", "-w", "/dev/null"]);
    let parent = f.sb.git_out(origin, &["rev-parse", "--verify", "-q", "refs/teleclaude/lease"]).stdout;
    let parent = String::from_utf8_lossy(&parent).trim().to_string();
    let mut c = f.sb.cmd("git", origin);
    c.args(["commit-tree", &tree, "-m", &message]);
    if !parent.is_empty() {
        c.args(["-p", &parent]);
    }
    let commit = String::from_utf8_lossy(&c.output().unwrap().stdout).trim().to_string();
    f.sb.git(origin, &["update-ref", "refs/teleclaude/lease", &commit]);
}

/// `run --wait` against a lease another computer holds on the remote: it waits, and runs
/// once that computer releases it.
#[test]
fn run_wait_waits_for_a_remote_lease_and_runs_once_released() {
    let f = Fleet::new();
    let (a, c) = (f.computer("a", FLEET), f.computer("c", FLEET));
    let sha = f.candidate(&c, "w1", "2026-01-01T10:00:01Z");
    forge_lease(&f, false);
    let started = std::time::Instant::now();
    let mut waiter =
        f.integrator(&a).args(["run", "--wait", "60"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(waiter.try_wait().unwrap().is_none(), "the run did not wait for the remote lease");
    assert_eq!(f.sb.integrated_count(&sha), 0);
    forge_lease(&f, true);
    let out = waiter.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(f.sb.integrated_count(&sha), 1, "{stdout}");
    let lease = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%B", "refs/teleclaude/lease"]);
    assert!(lease.contains("\"host\": \"a\"") && lease.contains("released_at"), "{lease}");
}

/// `run --wait` gives up with exit 75, naming the holder, when the remote lease stays busy.
#[test]
fn run_wait_gives_up_on_a_remote_lease_that_stays_busy() {
    let f = Fleet::new();
    let a = f.computer("a", FLEET);
    forge_lease(&f, false);
    let started = std::time::Instant::now();
    let (code, _, err) = f.run(&a, &["run", "--wait", "2"]);
    let waited = started.elapsed();
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("lease busy: held by integrator run (z) on z pid 4242"), "{err}");
    assert!(waited >= Duration::from_secs(2), "gave up after {waited:?}, before the wait");
    // Without --wait: at once.
    let started = std::time::Instant::now();
    let (code, _, _) = f.run(&a, &["run"]);
    assert_eq!(code, 75);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// `fleet/mode.json` (what the guards go by) changes only when the published mode does:
/// a lease that moved with the same mode leaves it as it was, naming the lease commit that
/// first carried that mode.
#[test]
fn the_synced_mode_is_rewritten_only_when_the_mode_changes() {
    let f = Fleet::new();
    let shadow = "[integrator]\nmode = \"shadow\"\n[fleet]\nenabled = true\n";
    let (a, b) = (f.computer("a", shadow), f.computer("b", shadow));
    let mode_json = || std::fs::read_to_string(b.dir.join(".git/teleclaude/fleet/mode.json")).unwrap();
    f.ok(&a, &["run", "--quiet"]);
    f.ok(&b, &["sync", "--quiet"]);
    let first = mode_json();
    assert!(first.contains("\"effective\": \"shadow\""), "{first}");
    f.ok(&a, &["run", "--quiet"]);
    f.ok(&b, &["sync", "--quiet"]);
    assert_eq!(mode_json(), first, "the lease moved, the mode did not");
    std::fs::write(a.dir.join(".git/teleclaude/config.toml"), FLEET).unwrap();
    f.ok(&a, &["run", "--quiet"]);
    f.ok(&b, &["sync", "--quiet"]);
    assert!(mode_json().contains("\"effective\": \"cutover\""), "{}", mode_json());
}

/// A clone whose own publish fails (here the remote refuses its writer ref) still learns,
/// from the same sync, that the fleet went to cutover: its guards do not fail open.
#[test]
fn a_clone_that_cannot_publish_still_learns_of_cutover() {
    let f = Fleet::new();
    let a = f.computer("a", FLEET);
    let b = f.computer("b", "[fleet]\nenabled = true\n");
    let _slot = hold_background_slot(&b);
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let refused = format!("refs/teleclaude/events/{}", writer_of(&b));
    let hook = format!("#!/bin/sh\nwhile read old new ref; do [ \"$ref\" = {refused} ] && exit 1; done\nexit 0\n");
    write_exec(&f.sb.origin.join("hooks/pre-receive"), &hook);
    let out = f.ok(&a, &["run"]);
    assert!(out.contains("mode cutover"), "{out}");
    f.ok(&b, &["emit", "review-approved", "--slug", "two", "--round", "1"]);
    let (code, _, err) = f.run(&b, &["sync"]);
    assert_ne!(code, 0, "the publish is refused: {err}");
    let mode = std::fs::read_to_string(b.dir.join(".git/teleclaude/fleet/mode.json")).unwrap();
    assert!(mode.contains("\"effective\": \"cutover\""), "{mode}");
}
