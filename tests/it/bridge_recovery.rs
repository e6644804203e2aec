//! The event bus under failure: kill -9 of the bridge at its two commit points, a dead
//! consumer's pending entries, a password, and the event-triggered run from the stream.

use crate::support::redis::{entries_of, envelope, pending, platform_ready, xadd, Redis, STREAM};
use crate::support::{bin, jsonl, wait_for, Sandbox, CUTOVER};
use serde_json::{json, Value};
use std::process::{Child, Stdio};

const APPROVED: &str = "domain.software-development.review.approved";
const COMPLETED: &str = "domain.software-development.deployment.completed";

/// A background `integrator bridge`, killed (-9) on drop.
struct Serving(Child);

impl Serving {
    fn start(sb: &Sandbox) -> Serving {
        let mut c = sb.cmd(bin("integrator"), &sb.work);
        c.arg("bridge").stdout(Stdio::null()).stderr(Stdio::null());
        Serving(c.spawn().expect("start integrator bridge"))
    }
    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn approved(n: usize) -> Value {
    json!({"slug": format!("k{n}"), "review_round": 1, "reviewer_session_id": "r", "approved_at": "2026-01-01T10:00:00Z"})
}

fn approved_keys(sb: &Sandbox) -> Vec<String> {
    let events = jsonl(&sb.state().join("events.jsonl"));
    events.iter().filter(|e| e["type"] == APPROVED).map(|e| e["key"].as_str().unwrap().to_string()).collect()
}

/// `bridge --once` says `says`, leaves nothing pending, and the log has `keys` approvals.
fn drained(sb: &Sandbox, con: &mut redis::Connection, says: &str, keys: usize) {
    let out = sb.ok(&["bridge", "--once"]);
    assert!(out.contains(says), "{out}");
    assert_eq!(pending(con), 0);
    assert_eq!(approved_keys(sb).len(), keys);
}

fn setup() -> (Sandbox, Redis) {
    let sb = Sandbox::new();
    let redis = Redis::start(&sb.root.join("redis"));
    sb.config(&format!("{CUTOVER}{}", redis.config()));
    sb.ok(&["bridge", "--once"]);
    (sb, redis)
}

/// The state a kill -9 between the append and the XACK leaves: entries delivered to our
/// consumer and pending, their events already in the log. The restart records nothing
/// twice and acknowledges them.
#[test]
fn entries_appended_but_not_acknowledged_are_acknowledged_once_on_restart() {
    let (sb, redis) = setup();
    let mut con = redis.con();
    // Delivered to our consumer (pending), as the killed bridge had read them…
    read_as(&mut con, 3, "tester", 10);
    assert_eq!(pending(&mut con), 3);
    // …and appended to the log.
    for n in 0..3 {
        sb.ok(&["emit", "review-approved", "--slug", &format!("k{n}"), "--round", "1", "--at", "2026-01-01T10:00:00Z"]);
    }
    drained(&sb, &mut con, "recorded 0 / duplicate 3", 3);
}

/// A bridge killed exactly between the append and the XACK (failpoint `bridge-after-append`):
/// the entries stay pending on the stream and in the log; the next drain acknowledges them
/// and records nothing twice.
#[test]
fn a_kill_between_the_append_and_the_xack_records_each_entry_once() {
    crate::support::require_failpoints();
    let (sb, redis) = setup();
    let mut con = redis.con();
    for n in 0..3 {
        xadd(&mut con, &envelope(APPROVED, &approved(n), &[]));
    }
    let killed = sb
        .integrator()
        .args(["bridge", "--once"])
        .env("TELECLAUDE_FAILPOINTS", "bridge-after-append=kill")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.status.signal(), Some(libc::SIGKILL), "{}", String::from_utf8_lossy(&killed.stderr));
    assert_eq!(approved_keys(&sb).len(), 3, "appended before the kill");
    assert_eq!(pending(&mut con), 3, "not acknowledged before the kill");
    drained(&sb, &mut con, "recorded 0 / duplicate 3", 3);
}

#[test]
fn kill_9_of_a_serving_bridge_loses_nothing_and_records_nothing_twice() {
    let (sb, redis) = setup();
    let mut con = redis.con();
    let mut serving = Serving::start(&sb);
    let mut n = 0;
    for round in 0..5 {
        for _ in 0..60 {
            xadd(&mut con, &envelope(APPROVED, &approved(n), &[]));
            n += 1;
        }
        // Kill while it is reading or appending this burst, at a different moment each round.
        std::thread::sleep(std::time::Duration::from_millis(10 * round));
        serving.kill9();
        serving = Serving::start(&sb);
    }
    wait_for("the bridge to catch up", 30, || approved_keys(&sb).len() >= n);
    drop(serving);
    sb.ok(&["bridge", "--once"]);
    let mut keys = approved_keys(&sb);
    assert_eq!(keys.len(), n, "every entry recorded");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "nothing recorded twice");
    assert_eq!(pending(&mut con), 0);
}

/// Paused writes hold the bridge exactly between the outbox write and its XADD.
#[test]
fn an_outbox_entry_survives_a_kill_before_its_xadd_and_is_sent_once() {
    let (sb, redis) = setup();
    let mut con = redis.con();
    let sha = "a".repeat(40);
    let merge = "b".repeat(40);
    let line = json!({"type": COMPLETED, "source": "integrator", "payload": {"slug": "s1", "branch": "feat", "sha": sha,
        "merge_commit": merge, "integrated_at": "2026-01-01T10:00:00Z"}});
    let mut emit = sb.integrator();
    emit.args(["emit", "--json", "-"]).write_stdin(format!("{line}\n")).assert().success();
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(60_000).arg("WRITE").query(&mut con).unwrap();
    let mut c = sb.cmd(bin("integrator"), &sb.work);
    let mut stuck = Serving(c.args(["bridge", "--once"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    wait_for("the bridge blocked in XADD", 20, || {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        clients.lines().any(|l| l.contains("cmd=xadd") && l.contains("flags=b"))
    });
    let outbox = sb.state().join("bridge/outbox");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1, "written before the XADD");
    stuck.kill9();
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut con).unwrap();
    assert!(entries_of(&mut con, COMPLETED).is_empty(), "the killed XADD never ran");
    let out = sb.ok(&["bridge", "--once"]);
    assert!(out.contains("published 1"), "{out}");
    sb.ok(&["bridge", "--once"]);
    assert_eq!(entries_of(&mut con, COMPLETED).len(), 1, "sent once");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 0);
}

/// The platform adds `n` approvals; `consumer` reads `count` of them (they are pending on
/// it). Returns the ids read.
fn read_as(con: &mut redis::Connection, n: usize, consumer: &str, count: usize) -> Vec<String> {
    for i in 0..n {
        xadd(con, &envelope(APPROVED, &approved(i), &[]));
    }
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP").arg("integrator").arg(consumer).arg("COUNT").arg(count).arg("STREAMS").arg(STREAM).arg(">");
    let read: Vec<(String, Vec<(String, Vec<(String, String)>)>)> = cmd.query(con).unwrap();
    read[0].1.iter().map(|(id, _)| id.clone()).collect()
}

/// Make an entry pending on `dead-host` look idle for ten minutes (XCLAIM … IDLE).
fn idle_for_ten_minutes(con: &mut redis::Connection, id: &str) {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(STREAM).arg("integrator").arg("dead-host").arg(0).arg(id).arg("IDLE").arg(600_000);
    let _: redis::Value = cmd.query(con).unwrap();
}

#[test]
fn a_dead_consumers_pending_entries_are_claimed_after_the_timeout() {
    let (sb, redis) = setup();
    let mut con = redis.con();
    let ids = read_as(&mut con, 4, "dead-host", 2);
    // One was read a moment ago: not dead yet. The other has been idle for ten minutes.
    idle_for_ten_minutes(&mut con, &ids[1]);
    let out = sb.ok(&["bridge", "--once"]);
    assert!(out.contains("recorded 3"), "the idle one and the two unread: {out}");
    assert_eq!(pending(&mut con), 1, "the recently read one stays with its consumer");
    idle_for_ten_minutes(&mut con, &ids[0]);
    drained(&sb, &mut con, "recorded 1", 4);
}

#[test]
fn the_password_comes_from_the_url_or_the_environment_and_is_never_shown() {
    let sb = Sandbox::new();
    let redis = Redis::start_with(&sb.root.join("redis"), &["--requirepass", "s3cret"]);
    sb.config(&format!("{CUTOVER}{}", redis.config()));
    let (code, _, err) = sb.run(&["bridge", "--once"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NOAUTH") || err.contains("uthentication"), "{err}");
    let mut with_env = sb.integrator();
    with_env.env("TELECLAUDE_INTEGRATOR_REDIS_PASSWORD", "s3cret").args(["bridge", "--once"]).assert().success();
    sb.config(&format!("{CUTOVER}[bridge]\nredis_url = \"redis://:s3cret@127.0.0.1:{}\"\n", redis.port));
    sb.ok(&["bridge", "--once"]);
    let status = sb.ok(&["status"]);
    assert!(status.contains(&format!("redis://127.0.0.1:{}", redis.port)) && !status.contains("s3cret"), "{status}");
    sb.config(CUTOVER);
    let (code, _, err) = sb.run(&["bridge", "--once"]);
    assert_eq!(code, 2, "off: {err}");
    assert!(err.contains("[bridge] redis_url is empty"), "{err}");
}

#[test]
fn with_trigger_event_a_bridged_entry_lands_its_candidate_at_once() {
    let sb = Sandbox::new();
    let redis = Redis::start(&sb.root.join("redis"));
    let cfg = CUTOVER.replace("mode = \"cutover\"", "mode = \"cutover\"\ntrigger = \"event\"");
    sb.config(&format!("{cfg}{}", redis.config()));
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    let _serving = Serving::start(&sb);
    platform_ready(&mut redis.con(), "s1", "feat", &sha, "2026-01-01T10:00:00Z");
    wait_for("the event-triggered run to land the candidate", 30, || sb.is_ancestor_of_main(&sha));
    wait_for("deployment.completed on the stream", 15, || entries_of(&mut redis.con(), COMPLETED).len() == 1);
}
