//! The git facts cache (`git-facts.json`): a warm `status` with unchanged refs spawns no
//! git process but the ref listing (and finding the repository); any relevant ref change,
//! a new question or a damaged file makes it ask git again, and the answer is always the
//! one a cold evaluation gives.

use crate::support::Sandbox;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

/// The shape of the issue's reference stream, small: `n` slugs on branches `feat/s<i>`,
/// each with two commits A and B; every third slug has two candidates (A, superseded by
/// B), every other branch moved on past B (its candidate is not at the tip), every fifth
/// B already merged into main. Built with `git fast-import` in the origin, then fetched.
struct Fleet {
    ready: usize,
    superseded: usize,
    integrated: usize,
    /// (slug, branch, sha) of each winner not on main.
    open: Vec<(String, String, String)>,
}

fn fleet(sb: &Sandbox, n: usize) -> Fleet {
    let sha = import(sb, n);
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let mut events = String::new();
    let mut f = Fleet { ready: 0, superseded: 0, integrated: 0, open: Vec::new() };
    for i in 0..n {
        let (slug, branch) = (format!("s{i}"), format!("feat/s{i}"));
        events.push_str(&format!(
            r#"{{"type":"review-approved","payload":{{"slug":"{slug}","review_round":1,"reviewer_session_id":"r","approved_at":"2026-01-01T00:00:00Z"}}}}"#
        ));
        events.push('\n');
        let mut starts = vec![(sha[&(3 * i + 2)].clone(), "2026-01-01T02:00:00Z")];
        if i % 3 == 0 {
            starts.push((sha[&(3 * i + 1)].clone(), "2026-01-01T01:00:00Z"));
            f.superseded += 1;
        }
        for (s, at) in &starts {
            events.push_str(&format!(
                r#"{{"type":"branch-pushed","payload":{{"branch":"{branch}","sha":"{s}","remote":"origin","pushed_at":"{at}","pusher":"w"}}}}
{{"type":"deployment-started","payload":{{"slug":"{slug}","branch":"{branch}","sha":"{s}","worker_session_id":"w","orchestrator_session_id":"o","ready_at":"{at}"}}}}
"#
            ));
        }
        if i % 5 == 0 {
            f.integrated += 1;
        } else {
            f.ready += 1;
            f.open.push((slug, branch, starts[0].0.clone()));
        }
    }
    sb.integrator().args(["emit", "--json", "-"]).write_stdin(events).assert().success();
    f
}

/// The fleet's commits, written into the origin by one `git fast-import`: mark 3i+1 is A
/// of slug i, 3i+2 its B, 3i+3 the commit its branch moved on to. Returns mark → sha.
fn import(sb: &Sandbox, n: usize) -> BTreeMap<usize, String> {
    let main = sb.git(&sb.origin, &["rev-parse", "main"]);
    let mut stream = String::new();
    let mut commit = |r: &str, mark: usize, from: &str, merge: Option<usize>, file: &str| {
        let msg = format!("{r}: {file}");
        stream.push_str(&format!("commit {r}\nmark :{mark}\ncommitter T <t@example.com> 1767225600 +0000\n"));
        stream.push_str(&format!("data {}\n{msg}\n{from}", msg.len()));
        if let Some(m) = merge {
            stream.push_str(&format!("merge :{m}\n"));
        }
        stream.push_str(&format!("M 644 inline {file}\ndata {}\n{file}\n", file.len()));
    };
    for i in 0..n {
        let r = format!("refs/heads/feat/s{i}");
        commit(&r, 3 * i + 1, &format!("from {main}\n"), None, &format!("a{i}.txt"));
        commit(&r, 3 * i + 2, "", None, &format!("b{i}.txt"));
        if i % 2 == 0 {
            commit(&r, 3 * i + 3, "", None, &format!("c{i}.txt"));
        }
    }
    let mut from = format!("from {main}\n");
    for i in (0..n).filter(|i| i % 5 == 0) {
        commit("refs/heads/main", 10_000 + i, &from, Some(3 * i + 2), &format!("m{i}.txt"));
        from = String::new();
    }
    let marks = sb.root.join("marks");
    let mut child = sb
        .cmd("git", &sb.origin)
        .args(["fast-import", "--quiet", &format!("--export-marks={}", marks.display())])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let marks = std::fs::read_to_string(&marks).unwrap();
    marks.lines().map(|l| l.split_once(' ').unwrap()).map(|(m, s)| (m[1..].parse().unwrap(), s.to_string())).collect()
}

/// `status --json --all` with the git processes it started (GIT_TRACE), by command line.
fn traced_status(sb: &Sandbox) -> (serde_json::Value, Vec<String>) {
    let trace = sb.root.join("trace");
    let _ = std::fs::remove_file(&trace);
    let out = sb.integrator().args(["status", "--json", "--all"]).env("GIT_TRACE", &trace).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let gits = text.lines().filter_map(|l| l.split_once("trace: built-in: git ")).map(|(_, c)| c.to_string());
    (serde_json::from_slice(&out.stdout).unwrap(), gits.collect())
}

fn states(st: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for c in st["candidates"].as_array().unwrap() {
        *n.entry(c["state"].as_str().unwrap().to_string()).or_default() += 1;
    }
    n
}

fn cache(sb: &Sandbox) -> std::path::PathBuf {
    sb.state().join("git-facts.json")
}

/// The candidates part of a status computed with no cache at all.
fn cold_candidates(sb: &Sandbox) -> serde_json::Value {
    let _ = std::fs::remove_file(cache(sb));
    traced_status(sb).0["candidates"].clone()
}

#[test]
fn a_warm_status_with_unchanged_refs_spawns_only_the_ref_listing() {
    let sb = Sandbox::new();
    let f = fleet(&sb, 40);
    let (cold, cold_gits) = traced_status(&sb);
    let want = BTreeMap::from([
        ("INTEGRATED".to_string(), f.integrated),
        ("READY".to_string(), f.ready),
        ("SUPERSEDED".to_string(), f.superseded),
    ]);
    assert_eq!(states(&cold), want, "{cold:#}");
    assert!(cold_gits.len() <= 5, "a cold status spawned {} git processes: {cold_gits:#?}", cold_gits.len());
    assert!(cache(&sb).is_file(), "the cold status left no git-facts.json");
    for _ in 0..2 {
        let (warm, gits) = traced_status(&sb);
        assert_eq!(warm["candidates"], cold["candidates"]);
        let commands: Vec<&str> = gits.iter().map(|g| g.split(' ').next().unwrap()).collect();
        assert_eq!(commands, ["rev-parse", "for-each-ref"], "a warm status asked git more: {gits:#?}");
    }
}

/// After a change, `status` asks git (more than the ref listing), answers as a status
/// without any cache does, and the cache it leaves answers the next one warm.
fn asks_git_again(sb: &Sandbox, what: &str) -> serde_json::Value {
    let (warm, gits) = traced_status(sb);
    assert!(gits.len() > 2, "{what}: answered from the cache: {gits:#?}");
    assert_eq!(warm["candidates"], cold_candidates(sb), "{what}: the cached answer differs from git's");
    assert_eq!(traced_status(sb).1.len(), 2, "{what}: the refreshed cache is not used");
    warm
}

fn state_of(st: &serde_json::Value, sha: &str) -> String {
    let c = st["candidates"].as_array().unwrap().iter().find(|c| c["sha"] == sha).cloned();
    c.map(|c| c["state"].as_str().unwrap().to_string()).unwrap_or_default()
}

#[test]
fn a_moved_candidate_branch_or_main_asks_git_again() {
    let sb = Sandbox::new();
    let f = fleet(&sb, 12);
    let (_, branch, sha) = f.open[0].clone();
    traced_status(&sb);
    // A candidate branch moves away from its sha (only the remote-tracking ref changes).
    let elsewhere = sb.git(&sb.work, &["rev-parse", "origin/main"]);
    sb.git(&sb.work, &["update-ref", &format!("refs/remotes/origin/{branch}"), &elsewhere]);
    let st = asks_git_again(&sb, "a candidate branch moved");
    assert_eq!(state_of(&st, &sha), "NOT_READY", "{st:#}");
    // Remote main moves to contain the candidate (the old path merged it), then is fetched.
    sb.git(&sb.origin, &["update-ref", "refs/heads/main", &sha]);
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let st = asks_git_again(&sb, "main moved");
    assert_eq!(state_of(&st, &sha), "INTEGRATED", "{st:#}");
}

#[test]
fn a_new_question_a_damaged_cache_or_another_configuration_asks_git_again() {
    let sb = Sandbox::new();
    let f = fleet(&sb, 12);
    traced_status(&sb);
    // A new candidate on an existing branch, no ref moved: a question the cache never had.
    let (_, branch, sha) = f.open[1].clone();
    let first = sb.git(&sb.work, &["rev-parse", &format!("{sha}~1")]);
    sb.ready("fresh", &branch, &first, "2026-01-02T00:00:00Z");
    let st = asks_git_again(&sb, "a new candidate");
    assert_eq!(state_of(&st, &first), "READY", "{st:#}");
    // A torn cache, and one that no longer hangs together, are ignored, then replaced.
    std::fs::write(cache(&sb), "{\"version\":1,").unwrap();
    asks_git_again(&sb, "a torn cache");
    let text = std::fs::read_to_string(cache(&sb)).unwrap();
    std::fs::write(cache(&sb), text.replace("\"on_main\":[", &format!("\"on_main\":[\"{}\",", "f".repeat(40))))
        .unwrap();
    asks_git_again(&sb, "an edited cache");
    sb.config("[integrator]\nmerge = \"squash\"\n");
    asks_git_again(&sb, "another merge style");
}

/// A recorded merge commit git does not have is trusted (a record of the old path); when
/// the object arrives without any ref moving (a fetch into FETCH_HEAD only), the cache
/// must not keep the old answer.
#[test]
fn a_recorded_merge_commit_arriving_without_a_ref_change_is_noticed() {
    let sb = Sandbox::new();
    let sha = sb.branch("feat", "feat.txt", "x\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    // The merge commit exists on the origin under a ref the clone does not fetch.
    let scratch = sb.root.join("scratch");
    sb.git(&sb.root, &["clone", "-q", "origin.git", scratch.to_str().unwrap()]);
    sb.git(&scratch, &["merge", "-q", "--no-ff", "-m", "merge feat", "origin/feat"]);
    let merge = sb.git(&scratch, &["rev-parse", "HEAD"]);
    sb.git(&scratch, &["push", "-q", "origin", "HEAD:refs/elsewhere/merge"]);
    let completed = format!(
        r#"{{"type":"domain.software-development.deployment.completed","payload":{{"slug":"s","branch":"feat","sha":"{sha}","merge_commit":"{merge}","integrated_at":"2026-01-01T11:00:00Z"}}}}"#
    );
    sb.integrator().args(["emit", "--json", "-"]).write_stdin(completed).assert().success();
    traced_status(&sb);
    let (before, gits) = traced_status(&sb);
    assert_eq!(states(&before), BTreeMap::from([("INTEGRATED".to_string(), 1)]), "{before:#}");
    // Warm, the merge commit git lacks is the one thing asked again: one `cat-file`.
    let commands: Vec<&str> = gits.iter().map(|g| g.split(' ').next().unwrap()).collect();
    assert_eq!(commands, ["rev-parse", "for-each-ref", "cat-file"], "{gits:#?}");
    sb.git(&sb.work, &["fetch", "-q", "origin", "refs/elsewhere/merge"]);
    let (after, _) = traced_status(&sb);
    assert_eq!(after["candidates"], cold_candidates(&sb));
    assert_eq!(states(&after), BTreeMap::from([("NOT_READY".to_string(), 1)]), "{after:#}");
}

/// After cutover the breach alarm takes main's tip, and whether the tip it last checked
/// is still on main, from the same gathering: a status that finds a foreign commit on
/// main stays within five git processes.
#[test]
fn a_status_that_finds_a_breach_stays_within_five_git_processes() {
    let sb = Sandbox::new();
    sb.config(crate::support::CUTOVER);
    fleet(&sb, 6);
    traced_status(&sb);
    let hotfix = sb.land_on_main("hotfix.txt", "x\n");
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let (st, gits) = traced_status(&sb);
    assert_eq!(st["breach"]["commits"][0]["sha"], hotfix.as_str(), "{st:#}");
    assert_eq!(st["breach"]["non_fast_forward"], false, "{st:#}");
    assert!(gits.len() <= 5, "{} git processes: {gits:#?}", gits.len());
}
