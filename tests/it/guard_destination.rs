//! Row 9 of the guards (README "Guarded remotes"): install registers the repository's
//! remote URLs beside the shims; a push to one of them from *any* repository — a fresh
//! clone with no hook — is checked by our `pre-push`, which the shim makes git run.

use crate::support::bin;
use crate::support::fleet::Daemon;
use crate::support::guards::{ok, stderr, write_exec, GuardSandbox as Sandbox};
use std::path::{Path, PathBuf};

/// A guarded `work` (hook, shim support: its origin registered) with an agent's commit on
/// branch `agent`; returns origin's main.
fn guarded(sb: &Sandbox) -> String {
    sb.install_hook();
    let out = sb.install_shim_support();
    assert!(out.contains("registered "), "{out}");
    sb.git(&sb.work, &["checkout", "-q", "-b", "agent"]);
    sb.commit(&sb.work, "a.txt", "a\n", "agent work");
    sb.origin_ref("main").unwrap()
}

/// `git clone URL <root>/<name>` through the shim.
fn fresh_clone(sb: &Sandbox, url: &str, name: &str) -> PathBuf {
    ok(sb.shim_git(&sb.root).args(["clone", "-q", url, name]).output().unwrap());
    sb.root.join(name)
}

/// In `clone`: fetch the agent's branch from `work`, push it to `dest`'s main.
fn push_agent_to_main(sb: &Sandbox, clone: &Path, dest: &str) -> std::process::Output {
    ok(sb.shim_git(clone).args(["fetch", "-q"]).arg(&sb.work).arg("agent").output().unwrap());
    sb.shim_git(clone).args(["push", dest, "FETCH_HEAD:main"]).output().unwrap()
}

/// The variable through which the shim names the registry for the hook (README "Guarded remotes").
const REGISTRY_ENV: &str = "TELECLAUDE_GUARDED_REMOTES";

/// Near miss: from `clone`, a branch that is not protected goes through to `dest`.
fn assert_feature_push_goes_through(sb: &Sandbox, clone: &Path, dest: &str) {
    ok(sb.shim_git(clone).args(["push", "-q", dest, "FETCH_HEAD:refs/heads/agent-copy"]).output().unwrap());
    assert_eq!(sb.origin_ref("agent-copy"), Some(sb.rev(&sb.work, "agent")));
}

fn assert_refused(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stderr(out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(out));
    assert!(stderr(out).contains("is a guarded remote"), "{}", stderr(out));
}

#[test]
fn a_fresh_clone_of_a_guarded_path_cannot_push_main() {
    let sb = Sandbox::new();
    let main = guarded(&sb);
    let origin = sb.origin.to_str().unwrap().to_string();
    let x = fresh_clone(&sb, &origin, "x");
    // The clone's own pre-push still runs (chained), and for every push.
    write_exec(&x.join(".git/hooks/pre-push"), "#!/bin/sh\necho \"own hook $1\" >> ../own-hook.log\n");
    assert_refused(&push_agent_to_main(&sb, &x, "origin"));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Recorded in the log of the repository that guards the remote.
    let log = std::fs::read_to_string(sb.state().join("guardrails.jsonl")).unwrap();
    assert!(log.contains(r#""remote_ref":"refs/heads/main""#), "{log}");
    // Another spelling of the same path: `file://`, a trailing slash, no `.git`.
    let spelled = format!("file://{}/", origin.strip_suffix(".git").unwrap());
    assert_refused(&sb.shim_git(&x).args(["push", &spelled, "FETCH_HEAD:refs/heads/main"]).output().unwrap());
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Pushed by a command git runs (a `!` alias): the shim found in the shadow exec-path
    // finds the registry beside the shims all the same.
    sb.git(&x, &["config", "alias.pm", "!git push origin FETCH_HEAD:main"]);
    assert_refused(&sb.shim_git(&x).arg("pm").output().unwrap());
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Near miss: a feature branch goes through, past the clone's own hook.
    assert_feature_push_goes_through(&sb, &x, "origin");
    let hook_log = std::fs::read_to_string(sb.root.join("own-hook.log")).unwrap();
    assert!(hook_log.lines().all(|l| l.starts_with("own hook ")) && hook_log.lines().count() == 1, "{hook_log}");
}

#[test]
fn a_fresh_clone_of_a_guarded_daemon_url_cannot_push_main_in_any_spelling() {
    let sb = Sandbox::new();
    let daemon = Daemon::start(&sb, None);
    let url = format!("git://127.0.0.1:{}/origin.git", daemon.port);
    sb.git(&sb.work, &["remote", "set-url", "origin", &url]);
    let main = guarded(&sb);
    let registry = std::fs::read_to_string(sb.shims.join("guarded-remotes")).unwrap();
    assert!(registry.starts_with(&format!("127.0.0.1:{}/origin\t", daemon.port)), "{registry}");
    // Cloned without `.git`, with a trailing slash.
    let x = fresh_clone(&sb, &format!("git://127.0.0.1:{}/origin/", daemon.port), "x");
    assert_refused(&push_agent_to_main(&sb, &x, "origin"));
    // Through an `insteadOf` rewrite in the clone's config: git resolves it, the hook sees git's URL.
    sb.git(&x, &["config", &format!("url.git://127.0.0.1:{}/.insteadOf", daemon.port), "gd:"]);
    let out = sb.shim_git(&x).args(["push", "gd:origin.git", "FETCH_HEAD:main"]).output().unwrap();
    assert_refused(&out);
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Near miss: a branch that is not protected.
    assert_feature_push_goes_through(&sb, &x, "gd:origin.git");
}

#[test]
fn an_unregistered_remote_is_left_alone() {
    let sb = Sandbox::new();
    guarded(&sb);
    // Another bare repository, not registered: its main is its own business.
    sb.git(&sb.root, &["init", "-q", "--bare", "other.git"]);
    let x = fresh_clone(&sb, sb.origin.to_str().unwrap(), "x");
    let other = sb.root.join("other.git");
    ok(sb.shim_git(&x).args(["fetch", "-q"]).arg(&sb.work).arg("agent").output().unwrap());
    let out = sb.shim_git(&x).args(["push", "-q", other.to_str().unwrap(), "FETCH_HEAD:refs/heads/main"]).output();
    ok(out.unwrap());
    let pushed = sb.git(&other, &["rev-parse", "refs/heads/main"]);
    assert_eq!(pushed.trim(), sb.rev(&sb.work, "agent"));
    // Without the hooks dir beside the shims no push can be checked against the registry:
    // refused, with the fix.
    std::fs::remove_dir_all(sb.shims.join("hooks")).unwrap();
    let out = sb.shim_git(&x).args(["push", "-q", other.to_str().unwrap(), "FETCH_HEAD:refs/heads/f"]).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("pre-push, which checks a push against them, is missing"), "{}", stderr(&out));
}

#[test]
fn another_spelling_of_the_daemon_path_is_the_same_guarded_remote() {
    let sb = Sandbox::new();
    let daemon = Daemon::start(&sb, None);
    sb.git(&sb.work, &["remote", "set-url", "origin", &format!("git://127.0.0.1:{}/origin.git", daemon.port)]);
    let main = guarded(&sb);
    // The same repository under a path in other case (as GitHub serves `Acme/Widgets` for
    // `acme/widgets`): here a link the daemon follows.
    std::os::unix::fs::symlink(&sb.origin, sb.root.join("Origin.git")).unwrap();
    let x = fresh_clone(&sb, &format!("git://127.0.0.1:{}/Origin.git", daemon.port), "x");
    assert_refused(&push_agent_to_main(&sb, &x, "origin"));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Near miss: a branch that is not protected goes through that spelling.
    assert_feature_push_goes_through(&sb, &x, "origin");
}

#[test]
fn a_routed_push_refuses_no_verify_whatever_the_clone_allows() {
    let sb = Sandbox::new();
    let main = guarded(&sb);
    let x = fresh_clone(&sb, sb.origin.to_str().unwrap(), "x");
    // The clone's own policy is the agent's to edit.
    std::fs::write(x.join("teleclaude.toml"), "[guard]\nallow_no_verify = true\n").unwrap();
    ok(sb.shim_git(&x).args(["fetch", "-q"]).arg(&sb.work).arg("agent").output().unwrap());
    let out = sb.shim_git(&x).args(["push", "--no-verify", "origin", "FETCH_HEAD:main"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert!(stderr(&out).contains("`git push --no-verify` would skip the check"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Without --no-verify the same clone pushes a feature branch.
    assert_feature_push_goes_through(&sb, &x, "origin");
}

#[test]
fn a_repository_with_the_hook_but_no_state_dir_is_not_routed_by_the_environment() {
    let sb = Sandbox::new();
    sb.install_hook();
    let _ = std::fs::remove_dir_all(sb.state());
    sb.git(&sb.work, &["checkout", "-q", "-b", "agent"]);
    sb.commit(&sb.work, "a.txt", "a\n", "agent work");
    let main = sb.origin_ref("main").unwrap();
    // An empty registry named in the environment must not turn the repository's own
    // guard into the (empty) destination check.
    let out = sb
        .cmd(&sb.real_git, &sb.work)
        .env(REGISTRY_ENV, "/dev/null")
        .args(["push", "origin", "HEAD:main"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Near miss: a feature branch is pushed through the same hook.
    ok(sb
        .cmd(&sb.real_git, &sb.work)
        .env(REGISTRY_ENV, "/dev/null")
        .args(["push", "-q", "origin", "HEAD:refs/heads/f"])
        .output()
        .unwrap());
    assert_eq!(sb.origin_ref("f"), Some(sb.rev(&sb.work, "HEAD")));
}

#[test]
fn shims_with_a_bad_config_writes_nothing() {
    let sb = Sandbox::new();
    std::fs::write(sb.work.join("teleclaude.toml"), "[integrator\nremote = \"origin\"\n").unwrap();
    let out = sb.command(bin("integrator"), &sb.work).args(["shims", "--shim-dir"]).arg(&sb.shims).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("teleclaude.toml"), "{}", stderr(&out));
    for name in ["git-exec-path", "hooks", "guarded-remotes"] {
        assert!(!sb.shims.join(name).exists(), "{name} was written");
    }
    // Fixed, the same command builds all three.
    std::fs::remove_file(sb.work.join("teleclaude.toml")).unwrap();
    assert!(sb.install_shim_support().contains("registered "));
    for name in ["git-exec-path", "hooks", "guarded-remotes"] {
        assert!(sb.shims.join(name).exists(), "{name} missing");
    }
}
