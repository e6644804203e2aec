//! The pre-push hook and the git shim's push rules against a real bare remote (SPEC §12).

use crate::support::guards::{ok, stderr, write_exec, GuardSandbox as Sandbox};
use std::path::Path;

/// A sandbox with the hook installed and a linked worktree `wt` on `feature`, one commit ahead.
pub(crate) fn setup() -> (Sandbox, std::path::PathBuf, String) {
    let sb = Sandbox::new();
    sb.install_hook();
    let wt = sb.worktree("wt", "feature");
    let f = sb.commit(&wt, "f.txt", "feature\n", "feature work");
    (sb, wt, f)
}

/// `(branch, sha, remote)` of every `branch.pushed` recorded in `sb`'s log.
fn pushed_events(sb: &Sandbox) -> Vec<(String, String, String)> {
    let events: Vec<serde_json::Value> =
        sb.read_state("events.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    events
        .iter()
        .filter(|e| e["type"] == "domain.software-development.branch.pushed")
        .map(|e| (text(&e["payload"]["branch"]), text(&e["payload"]["sha"]), text(&e["payload"]["remote"])))
        .collect()
}

fn guardrail_lines(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.read_state("guardrails.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Run `git <args>` through the shim in `dir` with extra env; assert it was refused and
/// origin's main did not move.
pub(crate) fn assert_refused(sb: &Sandbox, dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let before = sb.origin_ref("main");
    let records = guardrail_lines(sb).len();
    let out = sb.shim_git(dir).args(args).envs(env.iter().copied()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "`git {}` was not refused: {err}", args.join(" "));
    assert!(err.contains("MAIN_GUARDRAIL_BLOCKED"), "`git {}`: {err}", args.join(" "));
    assert!(err.contains("integrator emit deployment-started"), "{err}");
    assert_eq!(sb.origin_ref("main"), before, "`git {}` moved origin/main", args.join(" "));
    let lines = guardrail_lines(sb);
    assert!(lines.len() > records, "`git {}` left no guardrails.jsonl record", args.join(" "));
    let last = lines.last().unwrap();
    assert!(last["rule"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(last["who"], "tester");
    assert!(last["argv"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn every_push_form_that_targets_main_from_a_worktree_is_refused() {
    let (sb, wt, f) = setup();
    sb.git(&wt, &["tag", "v1"]);
    // Local main one commit ahead of origin/main, for `--all`.
    sb.commit(&sb.work, "a.txt", "ahead\n", "main ahead");
    let origin = sb.origin.to_str().unwrap().to_string();
    let hooks_off = format!("core.hooksPath={}", sb.dir().join("nohooks").display());
    let sha_main = format!("{f}:main");
    let lease = format!("--force-with-lease=main:{}", sb.origin_ref("main").unwrap());
    let url_form = [origin.as_str(), "feature:main"];
    let forms: Vec<Vec<&str>> = vec![
        vec!["push", "origin", "feature:main"],
        vec!["push", "origin", "+feature:main"],
        vec!["push", "--force", "origin", "feature:main"],
        vec!["push", "-f", "origin", "feature:refs/heads/main"],
        vec!["push", "--force-with-lease", "origin", "feature:main"],
        vec!["push", &lease, "origin", "feature:main"],
        vec!["push", "origin", "HEAD:refs/heads/main"],
        vec!["push", "origin", "refs/heads/feature:refs/heads/main"],
        vec!["push", "origin", &sha_main],
        vec!["push", "origin", "HEAD~0:main"],
        vec!["push", "origin", "v1:refs/heads/main"],
        vec!["push", "origin", ":main"],
        vec!["push", "origin", "--delete", "main"],
        vec!["push", "--all", "origin"],
        vec!["push", "origin", "feature:main", "feature:other"],
        vec!["push", "--atomic", "origin", "feature:main"],
        [&["push"][..], &url_form[..]].concat(),
        vec!["push", "--no-verify", "origin", "feature:main"],
        vec!["push", "--no-verif", "origin", "feature:main"],
        vec!["push", "--no-v", "origin", "feature:main"],
        vec!["-c", &hooks_off, "push", "origin", "feature:main"],
        vec!["-c", "remote.origin.pushurl=/tmp/elsewhere", "push", "origin", "feature:main"],
        vec!["--config-env=core.hooksPath=HOME", "push", "origin", "feature:main"],
        vec!["push", "--mirror", "origin"],
        vec!["push", "--receive-pack=git-receive-pack", "origin", "feature:main"],
        vec!["send-pack", &origin, "refs/heads/feature:refs/heads/main"],
        vec!["-C", "..", "-C", "wt", "push", "origin", "feature:main"],
    ];
    for form in &forms {
        assert_refused(&sb, &wt, form, &[]);
    }
    assert!(forms.len() >= 25);

    // Environment config overrides.
    assert_refused(
        &sb,
        &wt,
        &["push", "origin", "feature:main"],
        &[("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "core.hooksPath"), ("GIT_CONFIG_VALUE_0", "/nohooks")],
    );
    assert_refused(
        &sb,
        &wt,
        &["push", "origin", "feature:main"],
        &[("GIT_CONFIG_PARAMETERS", "'hook.x.event'='pre-push'")],
    );

    // Configured push behaviour: push.default=upstream and remote.origin.push.
    sb.git(&wt, &["branch", "-q", "--set-upstream-to=origin/main", "feature"]);
    sb.git(&wt, &["config", "push.default", "upstream"]);
    assert_refused(&sb, &wt, &["push"], &[]);
    assert_refused(&sb, &wt, &["push", "origin"], &[]);
    sb.git(&wt, &["config", "--unset", "push.default"]);
    sb.git(&wt, &["branch", "-q", "--unset-upstream", "feature"]);
    sb.git(&wt, &["config", "remote.origin.push", "refs/heads/feature:refs/heads/main"]);
    assert_refused(&sb, &wt, &["push", "origin"], &[]);
    sb.git(&wt, &["config", "--unset", "remote.origin.push"]);

    // Aliases that push, and a mirror remote.
    sb.git(&wt, &["config", "alias.ship", "push origin feature:main"]);
    sb.git(&wt, &["config", "alias.shipnv", "push --no-verify"]);
    sb.git(&wt, &["config", "alias.deliver", "ship"]);
    assert_refused(&sb, &wt, &["ship"], &[]);
    assert_refused(&sb, &wt, &["shipnv", "origin", "feature:main"], &[]);
    assert_refused(&sb, &wt, &["deliver"], &[]);
    assert_refused(&sb, &wt, &["-c", "alias.p=push", "p", "origin", "feature"], &[]);
    sb.git(&wt, &["remote", "add", "--mirror=push", "backup", &origin]);
    assert_refused(&sb, &wt, &["push", "backup"], &[]);
    let rec = guardrail_lines(&sb);
    assert!(rec.iter().any(|r| r["remote_ref"] == "refs/heads/main"), "hook records name the remote ref");
}

#[test]
fn near_misses_go_through_and_feature_pushes_are_recorded() {
    let (sb, wt, f) = setup();
    let main_before = sb.origin_ref("main");
    let pushes: Vec<Vec<&str>> = vec![
        vec!["push", "-q", "origin", "feature"],
        vec!["push", "-q", "origin", "feature:MAIN"],
        vec!["push", "-q", "origin", "feature:mainline"],
        vec!["push", "-q", "--verify", "origin", "feature:verified"],
        vec!["-c", "user.name=Someone", "push", "-q", "origin", "feature:configured"],
        vec!["push", "-q", "--tags", "origin"],
    ];
    sb.git(&wt, &["tag", "v1"]);
    for p in &pushes {
        ok(sb.shim_git(&wt).args(p).output().unwrap());
    }
    for b in ["feature", "MAIN", "mainline", "verified", "configured"] {
        assert_eq!(sb.origin_ref(b).as_deref(), Some(f.as_str()), "{b}");
    }
    assert_eq!(sb.origin_ref("main"), main_before);
    // A mirror remote exists, but the push names another one.
    sb.git(&wt, &["remote", "add", "--mirror=push", "backup", sb.origin.to_str().unwrap()]);
    ok(sb.shim_git(&wt).args(["push", "-q", "origin", "feature:after-mirror"]).output().unwrap());
    // Pushing to the URL records the configured remote's name.
    let f2 = sb.commit(&wt, "g.txt", "more\n", "more work");
    ok(sb.shim_git(&wt).args(["push", "-q", sb.origin.to_str().unwrap(), "feature"]).output().unwrap());
    // Deleting a feature branch goes through and records no push.
    ok(sb.shim_git(&wt).args(["push", "-q", "origin", ":mainline"]).output().unwrap());
    assert_eq!(sb.origin_ref("mainline"), None);

    let pushed = pushed_events(&sb);
    for b in ["feature", "MAIN", "mainline", "verified", "configured", "after-mirror"] {
        assert!(pushed.contains(&(b.to_string(), f.clone(), "origin".into())), "{b}: {pushed:?}");
    }
    assert!(pushed.contains(&("feature".into(), f2, "origin".into())), "{pushed:?}");
    assert!(!pushed.iter().any(|(b, _, _)| b == "main"));
    assert_eq!(pushed.iter().filter(|(b, _, _)| b == "mainline").count(), 1, "the delete is no push: {pushed:?}");
    assert!(guardrail_lines(&sb).is_empty());
}

/// Run `cmd` with `input` on its stdin, output captured.
fn feed(mut cmd: std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The SHA-256 of `token` as `lease.json` stores it, computed by coreutils' `sha256sum`.
fn token_digest(token: &str) -> String {
    let out = feed(std::process::Command::new("sha256sum"), token.as_bytes());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// Hold the lease as `integrator run` does: the flock on lease.lock and a lease.json
/// holding the digest of `token`.
fn write_lease(sb: &Sandbox, token: &str) {
    write_lease_expiring(sb, token, "2999-01-01T00:00:00Z");
}

fn write_lease_expiring(sb: &Sandbox, token: &str, expires_at: &str) {
    let meta = serde_json::json!({
        "key": "integration/main", "owner": "integrator", "token": token_digest(token), "pid": std::process::id(),
        "host": "test", "acquired_at": "2026-01-01T00:00:00Z", "renewed_at": "2026-01-01T00:00:00Z",
        "expires_at": expires_at, "ttl_secs": 120,
    });
    std::fs::create_dir_all(sb.state()).unwrap();
    std::fs::write(sb.state().join("lease.json"), meta.to_string()).unwrap();
}

#[test]
fn the_integrator_token_passes_only_while_the_lease_is_held() {
    let (sb, wt, f) = setup();
    let lock_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open({
            std::fs::create_dir_all(sb.state()).unwrap();
            sb.state().join("lease.lock")
        })
        .unwrap();
    let mut lock = fd_lock::RwLock::new(lock_file);
    // A holder that stopped renewing: its token no longer authorises, though it holds the lock.
    write_lease_expiring(&sb, "tok-123", "2020-01-01T00:00:00Z");
    {
        let _held = lock.write().unwrap();
        let expired = [("TELECLAUDE_INTEGRATOR_TOKEN", "tok-123")];
        assert_refused(&sb, &wt, &["push", "origin", "feature:main"], &expired);
    }
    write_lease(&sb, "tok-123");
    {
        let _held = lock.write().unwrap();
        assert_refused(&sb, &wt, &["push", "origin", "feature:main"], &[("TELECLAUDE_INTEGRATOR_TOKEN", "tok-999")]);
        assert_refused(&sb, &wt, &["push", "origin", "feature:main"], &[]);
        // Row 12: what lease.json holds does not authorise a push.
        let stored: serde_json::Value = serde_json::from_str(&sb.read_state("lease.json")).unwrap();
        let stored = stored["token"].as_str().unwrap().to_string();
        assert!(!sb.read_state("lease.json").contains("tok-123"));
        assert_refused(&sb, &wt, &["push", "origin", "feature:main"], &[("TELECLAUDE_INTEGRATOR_TOKEN", &stored)]);
        ok(sb
            .shim_git(&wt)
            .args(["push", "-q", "origin", "feature:main"])
            .env("TELECLAUDE_INTEGRATOR_TOKEN", "tok-123")
            .output()
            .unwrap());
        assert_eq!(sb.origin_ref("main").as_deref(), Some(f.as_str()));
        // The token authorises the shim rules too.
        ok(sb
            .shim_git(&wt)
            .args(["push", "-q", "--no-verify", "origin", "feature:main"])
            .env("TELECLAUDE_INTEGRATOR_TOKEN", "tok-123")
            .output()
            .unwrap());
        // And the gh shim's: a merge into main reaches gh (the fake exits 3), once.
        let token = ("TELECLAUDE_INTEGRATOR_TOKEN", "tok-123");
        let (out, log) = crate::guard_gh_shim::run_gh(&sb, &["pr", "merge", "1"], &[("FAKE_BASE", "main"), token]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(log.lines().filter(|l| *l == "pr merge 1").count(), 1, "{log}");
    }
    // Released lock: the same token is refused.
    sb.commit(&wt, "h.txt", "h\n", "after release");
    assert_refused(&sb, &wt, &["push", "origin", "feature:main"], &[("TELECLAUDE_INTEGRATOR_TOKEN", "tok-123")]);
}

#[test]
fn the_main_checkout_may_push_main_until_cutover() {
    let sb = Sandbox::new();
    sb.install_hook();
    let c1 = sb.commit(&sb.work, "m.txt", "1\n", "old path delivery");
    ok(sb.shim_git(&sb.work).args(["push", "-q", "origin", "main"]).output().unwrap());
    assert_eq!(sb.origin_ref("main").as_deref(), Some(c1.as_str()));
    let c2 = sb.commit(&sb.work, "m.txt", "2\n", "again with HEAD");
    ok(sb.shim_git(&sb.work).args(["push", "-q", "origin", "HEAD:main"]).output().unwrap());
    assert_eq!(sb.origin_ref("main").as_deref(), Some(c2.as_str()));
    // Local main in packed-refs (after `git gc` or `git pack-refs`), not a loose ref.
    let c3 = sb.commit(&sb.work, "m.txt", "2b\n", "with main packed");
    sb.git(&sb.work, &["pack-refs", "--all", "--prune"]);
    assert!(!sb.work.join(".git/refs/heads/main").exists());
    ok(sb.shim_git(&sb.work).args(["push", "-q", "origin", "main"]).output().unwrap());
    assert_eq!(sb.origin_ref("main").as_deref(), Some(c3.as_str()));
    // Near misses from the main checkout: another branch, or a sha other than local main.
    sb.git(&sb.work, &["branch", "side", "HEAD~1"]);
    assert_refused(&sb, &sb.work, &["push", "-f", "origin", "side:main"], &[]);
    assert_refused(&sb, &sb.work, &["push", "-f", "origin", "HEAD~1:main"], &[]);
    assert_refused(&sb, &sb.work, &["push", "origin", ":main"], &[]);
    // After cutover the old path is closed.
    std::fs::write(
        sb.state().join("checkpoint.json"),
        r#"{"mode":{"requested":"cutover","effective":"cutover","reason":"cutover"}}"#,
    )
    .unwrap();
    sb.commit(&sb.work, "m.txt", "3\n", "after cutover");
    assert_refused(&sb, &sb.work, &["push", "origin", "main"], &[]);
    // With allow_canonical_main_push = false it is closed before cutover too.
    std::fs::remove_file(sb.state().join("checkpoint.json")).unwrap();
    ok(sb.shim_git(&sb.work).args(["push", "-q", "origin", "main"]).output().unwrap());
    std::fs::write(sb.state().join("config.toml"), "[guard]\nallow_canonical_main_push = false\n").unwrap();
    sb.commit(&sb.work, "m.txt", "4\n", "closed by config");
    assert_refused(&sb, &sb.work, &["push", "origin", "main"], &[]);
}

#[test]
fn foreign_hook_is_chained_and_bad_input_fails_closed() {
    let (sb, wt, f) = setup();
    let hooks = sb.work.join(".git/hooks");
    let seen = sb.dir().join("seen");
    write_exec(
        &hooks.join("pre-push.local"),
        &format!("#!/bin/sh\necho \"$1 $2\" > '{0}'\ncat >> '{0}'\ntest ! -e '{0}.fail'\n", seen.display()),
    );
    ok(sb.shim_git(&wt).args(["push", "-q", "origin", "feature"]).output().unwrap());
    let zero = "0".repeat(40);
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("origin {}\nrefs/heads/feature {f} refs/heads/feature {zero}\n", sb.origin.display())
    );
    std::fs::write(sb.dir().join("seen.fail"), "").unwrap();
    let f2 = sb.commit(&wt, "x.txt", "x\n", "x");
    let out = sb.shim_git(&wt).args(["push", "origin", "feature"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pre-push.local"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("feature").as_deref(), Some(f.as_str()));
    assert_ne!(sb.origin_ref("feature"), Some(f2));

    // The hook itself, fed garbage, refuses with a message.
    let (a40, z40) = ("a".repeat(40), "0".repeat(40));
    let bad = [
        format!("refs/heads/f {a40} main {z40}\n"),
        format!("refs/heads/f {a40} refs/heads/f {}\n", "g".repeat(40)),
        format!("refs/heads/f abc refs/heads/f {z40}\n"),
    ];
    let inputs = ["garbage\n", "refs/heads/f abc refs/heads/main def\n", &bad[0], &bad[1], &bad[2]];
    for input in inputs {
        let mut hook = sb.command(crate::support::bin("pre-push"), &wt);
        hook.args(["origin", "url"]);
        let out = feed(hook, input.as_bytes());
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("could not check"), "{}", stderr(&out));
    }
    // Called without the remote's url (git always passes both): refused, not a self-test.
    let mut hook = sb.command(crate::support::bin("pre-push"), &wt);
    hook.arg("origin");
    let out = feed(hook, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("expected `pre-push <remote-name> <url>`"), "{}", stderr(&out));
    // The self-test install runs: passes in a repository, fails closed outside one.
    let outside = sb.root.join("not-a-repository");
    std::fs::create_dir_all(&outside).unwrap();
    for (dir, code) in [(&wt, 0), (&outside, 1)] {
        let mut hook = sb.command(crate::support::bin("pre-push"), dir);
        hook.arg("--self-test");
        let out = feed(hook, b"");
        assert_eq!(out.status.code(), Some(code), "{}: {}", dir.display(), stderr(&out));
    }
    // An invalid policy file also fails closed.
    std::fs::write(sb.state().join("config.toml"), "[guard]\nprotectd = [\"main\"]\n").unwrap();
    let out = sb.shim_git(&wt).args(["push", "origin", "feature"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("protectd"), "{}", stderr(&out));
}

/// An empty `core.hooksPath` makes git itself run no hook at all (git 2.47 looks for
/// `/pre-push`), but a hook manager that calls ours by hand still gets the preserved
/// hook chained from `<common-dir>/hooks`, not from its working directory.
#[test]
fn with_an_empty_hooks_path_the_hook_run_by_hand_still_chains_the_preserved_hook() {
    let (sb, wt, f) = setup();
    write_exec(&sb.work.join(".git/hooks/pre-push.local"), "#!/bin/sh\necho preserved-hook-refuses >&2\nexit 1\n");
    sb.git(&sb.work, &["config", "core.hooksPath", ""]);
    let mut hook = sb.command(crate::support::bin("pre-push"), &wt);
    hook.args(["origin", "url"]);
    let out = feed(hook, format!("refs/heads/feature {f} refs/heads/feature {}\n", "0".repeat(40)).as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("preserved-hook-refuses"), "{}", stderr(&out));
}

/// The hook alone (real git, no shim) against a remote that would take the delete: the
/// bare remote's own `receive.denyDeleteCurrent` is switched off.
#[test]
fn the_hook_refuses_deleting_main_on_a_remote_that_would_accept_it() {
    let (sb, wt, _) = setup();
    sb.git(&sb.origin, &["config", "receive.denyDeleteCurrent", "ignore"]);
    for args in [&["push", "origin", ":main"][..], &["push", "origin", "--delete", "main"]] {
        let out = sb.git_out(&wt, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{args:?}: {}", stderr(&out));
        assert!(sb.origin_ref("main").is_some(), "{args:?} deleted main");
    }
    // The same push without the hook goes through: the hook is what stopped it.
    ok(sb.git_out(&wt, &["push", "-q", "--no-verify", "origin", ":main"]));
    assert_eq!(sb.origin_ref("main"), None);
}

/// The hook alone (real git, no shim) records feature pushes, under the configured
/// remote's name also when the push names its URL or its push URL.
#[test]
fn the_hook_alone_records_feature_pushes_with_the_remotes_name() {
    let (sb, wt, f) = setup();
    ok(sb.git_out(&wt, &["push", "-q", "origin", "feature:by-name"]));
    ok(sb.git_out(&wt, &["push", "-q", sb.origin.to_str().unwrap(), "feature:by-url"]));
    // The URL matching only the remote's push URL names it too.
    sb.git(&wt, &["config", "remote.origin.pushurl", sb.origin.to_str().unwrap()]);
    sb.git(&wt, &["config", "remote.origin.url", "/nonexistent/elsewhere.git"]);
    ok(sb.git_out(&wt, &["push", "-q", sb.origin.to_str().unwrap(), "feature:by-pushurl"]));
    let pushed = pushed_events(&sb);
    for b in ["by-name", "by-url", "by-pushurl"] {
        assert!(pushed.contains(&(b.to_string(), f.clone(), "origin".into())), "{b}: {pushed:?}");
    }
}

/// Every branch of `guard.protected` is guarded by the hook, not only main.
#[test]
fn the_hook_guards_every_protected_branch() {
    let (sb, wt, f) = setup();
    sb.config("[guard]\nprotected = [\"main\", \"release\"]\n");
    sb.git(&sb.origin, &["branch", "release", "main"]);
    let release = sb.origin_ref("release");
    for args in [&["push", "origin", "feature:release"][..], &["push", "origin", ":release"]] {
        let out = sb.git_out(&wt, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{args:?}: {}", stderr(&out));
        assert_eq!(sb.origin_ref("release"), release, "{args:?} moved release");
    }
    // A near miss: a branch that is not protected.
    ok(sb.git_out(&wt, &["push", "-q", "origin", "feature:releases"]));
    assert_eq!(sb.origin_ref("releases").as_deref(), Some(f.as_str()));
}

/// With `core.hooksPath` set (install.sh --follow-hooks-path), the preserved hook chained
/// is the one in that directory, not in `<common>/hooks`.
#[test]
fn with_a_hooks_path_the_preserved_hook_there_is_chained() {
    let (sb, wt, _) = setup();
    let dir = sb.dir().join("myhooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(sb.work.join(".git/hooks/pre-push"), dir.join("pre-push")).unwrap();
    let ran = sb.dir().join("local-ran");
    write_exec(&dir.join("pre-push.local"), &format!("#!/bin/sh\necho \"$1\" >> '{}'\n", ran.display()));
    sb.git(&wt, &["config", "core.hooksPath", dir.to_str().unwrap()]);
    ok(sb.shim_git(&wt).args(["push", "-q", "origin", "feature"]).output().unwrap());
    assert_eq!(std::fs::read_to_string(&ran).unwrap_or_default(), "origin\n");
}
