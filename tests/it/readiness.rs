//! Readiness: READY, every NOT_READY reason, supersession, INTEGRATED.

use crate::support::Sandbox;

fn candidate<'a>(st: &'a serde_json::Value, slug: &str, sha: &str) -> &'a serde_json::Value {
    st["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slug"] == slug && c["sha"] == sha)
        .unwrap_or_else(|| panic!("no candidate {slug}@{sha} in {st:#}"))
}

#[test]
fn ready_needs_approval_push_and_reachability_with_exact_reasons() {
    let sb = Sandbox::new();
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ok(&["emit", "deployment-started", "--slug", "s1", "--branch", "feat", "--sha", &sha]);
    let st = sb.status_json();
    let c = candidate(&st, "s1", &sha);
    assert_eq!(c["state"], "NOT_READY");
    assert_eq!(
        c["reasons"],
        serde_json::json!(["missing review_approved for slug", format!("missing branch_pushed for origin/feat@{sha}")])
    );

    sb.ok(&["emit", "review-approved", "--slug", "s1", "--round", "1"]);
    sb.ok(&["emit", "branch-pushed", "--branch", "feat", "--sha", &sha]);
    let st = sb.status_json();
    let c = candidate(&st, "s1", &sha);
    assert_eq!(c["state"], "READY", "{st:#}");
    assert_eq!(c["reasons"], serde_json::json!([]));

    // A sha the remote branch does not contain.
    let stray = sb.commit(&sb.work, "stray.txt", "x\n", "local only");
    sb.ok(&["emit", "review-approved", "--slug", "s2", "--round", "1"]);
    sb.ok(&["emit", "branch-pushed", "--branch", "feat", "--sha", &stray]);
    sb.ok(&["emit", "deployment-started", "--slug", "s2", "--branch", "feat", "--sha", &stray]);
    let st = sb.status_json();
    let c = candidate(&st, "s2", &stray);
    assert_eq!(c["state"], "NOT_READY");
    assert_eq!(c["reasons"], serde_json::json!([format!("sha {stray} is not reachable from origin/feat")]));
    let human = sb.ok(&["status"]);
    assert!(human.contains(&format!("- sha {stray} is not reachable from origin/feat")), "{human}");
}

#[test]
fn the_later_candidate_of_a_slug_supersedes_the_older() {
    let sb = Sandbox::new();
    let a = sb.branch("feat-a", "a.txt", "a\n");
    let b = sb.branch("feat-b", "b.txt", "b\n");
    sb.ready("s", "feat-a", &a, "2026-01-01T10:00:00Z");
    sb.ready("s", "feat-b", &b, "2026-01-01T11:00:00+00:00");
    let st = sb.status_json();
    let old = candidate(&st, "s", &a);
    assert_eq!(old["state"], "SUPERSEDED");
    assert_eq!(old["superseded_by"], format!("feat-b@{b}"));
    assert_eq!(candidate(&st, "s", &b)["state"], "READY");
    // Order is by real time: an earlier instant written with a later-looking offset loses.
    let c = sb.branch("feat-c", "c.txt", "c\n");
    sb.ready("s", "feat-c", &c, "2026-01-01T12:30:00+02:00");
    let st = sb.status_json();
    assert_eq!(candidate(&st, "s", &c)["state"], "SUPERSEDED");
    assert_eq!(candidate(&st, "s", &b)["state"], "READY");
}

#[test]
fn a_candidate_already_on_main_is_integrated_not_ready() {
    let sb = Sandbox::new();
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    // The old path fast-forwards main to the branch.
    sb.git(&sb.work, &["push", "-q", "origin", &format!("{sha}:refs/heads/main")]);
    let st = sb.status_json();
    assert!(st["candidates"].as_array().unwrap().is_empty(), "integrated candidates are hidden without --all: {st:#}");
    let all: serde_json::Value = serde_json::from_str(&sb.ok(&["status", "--json", "--all"])).unwrap();
    let c = candidate(&all, "s", &sha);
    assert_eq!(c["state"], "INTEGRATED");
    assert_eq!(c["reasons"], serde_json::json!(["already on origin/main"]));
}

/// Readiness asks git in a fixed number of processes, whatever the number of candidates
/// (ENGINEERING.md budget: ≤ 5 for one evaluation): reachability from a branch whose tip
/// moved past the candidate's sha is one `rev-list` for all of them, not one `merge-base`
/// each.
#[test]
fn readiness_costs_the_same_few_git_processes_for_one_candidate_or_twenty() {
    let sb = Sandbox::new();
    let trace = sb.root.join("trace");
    let count = |n: usize| {
        for i in 0..n {
            let branch = format!("feat-{n}-{i}");
            let sha = sb.branch(&branch, &format!("f{n}-{i}.txt"), "x\n");
            // The branch moves on after the candidate's sha, so reachability needs git.
            sb.git(&sb.work, &["checkout", "-q", &branch]);
            sb.commit(&sb.work, &format!("g{n}-{i}.txt"), "y\n", "later");
            sb.git(&sb.work, &["push", "-q", "origin", &branch]);
            sb.git(&sb.work, &["checkout", "-q", "main"]);
            sb.ready(&format!("s{n}-{i}"), &branch, &sha, "2026-01-01T10:00:00Z");
        }
        let _ = std::fs::remove_file(&trace);
        let out = sb.integrator().args(["status", "--json"]).env("GIT_TRACE", &trace).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ready = st["candidates"].as_array().unwrap().iter().filter(|c| c["state"] == "READY").count();
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        (ready, text.lines().filter(|l| l.contains("trace: built-in: git")).count())
    };
    let (ready_one, one) = count(1);
    let (ready_all, twenty) = count(20);
    assert_eq!((ready_one, ready_all), (1, 21), "every candidate is READY: reachability was answered");
    assert_eq!(one, twenty, "git processes grew with the candidates: {one} for 1, {twenty} for 21");
}

/// A remote without the configured main (a new repository, or `integrator.main` naming a
/// branch not pushed yet) still answers reachability, one question per candidate: a sha
/// at or below its branch's tip is READY, a sha the branch does not contain is not.
#[test]
fn without_main_on_the_remote_reachability_is_still_answered() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmain = \"trunk\"\n");
    let below = sb.branch("feat", "a.txt", "a\n");
    sb.git(&sb.work, &["checkout", "-q", "feat"]);
    let tip = sb.commit(&sb.work, "b.txt", "b\n", "second");
    sb.git(&sb.work, &["push", "-q", "origin", "HEAD:feat"]);
    let stray = sb.commit(&sb.work, "c.txt", "c\n", "local only");
    sb.ready("at-tip", "feat", &tip, "2026-01-01T10:00:00Z");
    sb.ready("below", "feat", &below, "2026-01-01T10:01:00Z");
    sb.ready("stray", "feat", &stray, "2026-01-01T10:02:00Z");
    assert_eq!(sb.origin_ref("trunk"), None);
    let st = sb.status_json();
    assert_eq!(candidate(&st, "at-tip", &tip)["state"], "READY", "{st:#}");
    assert_eq!(candidate(&st, "below", &below)["state"], "READY", "{st:#}");
    let c = candidate(&st, "stray", &stray);
    assert_eq!(c["reasons"], serde_json::json!([format!("sha {stray} is not reachable from origin/feat")]));
}

/// The same branch@sha announced ready twice (finalize re-run) is one candidate: it does
/// not supersede itself.
#[test]
fn a_candidate_announced_twice_does_not_supersede_itself() {
    let sb = Sandbox::new();
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ready("s", "feat", &sha, "2026-01-01T10:00:00Z");
    sb.ok(&[
        "emit",
        "deployment-started",
        "--slug",
        "s",
        "--branch",
        "feat",
        "--sha",
        &sha,
        "--at",
        "2026-01-01T11:00:00Z",
    ]);
    let st = sb.status_json();
    assert_eq!(st["candidates"].as_array().unwrap().len(), 1, "{st:#}");
    let c = candidate(&st, "s", &sha);
    assert_eq!((&c["state"], &c["superseded_by"]), (&"READY".into(), &serde_json::Value::Null), "{st:#}");
}
