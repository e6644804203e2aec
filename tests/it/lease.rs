//! The lease seen from outside (SPEC §7): whom a contended run names, and how long
//! `run --wait` waits. The test holds the flock on `lease.lock` itself, as a live run does.

use crate::support::{bin, wait_for, Sandbox, CUTOVER};
use std::fs::{File, OpenOptions};
use std::time::{Duration, Instant};

fn lease_lock(sb: &Sandbox) -> fd_lock::RwLock<File> {
    std::fs::create_dir_all(sb.state()).unwrap();
    let path = sb.state().join("lease.lock");
    fd_lock::RwLock::new(OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap())
}

/// `lease.json` naming `owner` (pid 4242); `released` as a finished run leaves it.
fn write_meta(sb: &Sandbox, owner: &str, released: bool) {
    let meta = serde_json::json!({
        "key": "integration/main", "owner": owner, "token": if released { "" } else { "tok" }, "pid": 4242,
        "host": "test", "acquired_at": "2026-01-01T00:00:00Z", "renewed_at": "2026-01-01T00:00:00Z",
        "expires_at": "2999-01-01T00:00:00Z", "ttl_secs": 120,
        "released_at": if released { Some("2026-01-01T00:01:00Z") } else { None },
    });
    std::fs::write(sb.state().join("lease.json"), meta.to_string()).unwrap();
}

fn ready_candidate(sb: &Sandbox) -> String {
    sb.config(CUTOVER);
    let sha = sb.branch("feat", "f.txt", "f\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sha
}

#[test]
fn a_contended_run_names_the_live_holder_never_a_released_one() {
    let sb = Sandbox::new();
    ready_candidate(&sb);
    let mut lock = lease_lock(&sb);
    let _held = lock.write().unwrap();
    // Locked, but the metadata still names the previous, released holder.
    write_meta(&sb, "previous run", true);
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 75, "{err}");
    assert_eq!(err.lines().next(), Some("lease busy: held by a process that has not written its metadata yet"));
    write_meta(&sb, "live run", false);
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 75, "{err}");
    assert_eq!(err.lines().next(), Some("lease busy: held by live run pid 4242 since 2026-01-01T00:00:00Z"));
}

#[test]
fn run_wait_waits_for_the_holder_and_gives_up_only_after_the_wait() {
    let sb = Sandbox::new();
    let sha = ready_candidate(&sb);
    let mut lock = lease_lock(&sb);
    write_meta(&sb, "live run", false);
    std::thread::scope(|s| {
        let held = lock.write().unwrap();
        // Still held after the whole wait: exit 75, but only once the wait is over.
        let t = Instant::now();
        let (code, _, err) = sb.run(&["run", "--wait", "1"]);
        assert_eq!(code, 75, "{err}");
        assert!(t.elapsed() >= Duration::from_secs(1), "gave up after {:?}", t.elapsed());
        // Released 1.5 s into a 30 s wait: the waiting run takes the lease and lands it.
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            drop(held);
        });
        let t = Instant::now();
        let (code, _, err) = sb.run(&["run", "--wait", "30"]);
        assert_eq!(code, 0, "{err}");
        assert!(t.elapsed() >= Duration::from_millis(1400), "ran after {:?}, before the release", t.elapsed());
    });
    assert!(sb.is_ancestor_of_main(&sha));
}

/// `lease.json` names this host as the kernel does (`lease break --force` signals only a
/// holder on this host, and `doctor` compares the two).
#[test]
fn the_lease_names_the_host_it_runs_on() {
    let sb = Sandbox::new();
    ready_candidate(&sb);
    sb.ok(&["run"]);
    let meta: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    let uname = std::process::Command::new("uname").arg("-n").output().unwrap();
    assert!(uname.status.success());
    assert_eq!(meta["host"], String::from_utf8_lossy(&uname.stdout).trim(), "{meta:#}");
}

/// `status` calls a holder hung only once its lease has expired (at `expires_at` it is
/// still live), and a dead holder's unreleased metadata stale, never hung.
#[test]
fn status_tells_a_live_holder_from_a_hung_one_and_a_dead_one() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let lease_at = |now: &str| {
        let out = sb.integrator().env("TELECLAUDE_NOW", now).args(["status", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (st["lease"]["held"].as_bool(), st["lease"]["stale"].as_bool(), st["lease"]["hung"].as_bool())
    };
    let mut lock = lease_lock(&sb);
    write_meta(&sb, "live run", false); // expires 2999-01-01T00:00:00Z
    {
        let _held = lock.write().unwrap();
        assert_eq!(lease_at("2999-01-01T00:00:00Z"), (Some(true), Some(false), Some(false)), "live at expires_at");
        assert_eq!(lease_at("2999-01-01T00:00:01Z"), (Some(true), Some(false), Some(true)), "hung once expired");
    }
    assert_eq!(lease_at("2999-01-01T00:00:01Z"), (Some(false), Some(true), Some(false)), "a dead holder is stale");
}

/// A run's lease expires `lease_ttl_secs` after it was taken or last renewed, and a
/// background thread renews it while the run waits (here: its grace period), so a long
/// run stays the live holder.
#[test]
fn a_held_lease_expires_a_ttl_ahead_and_is_renewed_while_the_run_waits() {
    let sb = Sandbox::new();
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", "mode = \"cutover\"\nlease_ttl_secs = 4\ngrace_secs = 4\n"));
    let mut run = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    wait_for("the run's grace period", 20, || sb.read_state("checkpoint.json").contains("\"phase\": \"grace\""));
    let meta = || serde_json::from_str::<serde_json::Value>(&sb.read_state("lease.json")).unwrap();
    let at = |m: &serde_json::Value, key: &str| {
        let rfc3339 = time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(m[key].as_str().unwrap(), &rfc3339).unwrap()
    };
    let first = meta();
    assert_eq!(at(&first, "expires_at") - at(&first, "renewed_at"), time::Duration::seconds(4), "{first:#}");
    wait_for("a renewal during the grace period", 10, || meta()["renewed_at"] != first["renewed_at"]);
    let renewed = meta();
    assert_eq!(at(&renewed, "expires_at") - at(&renewed, "renewed_at"), time::Duration::seconds(4), "{renewed:#}");
    assert_eq!(sb.status_json()["lease"]["hung"], false);
    assert!(run.wait().unwrap().success());
    // Released: the last renewal is kept, the token cleared.
    let released = meta();
    assert!(released["released_at"].is_string() && released["token"] == "", "{released:#}");
    assert!(at(&released, "renewed_at") >= at(&renewed, "renewed_at"), "{released:#}");
}

/// A run whose lease metadata another process replaced (its token is no longer the live
/// one) stops before it pushes: exit 1, main unchanged.
#[test]
fn a_run_whose_lease_was_taken_over_stops_before_it_pushes() {
    let sb = Sandbox::new();
    let sha = ready_candidate(&sb);
    let verify = "verify = \"touch ../../../../verifying; sleep 2\"\n";
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{verify}")));
    let run = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).stderr(std::process::Stdio::piped()).spawn();
    let run = run.unwrap();
    wait_for("the verify", 20, || sb.root.join("verifying").exists());
    let mut meta: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    meta["token"] = "someone-else".into();
    std::fs::write(sb.state().join("lease.json"), meta.to_string()).unwrap();
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lease"), "{err}");
    assert!(!sb.is_ancestor_of_main(&sha), "pushed without the lease");
}

/// `lease break`: nothing to do on a free lease; without `--force` it names the live holder
/// and changes nothing (exit 2); with `--force` it stops the holder on this host.
#[test]
fn lease_break_needs_force_and_then_stops_the_live_holder() {
    let sb = Sandbox::new();
    let sha = ready_candidate(&sb);
    assert_eq!(sb.ok(&["lease", "break", "--force"]).trim(), "lease is free: nothing to break");
    let verify = "verify = \"touch ../../../../verifying; sleep 30\"\n";
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{verify}")));
    let mut run = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).spawn().unwrap();
    wait_for("the verify", 20, || sb.root.join("verifying").exists());
    let (code, _, err) = sb.run(&["lease", "break"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the lease is held by integrator run"), "{err}");
    assert!(err.contains(&format!("pid {} on ", run.id())), "{err}");
    assert!(err.contains("integrator lease break --force"), "{err}");
    assert_eq!(run.try_wait().unwrap(), None, "without --force the holder keeps running");
    let broken = sb.ok(&["lease", "break", "--force"]);
    assert_eq!(broken.trim(), format!("lease broken: pid {} stopped on SIGTERM", run.id()));
    let status = run.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGTERM));
    assert_eq!(sb.status_json()["lease"]["held"], false);
    assert!(!sb.is_ancestor_of_main(&sha));
}

/// A holder that ignores SIGTERM: `lease break --force` waits for it to let go of the lock
/// (up to 5 s) before it escalates to SIGKILL, and says which of the two stopped it.
#[test]
fn lease_break_escalates_to_sigkill_when_the_holder_ignores_sigterm() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.state()).unwrap();
    let lock = sb.state().join("lease.lock");
    // `flock -o`: the lock is held by flock itself (not inherited by sleep), which ignores
    // SIGTERM like its shell; SIGKILL frees the lock.
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "trap '' TERM; exec flock -o \"$0\" sleep 30"])
        .arg(&lock)
        .spawn()
        .unwrap();
    wait_for("the holder's lock", 10, || sb.status_json()["lease"]["held"] == true);
    let host = String::from_utf8(std::process::Command::new("uname").arg("-n").output().unwrap().stdout).unwrap();
    let meta = serde_json::json!({
        "key": "integration/main", "owner": "integrator run", "token": "tok", "pid": holder.id(),
        "host": host.trim(), "acquired_at": "2026-01-01T00:00:00Z", "renewed_at": "2026-01-01T00:00:00Z",
        "expires_at": "2999-01-01T00:00:00Z", "ttl_secs": 120,
    });
    std::fs::write(sb.state().join("lease.json"), meta.to_string()).unwrap();
    let started = Instant::now();
    let broken = sb.ok(&["lease", "break", "--force"]);
    assert_eq!(broken.trim(), format!("lease broken: pid {} killed", holder.id()));
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "SIGKILL only after the SIGTERM wait: {:?}",
        started.elapsed()
    );
    let status = holder.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    assert_eq!(sb.status_json()["lease"]["held"], false);
}
