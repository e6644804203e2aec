//! Reliability evidence (ENGINEERING.md): concurrent runs, `kill -9` at many points,
//! concurrent emitters, damaged state files, hostile input through every entry point.
//! Every test asserts against git truth on the bare remote, not only the integrator's word.

use crate::support::{bin, kill_9_at_failpoint, Sandbox};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::CUTOVER;
const COMPLETED: &str = "domain.software-development.deployment.completed";

/// The cutover configuration with extra `[integrator]` keys.
fn cutover_config(sb: &Sandbox, integrator_keys: &str) {
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{integrator_keys}")));
}

/// A candidate: slug, branch, sha and the file it adds.
#[derive(Clone, Debug)]
struct Cand {
    slug: String,
    branch: String,
    sha: String,
    file: String,
}

/// `n` branches off origin/main (one new file each), pushed in one go, and the events that
/// make them READY recorded in one bulk ingest, in FIFO order c00, c01, …
fn ready_candidates(sb: &Sandbox, prefix: &str, n: usize) -> Vec<Cand> {
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let mut cands = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}{i:02}");
        sb.git(&sb.work, &["checkout", "-q", "-B", &name, "origin/main"]);
        let file = format!("{name}.txt");
        let sha = sb.commit(&sb.work, &file, &format!("{name}\n"), &format!("{name}: add {file}"));
        cands.push(Cand { slug: name.clone(), branch: name, sha, file });
    }
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    let mut push = vec!["push".to_string(), "-q".into(), "origin".into()];
    push.extend(cands.iter().map(|c| format!("{0}:refs/heads/{0}", c.branch)));
    sb.git(&sb.work, &push.iter().map(String::as_str).collect::<Vec<_>>());
    let mut input = String::new();
    for (i, c) in cands.iter().enumerate() {
        let at = format!("2026-01-01T10:{i:02}:00Z");
        input.push_str(&format!(
            "{{\"type\":\"review-approved\",\"payload\":{{\"slug\":\"{s}\",\"review_round\":1,\"reviewer_session_id\":\"r\",\"approved_at\":\"{at}\"}}}}\n\
             {{\"type\":\"branch-pushed\",\"payload\":{{\"branch\":\"{b}\",\"sha\":\"{h}\",\"remote\":\"origin\",\"pushed_at\":\"{at}\",\"pusher\":\"p\"}}}}\n\
             {{\"type\":\"deployment-started\",\"payload\":{{\"slug\":\"{s}\",\"branch\":\"{b}\",\"sha\":\"{h}\",\"worker_session_id\":\"w\",\"orchestrator_session_id\":\"o\",\"ready_at\":\"{at}\"}}}}\n",
            s = c.slug,
            b = c.branch,
            h = c.sha
        ));
    }
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cands
}

/// Every parseable record of the log (read as bytes: a damaged log may not be UTF-8).
fn log_events(sb: &Sandbox) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(sb.state().join("events.jsonl")).unwrap_or_default();
    bytes.split(|b| *b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect()
}

fn events_of(sb: &Sandbox, kind: &str) -> Vec<serde_json::Value> {
    log_events(sb).into_iter().filter(|e| e["type"] == kind).collect()
}

fn queue_all(sb: &Sandbox) -> Vec<serde_json::Value> {
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    q["items"].as_array().unwrap().clone()
}

/// Queue, log and git agree: every candidate on origin/main exactly once (by trailer and
/// by content), one `integrated` queue item and one `deployment.completed` each; every
/// commit on main's first-parent history is the initial one or a whole integration
/// (two parents, the second the sha its trailer names); no private worktree left; lease free.
fn assert_converged(sb: &Sandbox, cands: &[Cand]) {
    // First-parent history of main: (commit, parents, Integrated-Sha trailer).
    let history = sb.git(
        &sb.origin,
        &["log", "--first-parent", "--format=%H %P|%(trailers:key=Integrated-Sha,valueonly,separator=)", "main"],
    );
    let commits: Vec<(Vec<String>, String)> = history
        .lines()
        .map(|l| {
            let (c, t) = l.split_once('|').unwrap();
            (c.split(' ').map(str::to_string).collect(), t.trim().to_string())
        })
        .collect();
    for (i, (c, trailer)) in commits.iter().enumerate() {
        match c.len() {
            // The root, a commit of the old path, or a bookkeeping commit on its merge.
            2 => assert!(
                trailer.is_empty() || commits.get(i + 1).is_some_and(|(p, t)| p[0] == c[1] && t == trailer),
                "a one-parent commit with a trailer that is not bookkeeping: {c:?}"
            ),
            1 => assert!(trailer.is_empty() && i + 1 == commits.len(), "{c:?}"),
            3 => assert_eq!(&c[2], trailer, "a merge carries the trailer of its second parent: {c:?}"),
            _ => panic!("unexpected commit shape on main: {c:?}"),
        }
    }
    for c in cands {
        let merges = commits.iter().filter(|(p, t)| p.len() == 3 && *t == c.sha).count();
        assert_eq!(merges, 1, "{} merged into main exactly once", c.slug);
        assert!(sb.is_ancestor_of_main(&c.sha), "{}", c.slug);
        assert_eq!(sb.git(&sb.origin, &["show", &format!("main:{}", c.file)]), c.slug, "content of {}", c.slug);
    }
    let items = queue_all(sb);
    for c in cands {
        let mine: Vec<&serde_json::Value> = items.iter().filter(|i| i["sha"] == c.sha.as_str()).collect();
        assert_eq!(mine.len(), 1, "one queue item for {}: {items:#?}", c.slug);
        assert_eq!(mine[0]["status"], "integrated", "{}: {:#}", c.slug, mine[0]);
    }
    // The delivery was finished: the merged branch deleted, the outcome recorded.
    let outcomes = crate::support::jsonl(&sb.state().join("outcomes.jsonl"));
    for c in cands {
        assert_eq!(sb.origin_ref(&c.branch), None, "merged branch {} deleted", c.branch);
        let integrated = |o: &&serde_json::Value| o["sha"] == c.sha.as_str() && o["outcome"] == "integrated";
        assert!(outcomes.iter().any(|o| integrated(&o)), "an `integrated` outcome for {}", c.slug);
    }
    let done = events_of(sb, COMPLETED);
    for c in cands {
        let n = done.iter().filter(|e| e["payload"]["sha"] == c.sha.as_str()).count();
        assert_eq!(n, 1, "one deployment.completed for {}", c.slug);
    }
    let worktrees = sb.git(&sb.work, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "stray worktree:\n{worktrees}");
    assert!(!sb.state().join("worktree").exists(), "private worktree left behind");
    assert_eq!(sb.status_json()["lease"]["held"], false);
}

/// Lifecycle events of different runs never interleave in the log: runs held the lease
/// one at a time.
fn assert_runs_did_not_overlap(sb: &Sandbox) -> usize {
    let mut open: Option<String> = None;
    let mut runs = 0;
    for e in log_events(sb) {
        let kind = e["type"].as_str().unwrap_or_default();
        if !kind.starts_with("integration.") || kind == "integration.parity.accepted" {
            continue;
        }
        let run = e["payload"]["run_id"].as_str().unwrap_or_default().to_string();
        match kind {
            "integration.started" => {
                assert!(open.is_none(), "run {run} started while {open:?} was still running");
                open = Some(run);
                runs += 1;
            }
            "integration.completed" => {
                assert_eq!(open.take().as_deref(), Some(run.as_str()), "completed by another run");
            }
            _ => assert_eq!(open.as_deref(), Some(run.as_str()), "{kind} of run {run} outside its lease"),
        }
    }
    assert!(open.is_none(), "a run never completed: {open:?}");
    runs
}

#[test]
fn concurrent_runs_hold_the_lease_one_at_a_time_and_land_each_candidate_once() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "c", 12);
    let deadline = Instant::now() + Duration::from_secs(45);
    let codes: Vec<i32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let mut codes = Vec::new();
                    while Instant::now() < deadline && !cands.iter().all(|c| sb.is_ancestor_of_main(&c.sha)) {
                        let out = sb.integrator().args(["run", "--quiet", "--max-items", "2"]).output().unwrap();
                        let code = out.status.code().unwrap_or(-1);
                        let err = String::from_utf8_lossy(&out.stderr);
                        match code {
                            0 => assert!(err.is_empty(), "{err}"),
                            75 => assert!(err.starts_with("lease busy: held by "), "{err}"),
                            _ => panic!("run exited {code}: {err}"),
                        }
                        codes.push(code);
                    }
                    codes
                })
            })
            .collect();
        handles.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(codes.contains(&75), "runs contended for the lease: {codes:?}");
    assert!(codes.iter().filter(|c| **c == 0).count() >= 6, "12 candidates, 2 per run: {codes:?}");
    // A last plain run finds nothing to do.
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    assert!(assert_runs_did_not_overlap(&sb) >= 6);
    let lease: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    assert!(lease.get("stale_takeover").is_none(), "no holder died: {lease:#}");
}

/// What a `kill -9` takes down.
#[derive(Clone, Copy, PartialEq)]
enum Victim {
    /// The run alone: git processes it started finish or fail on their own, as when cron
    /// or an operator kills it. (Killing the whole group could also kill the local
    /// `origin.git`'s receive-pack mid-update, a remote-side crash: see
    /// `a_stale_ref_lock_on_the_remote_fails_the_run_and_keeps_the_candidate`.)
    Run,
    /// The run's process group: the run and the verify / bookkeeping command it started.
    Group,
}

fn sigkill(child: &std::process::Child, victim: Victim) {
    let pid = child.id() as i32;
    // SAFETY: signalling a process (group) this test created.
    unsafe { libc::kill(if victim == Victim::Group { -pid } else { pid }, libc::SIGKILL) };
}

/// Run the integrator in its own process group, wait for `point`, then SIGKILL it.
fn kill_9_when(sb: &Sandbox, what: &str, victim: Victim, point: impl Fn(&Sandbox) -> bool) {
    let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).process_group(0).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !point(sb) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before the kill point {what}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
    sigkill(&child, victim);
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL), "{what}");
}

/// Three candidates, the run killed at the failpoint `point`; a normal run then converges.
fn kill_at_then_recover(point: &str) -> (Sandbox, Vec<Cand>) {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "k", 3);
    kill_9_at_failpoint(&sb, point);
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    (sb, cands)
}

/// Three candidates; `setup`, then kill the run at `point`; a normal run then converges.
fn kill_then_recover(what: &str, keys: &str, setup: impl Fn(&Sandbox), point: impl Fn(&Sandbox) -> bool) -> Sandbox {
    let sb = Sandbox::new();
    cutover_config(&sb, keys);
    let cands = ready_candidates(&sb, "k", 3);
    setup(&sb);
    // With a slow command configured the kill lands while it runs: take it down too.
    kill_9_when(&sb, what, if keys.is_empty() { Victim::Run } else { Victim::Group }, point);
    // Slow commands take the fast path from now on.
    std::fs::write(sb.root.join("fast"), "").unwrap();
    let _ = std::fs::remove_file(sb.origin.join("hooks/post-receive"));
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    sb
}

fn nothing(_: &Sandbox) {}

#[test]
fn kill_9_after_dequeued_then_run_converges() {
    kill_at_then_recover("after-dequeued");
}

#[test]
fn kill_9_after_merge_succeeded_then_run_converges() {
    kill_at_then_recover("after-merge");
}

#[test]
fn kill_9_after_the_push_before_anything_is_recorded_then_run_converges() {
    let (sb, cands) = kill_at_then_recover("after-push");
    assert_eq!(events_of(&sb, "integration.candidate.already_merged").len(), 1, "{} recovered via git", cands[0].slug);
}

#[test]
fn kill_9_after_push_succeeded_then_run_converges() {
    kill_at_then_recover("after-push-succeeded");
}

#[test]
fn kill_9_after_delivered_then_run_converges() {
    kill_at_then_recover("after-delivered");
}

#[test]
fn kill_9_after_the_first_deployment_completed_then_run_converges() {
    kill_at_then_recover("after-completed");
}

#[test]
fn kill_9_during_a_slow_verify_then_run_converges() {
    let sb = kill_then_recover("verify", "verify = \"test -e ../../../../fast || sleep 30\"\n", nothing, |sb| {
        sb.read_state("checkpoint.json").contains("\"phase\": \"verify\"") && sb.state().join("worktree").exists()
    });
    assert!(events_of(&sb, "integration.verify.failed").is_empty());
}

#[test]
fn kill_9_during_bookkeeping_then_run_converges() {
    // bookkeeping runs in <state>/worktree = <root>/work/.git/teleclaude/worktree.
    let keys =
        "bookkeeping = \"echo done >> BOOKKEEPING; touch ../../../../started; test -e ../../../../fast || sleep 30\"\n";
    let sb = kill_then_recover("bookkeeping", keys, nothing, |sb| sb.root.join("started").exists());
    assert_eq!(
        sb.git(&sb.origin, &["show", "main:BOOKKEEPING"]),
        "done\ndone\ndone",
        "one bookkeeping commit per candidate"
    );
}

#[test]
fn kill_9_right_after_the_push_lands_on_the_remote_then_run_converges() {
    // The remote kills the run as soon as main moves, before it records anything.
    let hook = |sb: &Sandbox| {
        let path = sb.origin.join("hooks/post-receive");
        let text = format!(
            "#!/bin/sh\ngrep -q refs/heads/main || exit 0\ntouch {root}/pushed\nkill -9 $(sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p' {f})\n",
            root = sb.root.display(),
            f = sb.state().join("lease.json").display()
        );
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    let sb = kill_then_recover("post-receive", "", hook, |sb| sb.root.join("pushed").exists());
    assert!(events_of(&sb, "integration.candidate.already_merged").len() == 1, "the pushed one recovered via git");
}

#[test]
fn kill_9_at_a_sweep_of_moments_never_merges_twice() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "w", 4);
    // Kill ever later until a run survives long enough to finish on its own.
    for delay_ms in [5, 20, 40, 70, 100, 150, 220, 300, 400, 550, 700, 900, 1200] {
        let mut child = sb.cmd(bin("integrator"), &sb.work).args(["run", "--quiet"]).process_group(0).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        sigkill(&child, Victim::Run);
        child.wait().unwrap();
        for c in &cands {
            assert!(sb.integrated_count(&c.sha) <= 1, "{} merged twice after a kill at {delay_ms} ms", c.slug);
        }
    }
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
}

#[test]
fn a_private_worktree_left_by_a_killed_verify_is_removed_by_the_next_run() {
    let sb = Sandbox::new();
    cutover_config(&sb, "verify = \"touch ../../../../verifying; sleep 30\"\n");
    let cands = ready_candidates(&sb, "v", 1);
    kill_9_when(&sb, "verify", Victim::Group, |sb| sb.root.join("verifying").exists());
    assert!(sb.git(&sb.work, &["worktree", "list"]).contains("teleclaude/worktree"));
    // The next run has no verify and so never needs the worktree itself.
    sb.config(CUTOVER);
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
}

/// One thread per emitter process; each records `per` distinct events (batches and single
/// emits), re-sends a neighbour's batch, and records the one event every emitter shares.
#[test]
fn concurrent_emitters_keep_every_line_intact_and_record_each_key_once() {
    let sb = Sandbox::new();
    let (procs, per, batch) = (8usize, 200usize, 30usize);
    let sha = |p: usize, i: usize| format!("{:08x}{:032x}", p, i);
    let line = |p: usize, i: usize| {
        format!(
            "{{\"type\":\"branch-pushed\",\"payload\":{{\"branch\":\"e{p}/b{i}\",\"sha\":\"{}\",\"remote\":\"origin\",\"pushed_at\":\"2026-01-01T00:00:00Z\",\"pusher\":\"p{p}\"}}}}\n",
            sha(p, i)
        )
    };
    let singles = 20;
    let shared_sha = "f".repeat(40);
    let totals: Vec<(u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..procs)
            .map(|p| {
                let sb = &sb;
                let shared_sha = &shared_sha;
                s.spawn(move || {
                    let (mut recorded, mut duplicate) = (0u64, 0u64);
                    let mut count = |out: std::process::Output| {
                        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                        let text = String::from_utf8_lossy(&out.stdout).into_owned();
                        if let Some(rest) = text.strip_prefix("recorded ") {
                            if let Some((r, tail)) = rest.split_once(" / duplicate ") {
                                recorded += r.trim().parse::<u64>().unwrap();
                                duplicate += tail.split_once(" / ").unwrap().0.parse::<u64>().unwrap();
                                return;
                            }
                            recorded += 1;
                        } else {
                            assert!(text.starts_with("duplicate "), "{text}");
                            duplicate += 1;
                        }
                    };
                    let emit_json = |input: String| {
                        sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap()
                    };
                    for start in (0..per - singles).step_by(batch) {
                        let input: String = (start..(start + batch).min(per - singles)).map(|i| line(p, i)).collect();
                        count(emit_json(input));
                    }
                    for i in per - singles..per {
                        let out = sb
                            .integrator()
                            .args(["emit", "branch-pushed", "--branch", &format!("e{p}/b{i}"), "--sha", &sha(p, i)])
                            .args(["--remote", "origin", "--pusher", &format!("p{p}")])
                            .output()
                            .unwrap();
                        count(out);
                    }
                    // A neighbour's first batch again, and the one event everybody records.
                    let q = (p + 1) % procs;
                    count(emit_json((0..batch).map(|i| line(q, i)).collect()));
                    let out = sb
                        .integrator()
                        .args([
                            "emit",
                            "deployment-started",
                            "--slug",
                            "shared",
                            "--branch",
                            "shared",
                            "--sha",
                            shared_sha,
                        ])
                        .args(["--at", "2026-01-01T00:00:00Z"])
                        .output()
                        .unwrap();
                    count(out);
                    (recorded, duplicate)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let text = std::fs::read_to_string(sb.state().join("events.jsonl")).unwrap();
    assert!(text.ends_with('\n'));
    let mut keys: HashMap<String, usize> = HashMap::new();
    for l in text.lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("torn or mixed line ({e}): {l}"));
        *keys.entry(e["key"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let expected = procs * per + 1;
    assert_eq!(text.lines().count(), expected);
    assert_eq!(keys.len(), expected);
    assert!(keys.values().all(|n| *n == 1), "a key recorded twice");
    let recorded: u64 = totals.iter().map(|t| t.0).sum();
    let duplicate: u64 = totals.iter().map(|t| t.1).sum();
    assert_eq!(recorded, expected as u64, "reported recorded = lines written");
    assert_eq!(duplicate, (procs * batch + procs - 1) as u64, "re-sent batches and the shared event");
    let st = sb.status_json();
    assert_eq!(st["log"], serde_json::json!({"lines": expected, "skipped": 0, "torn": 0}));
}

/// A candidate integrated, one blocked on a conflict, one still to come.
fn three_states(sb: &Sandbox) -> (Cand, Cand, Cand) {
    sb.config(CUTOVER);
    let mut cands = ready_candidates(sb, "d", 1);
    let done = cands.remove(0);
    let bad_sha = sb.branch("bad", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("bad", "bad", &bad_sha, "2026-01-01T11:00:00Z");
    sb.ok(&["run"]);
    let bad = Cand { slug: "bad".into(), branch: "bad".into(), sha: bad_sha, file: "shared.txt".into() };
    assert_eq!(queue_all(sb).iter().find(|i| i["slug"] == "bad").unwrap()["status"], "blocked");
    let sha = sb.branch("late", "late.txt", "late\n");
    sb.ready("late", "late", &sha, "2026-01-01T12:00:00Z");
    let late = Cand { slug: "late".into(), branch: "late".into(), sha, file: "late.txt".into() };
    (done, bad, late)
}

#[test]
fn a_damaged_queue_refuses_to_run_and_a_moved_aside_queue_is_rebuilt_from_log_and_git() {
    for (kind, damage) in [("truncated", None), ("garbage", Some(b"\x00\xffnot json{".to_vec()))] {
        let sb = Sandbox::new();
        let (done, bad, late) = three_states(&sb);
        let queue = sb.state().join("queue.json");
        let bytes = std::fs::read(&queue).unwrap();
        std::fs::write(&queue, damage.unwrap_or_else(|| bytes[..bytes.len() / 2].to_vec())).unwrap();
        let main = sb.origin_ref("main").unwrap();
        for args in [&["run"][..], &["status"], &["queue"]] {
            let (code, _, err) = sb.run(args);
            assert_eq!(code, 1, "{kind} {args:?}: {err}");
            assert!(err.contains(&format!("integrator: error: the queue {} is damaged", queue.display())), "{err}");
            assert!(err.contains(&format!("hint: move it aside with `mv {0} {0}.damaged`", queue.display())), "{err}");
            assert!(err.contains("rebuilds the queue from the event log and git"), "{err}");
        }
        assert_eq!(sb.origin_ref("main").unwrap(), main, "{kind}: nothing merged by a refused run");
        let (code, out, _) = sb.run(&["doctor", "--json"]);
        assert_eq!(code, 1);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let finding = doc["findings"].as_array().unwrap().iter().find(|f| f["check"] == "queue").cloned().unwrap();
        assert_eq!(finding["ok"], false);
        assert_eq!(finding["fix"], format!("mv {0} {0}.damaged", queue.display()), "{finding:#}");
        std::fs::rename(&queue, sb.state().join("queue.json.damaged")).unwrap();
        sb.ok(&["run"]);
        for c in [&done, &late] {
            assert_eq!(sb.integrated_count(&c.sha), 1, "{kind}: {}", c.slug);
        }
        assert!(!sb.is_ancestor_of_main(&bad.sha));
        let items = queue_all(&sb);
        let status = |slug: &str| items.iter().find(|i| i["slug"] == slug).unwrap()["status"].clone();
        assert_eq!(status(&done.slug), "integrated", "{kind}: recognised via git");
        assert_eq!(status("late"), "integrated");
        assert_eq!(status("bad"), "blocked", "{kind}: blocked again on the same conflict");
        assert_eq!(items.len(), 3);
        for c in [&done, &late] {
            let n = events_of(&sb, COMPLETED).iter().filter(|e| e["payload"]["sha"] == c.sha.as_str()).count();
            assert_eq!(n, 1, "{kind}: one deployment.completed for {}", c.slug);
        }
    }
}

#[test]
fn a_damaged_projection_is_rebuilt_silently_from_the_log() {
    let sb = Sandbox::new();
    let (_done, _bad, _late) = three_states(&sb);
    let reference = sb.status_json();
    let proj = sb.state().join("projection.json");
    assert!(proj.exists());
    let len = std::fs::metadata(sb.state().join("events.jsonl")).unwrap().len();
    let good = std::fs::read_to_string(&proj).unwrap();
    for damage in [
        good[..good.len() / 2].to_string(),
        "\u{0}garbage".to_string(),
        "{\"version\":1}".to_string(),
        good.replacen(&format!("\"offset\":{len}"), &format!("\"offset\":{}", len * 10), 1),
    ] {
        std::fs::write(&proj, &damage).unwrap();
        let (code, out, err) = sb.run(&["status", "--json"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.is_empty(), "silent: {err}");
        let st: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(st["candidates"], reference["candidates"], "after {damage:.40}");
        assert_eq!(st["log"], reference["log"]);
    }
    std::fs::write(&proj, "garbage").unwrap();
    sb.ok(&["run"]);
    assert_eq!(sb.integrated_count(&_late.sha), 1);
}

#[test]
fn a_damaged_lease_file_does_not_block_taking_the_lease() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "l", 1);
    std::fs::write(sb.state().join("lease.json"), "{\"key\":\"integration/main\",\"tok").unwrap();
    let lease = sb.ok(&["lease"]);
    assert!(lease.contains("free"), "{lease}");
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    let meta: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
    assert!(meta["released_at"].is_string() && meta["token"] == "", "{meta:#}");
}

#[test]
fn a_damaged_checkpoint_is_reported_by_status_and_rewritten_by_run() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "p", 1);
    let cp = sb.state().join("checkpoint.json");
    std::fs::write(&cp, "{\"run_id\": \"x\", \"phase\": ").unwrap();
    let st = sb.status_json();
    assert!(st["last_run"].is_null());
    let why = st["last_run_damaged"].as_str().unwrap();
    assert!(
        why.contains(&format!("{} is damaged", cp.display())) && why.contains("the next `integrator run` rewrites it"),
        "{why}"
    );
    let human = sb.ok(&["status"]);
    assert!(human.contains("last run: unknown —") && human.contains("checkpoint.json is damaged"), "{human}");
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    let cp: serde_json::Value = serde_json::from_str(&sb.read_state("checkpoint.json")).unwrap();
    assert_eq!(cp["phase"], "done");
    assert!(sb.status_json().get("last_run_damaged").is_none());
}

#[test]
fn garbage_and_torn_records_in_the_log_do_not_stop_a_run() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let log = sb.state().join("events.jsonl");
    std::fs::create_dir_all(sb.state()).unwrap();
    // A torn record, binary garbage and a NUL-filled block (a crash that extended the file).
    std::fs::write(&log, b"{\"v\":1,\"id\":\"torn-by-a-crash\n\xff\xfe\x00garbage\n\x00\x00\x00\x00\n[1,2,3]\n")
        .unwrap();
    let cands = ready_candidates(&sb, "g", 2);
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    assert_eq!(sb.status_json()["log"]["skipped"], 4);
}

#[test]
fn a_hand_written_log_line_cannot_smuggle_options_into_git() {
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "h", 1);
    let marker = sb.root.join("pwned");
    let evil = [
        ("--upload-pack=touch PWNED", "0123456789abcdef0123456789abcdef01234567"),
        ("h00", "--output=PWNED"),
        ("h00", "HEAD"),
    ];
    let mut text = std::fs::read_to_string(sb.state().join("events.jsonl")).unwrap();
    for (i, (branch, sha)) in evil.iter().enumerate() {
        let branch = branch.replace("PWNED", &marker.display().to_string());
        let sha = sha.replace("PWNED", &marker.display().to_string());
        for (kind, payload) in [
            (
                "domain.software-development.branch.pushed",
                serde_json::json!({"branch": branch, "sha": sha, "remote": "origin", "pushed_at": "2026-01-01T00:00:00Z", "pusher": "x"}),
            ),
            (
                "domain.software-development.deployment.started",
                serde_json::json!({"slug": format!("evil{i}"), "branch": branch, "sha": sha, "worker_session_id": "w", "orchestrator_session_id": "o", "ready_at": "2026-01-01T00:00:00Z"}),
            ),
        ] {
            let e = serde_json::json!({"v": 1, "id": format!("x{i}"), "type": kind, "at": "2026-01-01T00:00:00Z", "source": "x", "key": format!("{kind}:evil{i}"), "level": "workflow", "payload": payload});
            text.push_str(&format!("{e}\n"));
        }
    }
    std::fs::write(sb.state().join("events.jsonl"), text).unwrap();
    let st = sb.status_json();
    assert_eq!(st["log"]["skipped"], 6, "hand-written candidates are not folded: {:#}", st["log"]);
    assert!(st["candidates"].as_array().unwrap().iter().all(|c| !c["slug"].as_str().unwrap().starts_with("evil")));
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    assert!(!marker.exists());
}

/// Run the integrator with raw (possibly non-UTF-8) arguments.
fn integrator_os(sb: &Sandbox, args: &[OsString], stdin: Option<Vec<u8>>) -> std::process::Output {
    let mut c = sb.integrator();
    c.args(args);
    if let Some(input) = stdin {
        c.write_stdin(input);
    }
    c.output().unwrap()
}

fn os(args: &[&[u8]]) -> Vec<OsString> {
    args.iter().map(|a| OsString::from_vec(a.to_vec())).collect()
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn hostile_emit_arguments_exit_2_with_a_precise_message_and_write_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["emit", "review-approved", "--slug", "ok", "--round", "1"]);
    let log = sb.state().join("events.jsonl");
    let before = std::fs::read(&log).unwrap();
    let marker = sb.root.join("pwned");
    let m = marker.display().to_string();
    let inject = format!("--upload-pack=touch {m}");
    let subst = format!("$(touch {m})");
    let backtick = format!("`touch {m}`");
    let semicolon = format!("x;touch {m}");
    let long = "r".repeat(100_000);
    let ds = |slug: &[u8], branch: &[u8], sha: &[u8]| -> Vec<Vec<u8>> {
        [&b"emit"[..], b"deployment-started", b"--slug", slug, b"--branch", branch, b"--sha", sha]
            .map(<[u8]>::to_vec)
            .to_vec()
    };
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (ds(b"s", b"-x", SHA.as_bytes()), "starts with `-`"),
        (ds(b"s", inject.as_bytes(), SHA.as_bytes()), "starts with `-`"),
        (ds(b"s", b"a..b", SHA.as_bytes()), "contains `..`"),
        (ds(b"s", b" lead", SHA.as_bytes()), "contains ' '"),
        (ds(b"s", b"a\nb", SHA.as_bytes()), "contains '\\n'"),
        (ds(b"s", subst.as_bytes(), SHA.as_bytes()), "contains ' '"),
        (ds(b"s", backtick.as_bytes(), SHA.as_bytes()), "contains ' '"),
        (ds(b"s", semicolon.as_bytes(), SHA.as_bytes()), "contains ' '"),
        (ds(b"s", b"a\x1b[31mred", SHA.as_bytes()), "contains '\\u{1b}'"),
        (ds(b"s", b"feat", b"--all"), "sha `--all` is not a full 40- or 64-hex object name"),
        (ds(b"s", b"feat", b"HEAD"), "sha `HEAD`"),
        (ds(b"s", b"feat", &[b'a'; 41]), "is not a full"),
        (ds(b"../etc", b"feat", SHA.as_bytes()), "slug `../etc`"),
        (ds(b"s s", b"feat", SHA.as_bytes()), "slug `s s`"),
        (ds(b"s", b"\xff\xfe", SHA.as_bytes()), "invalid UTF-8"),
        (ds(b"\xc3\x28", b"feat", SHA.as_bytes()), "invalid UTF-8"),
        (ds(b"s", b"feat", &[b'0', 0xff]), "invalid UTF-8"),
        (ds(b"-s", b"feat", SHA.as_bytes()), "error:"),
        (
            vec![
                b"emit".to_vec(),
                b"review-approved".to_vec(),
                b"--slug".to_vec(),
                b"s".to_vec(),
                b"--round".to_vec(),
                b"1".to_vec(),
                b"--reviewer".to_vec(),
                long.as_bytes().to_vec(),
            ],
            "reviewer_session_id is 100000 bytes long (at most 4096)",
        ),
        (
            vec![
                b"emit".to_vec(),
                b"review-approved".to_vec(),
                b"--slug".to_vec(),
                b"s".to_vec(),
                b"--round".to_vec(),
                b"1".to_vec(),
                b"--reviewer".to_vec(),
                b"a\x07b".to_vec(),
            ],
            "without control characters",
        ),
        (
            vec![
                b"emit".to_vec(),
                b"review-approved".to_vec(),
                b"--slug".to_vec(),
                b"s".to_vec(),
                b"--round".to_vec(),
                b"-1".to_vec(),
            ],
            "error:",
        ),
        (
            vec![
                b"emit".to_vec(),
                b"branch-pushed".to_vec(),
                b"--branch".to_vec(),
                b"f".to_vec(),
                b"--sha".to_vec(),
                SHA.as_bytes().to_vec(),
                b"--at".to_vec(),
                long.as_bytes().to_vec(),
            ],
            "is not an RFC 3339 timestamp",
        ),
        (
            vec![
                b"emit".to_vec(),
                b"branch-pushed".to_vec(),
                b"--branch".to_vec(),
                b"f".to_vec(),
                b"--sha".to_vec(),
                SHA.as_bytes().to_vec(),
                b"--remote".to_vec(),
                b"o\nrigin".to_vec(),
            ],
            "remote `o\\nrigin` must be a single line",
        ),
    ];
    for (args, needle) in &cases {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let out = integrator_os(&sb, &os(&args), None);
        let err = String::from_utf8_lossy(&out.stderr);
        let shown = String::from_utf8_lossy(&args.concat()).chars().take(120).collect::<String>();
        assert_eq!(out.status.code(), Some(2), "{shown}: {err}");
        assert!(err.contains(needle), "{shown}: missing {needle:?} in\n{err}");
        assert!(err.len() < 2_000, "{shown}: the message echoes the whole input ({} bytes)", err.len());
        assert_eq!(std::fs::read(&log).unwrap(), before, "{shown} wrote to the log");
    }
    assert!(!marker.exists());
}

#[test]
fn hostile_bulk_ingest_lines_are_rejected_with_a_precise_message_and_write_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["emit", "review-approved", "--slug", "ok", "--round", "1"]);
    let log = sb.state().join("events.jsonl");
    let before = std::fs::read(&log).unwrap();
    let pushed = |branch: &str, sha: &str| {
        format!("{{\"type\":\"branch-pushed\",\"payload\":{{\"branch\":{branch},\"sha\":{sha},\"remote\":\"origin\",\"pushed_at\":\"2026-01-01T00:00:00Z\",\"pusher\":\"p\"}}}}")
    };
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let huge = "x".repeat(10 << 20);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (pushed(&q("a\u{0}b"), &q(SHA)).into_bytes(), "contains '\\0'"),
        (pushed(&q("--upload-pack=touch x"), &q(SHA)).into_bytes(), "starts with `-`"),
        (pushed(&q("ok"), &q("--all")).into_bytes(), "sha `--all`"),
        (pushed(&q(&huge), &q(SHA)).into_bytes(), "10485"),
        (format!("{{\"type\":\"review-approved\",\"payload\":{{\"slug\":\"s\",\"review_round\":1,\"reviewer_session_id\":{},\"approved_at\":\"2026-01-01T00:00:00Z\"}}}}", q(&"r".repeat(5000))).into_bytes(), "reviewer_session_id is 5000 bytes long"),
        (b"{\"type\":\"branch-pushed\",\"payload\":{\"branch\":\"\xff\"}}".to_vec(), "not an event object"),
        (deep.into_bytes(), "not an event object"),
        (b"[]".to_vec(), "not an event object"),
        (b"{\"type\":\"../../etc/passwd\",\"payload\":{}}".to_vec(), "is not a canonical event type"),
        (b"{\"type\":\"review-approved\",\"payload\":{},\"extra\":1}".to_vec(), "unknown field `extra`"),
        (b"{\"type\":\"review-approved\",\"payload\":{},\"source\":\"a\\nb\"}".to_vec(), "source must be one line"),
    ];
    for (input, needle) in &cases {
        let shown: String = String::from_utf8_lossy(input).chars().take(100).collect();
        let mut line = input.clone();
        line.push(b'\n');
        let out = integrator_os(&sb, &[OsString::from("emit"), "--json".into(), "-".into()], Some(line));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{shown}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("recorded 0 / duplicate 0 / rejected 1"), "{shown}");
        assert!(
            err.contains("integrator: rejected line 1: ") && err.contains(needle),
            "{shown}: missing {needle:?} in\n{err:.2000}"
        );
        assert!(err.len() < 2_000, "{shown}: the message echoes the input ({} bytes)", err.len());
        assert_eq!(std::fs::read(&log).unwrap(), before, "{shown} wrote to the log");
    }
    // An option where the file belongs is a usage error; spelled as the value, a file name.
    let out = integrator_os(&sb, &os(&[b"emit", b"--json", b"--upload-pack=x"]), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--upload-pack'"));
    let out = integrator_os(&sb, &os(&[b"emit", b"--json=--upload-pack=x"]), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read --upload-pack=x"));
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn hostile_pre_push_input_fails_closed_with_a_bounded_message() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.state()).unwrap();
    let marker = sb.root.join("pwned");
    let zero = "0".repeat(40);
    let branch_line = |r: &str| format!("refs/heads/x {SHA} {r} {zero}\n");
    let cases: Vec<(Vec<Vec<u8>>, Vec<u8>, &str)> = vec![
        (
            vec![b"origin".to_vec(), b"url".to_vec()],
            branch_line(&format!("refs/heads/--upload-pack=touch\t{}", marker.display())).into_bytes(),
            "starts with `-`",
        ),
        (vec![b"origin".to_vec(), b"url".to_vec()], branch_line("refs/heads/a..b").into_bytes(), "contains `..`"),
        (
            vec![b"origin".to_vec(), b"url".to_vec()],
            format!("refs/heads/x {SHA} refs/heads/{} {zero}\n", "y".repeat(10 << 20)).into_bytes(),
            "bytes long",
        ),
        (vec![b"origin".to_vec(), b"url".to_vec()], vec![b'z'; 10 << 20], "expected `<local ref>"),
        (vec![b"origin".to_vec(), b"url".to_vec()], b"refs/heads/x\x00 a b c\n".to_vec(), "could not check"),
        (vec![b"origin".to_vec(), b"url".to_vec()], b"\xff\xfe refs/heads/x\n".to_vec(), "stdin is not UTF-8"),
        (
            vec![b"origin".to_vec(), b"url".to_vec()],
            format!("refs/heads/x {SHA} refs/heads/y {zero} extra\n").into_bytes(),
            "expected `<local ref>",
        ),
        (vec![b"origin".to_vec()], branch_line("refs/heads/y").into_bytes(), "expected `pre-push <remote-name> <url>`"),
    ];
    for (argv, input, needle) in &cases {
        let shown: String = String::from_utf8_lossy(&input[..input.len().min(100)]).into_owned();
        let mut child = sb
            .cmd(bin("pre-push"), &sb.work)
            .args(argv.iter().map(|a| OsString::from_vec(a.clone())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let data = input.clone();
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut pipe, &data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{shown}: {err:.2000}");
        assert!(
            err.contains("push refused because the guard could not check it") && err.contains(needle),
            "{shown}: missing {needle:?} in\n{err:.2000}"
        );
        assert!(err.len() < 2_000, "{shown}: the message echoes the input ({} bytes)", err.len());
        assert!(!sb.state().join("events.jsonl").exists(), "{shown}: recorded an event");
    }
    // A hostile remote name from git's argv is data, never an option: a clean feature line
    // records the push and runs no git.
    let out = sb
        .cmd(bin("pre-push"), &sb.work)
        .args([
            OsString::from(format!("--upload-pack=touch {}", marker.display())),
            OsString::from_vec(b"\xff".to_vec()),
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            std::io::Write::write_all(&mut c.stdin.take().unwrap(), branch_line("refs/heads/feat").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!marker.exists());
}

#[test]
fn hostile_configuration_is_an_error_naming_the_file_and_key() {
    let sb = Sandbox::new();
    let marker = sb.root.join("pwned");
    let m = marker.display();
    let local = sb.state().join("config.toml");
    let policy = sb.work.join("teleclaude.toml");
    let cases: Vec<(&std::path::Path, Vec<u8>, String)> = vec![
        (
            &local,
            format!("[integrator]\nremote = \"--upload-pack=touch {m}\"\n").into_bytes(),
            "key `integrator.remote`".into(),
        ),
        (&local, b"[integrator]\nmain = \"-main\"\n".to_vec(), "key `integrator.main`".into()),
        (&local, b"[integrator]\nmain = \"ma in\"\n".to_vec(), "key `integrator.main`".into()),
        (&local, b"[integrator]\nremote = \"a\\u0000b\"\n".to_vec(), "key `integrator.remote`".into()),
        (&local, b"[integrator]\nmode = \"\xff\"\n".to_vec(), "valid UTF-8".into()),
        (&local, b"[integrator]\nlease_ttl_secs = -1\n".to_vec(), "lease_ttl_secs".into()),
        (&local, b"[integrator]\nmain = [\"main\"]\n".to_vec(), "main".into()),
        (&local, b"[integrator\n".to_vec(), "config.toml".into()),
        (&policy, b"[guard]\nprotected = [\"refs/heads/main\"]\n".to_vec(), "key `guard.protected`".into()),
        (&policy, format!("[integrator]\nremote = \"$(touch {m})\"\n").into_bytes(), "key `integrator.remote`".into()),
    ];
    std::fs::create_dir_all(sb.state()).unwrap();
    for (path, text, needle) in &cases {
        let _ = std::fs::remove_file(&local);
        let _ = std::fs::remove_file(&policy);
        std::fs::write(path, text).unwrap();
        for args in [
            &["run", "--mode", "cutover"][..],
            &["status"],
            &["emit", "review-approved", "--slug", "s", "--round", "1"],
        ] {
            let (code, _, err) = sb.run(args);
            let shown = String::from_utf8_lossy(text);
            assert_eq!(code, 2, "{shown} {args:?}: {err}");
            assert!(
                err.contains(&format!("invalid configuration in {}", path.display()))
                    || err.contains(&format!("cannot read configuration {}", path.display())),
                "{shown}: {err}"
            );
            assert!(err.contains(needle.as_str()), "{shown}: missing {needle:?} in {err}");
        }
    }
    assert!(!sb.state().join("events.jsonl").exists());
    assert!(!marker.exists());
}

#[test]
fn a_missing_but_locked_private_worktree_does_not_wedge_the_next_run() {
    // What a run killed inside `git worktree add` leaves: git's record, locked, no directory.
    let sb = Sandbox::new();
    cutover_config(&sb, "verify = \"true\"\n");
    let cands = ready_candidates(&sb, "m", 1);
    let wt = sb.state().join("worktree");
    sb.git(&sb.work, &["worktree", "add", "-q", "--lock", "--detach", wt.to_str().unwrap(), "HEAD"]);
    std::fs::remove_dir_all(&wt).unwrap();
    assert!(sb.git(&sb.work, &["worktree", "list"]).contains("locked"));
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
}

#[test]
fn a_stale_ref_lock_on_the_remote_fails_the_run_and_keeps_the_candidate() {
    // What a remote that crashed mid-update leaves: git's lock on refs/heads/main.
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "r", 1);
    let lock = sb.origin.join("refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let main = sb.origin_ref("main").unwrap();
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 1, "the run itself failed: {err}");
    assert!(err.contains("integrator: error: pushing origin/main failed") && err.contains("main.lock"), "{err}");
    assert!(err.contains("hint: the candidate stays in progress; the next `integrator run` re-examines it"), "{err}");
    assert_eq!(sb.origin_ref("main").unwrap(), main);
    assert_eq!(queue_all(&sb)[0]["status"], "in_progress");
    std::fs::remove_file(&lock).unwrap();
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
}

#[test]
fn a_half_written_worktree_record_does_not_break_the_next_runs_fetch() {
    // What a run killed inside `git worktree add` can leave: the record's `gitdir` written,
    // `commondir` still empty — every later `git fetch` fails on it — and, killed earlier
    // still, a record with nothing but its "initializing" lock.
    let sb = Sandbox::new();
    sb.config(CUTOVER);
    let cands = ready_candidates(&sb, "f", 1);
    let records = sb.work.join(".git/worktrees");
    let half = records.join("worktree");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("locked"), "initializing\n").unwrap();
    std::fs::write(half.join("gitdir"), format!("{}/.git\n", sb.state().join("worktree").display())).unwrap();
    std::fs::write(half.join("commondir"), "").unwrap();
    let early = records.join("worktree1");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::write(early.join("locked"), "initializing\n").unwrap();
    let fetch = sb.git_out(&sb.work, &["fetch", "-q", "origin"]);
    assert!(!fetch.status.success(), "the broken record breaks plain git: precondition");
    sb.ok(&["run"]);
    assert_converged(&sb, &cands);
    assert!(!half.exists() && !early.exists());
    assert!(sb.git_out(&sb.work, &["fetch", "-q", "origin"]).status.success());
}

/// Regression: a run killed mid-push leaves its `git push` running; when that push
/// finishes it updates `refs/remotes/origin/main` while the next run fetches, and the
/// fetch failed with "cannot lock ref". A briefly locked tracking ref is now retried.
#[test]
fn a_briefly_locked_remote_tracking_ref_does_not_fail_the_run() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    sb.land_on_main("moved.txt", "moved\n");
    let lock = sb.work.join(".git/refs/remotes/origin/main.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let releaser = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(400));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let out = sb.ok(&["run"]);
    releaser.join().unwrap();
    assert!(out.contains("mode shadow"), "{out}");
    assert_eq!(sb.git(&sb.work, &["rev-parse", "origin/main"]), sb.origin_ref("main").unwrap());
}
