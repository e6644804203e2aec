//! Guards II: the bypasses a casual agent finds (issue 13's table), each refused with
//! nothing moved or lost, and the allowed near misses.

use crate::guard_prepush::{assert_refused, setup};
use crate::support::guards::{ok, stderr, GuardSandbox as Sandbox};
use std::path::Path;

const AGENT: (&str, &str) = ("TELECLAUDE_SESSION_ID", "agent-7");

/// An empty hooks directory and a config file that points `core.hooksPath` at it.
fn hooks_off_file(sb: &Sandbox, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let empty = sb.dir().join(format!("{name}-hooks"));
    std::fs::create_dir_all(&empty).unwrap();
    let file = sb.dir().join(format!("{name}.gitconfig"));
    std::fs::write(&file, format!("[core]\n\thooksPath = {}\n", empty.display())).unwrap();
    (empty, file)
}

#[test]
fn row1_config_sources_git_resolves_are_asked_of_git() {
    let (sb, wt, _) = setup();
    let (_, file) = hooks_off_file(&sb, "inc");
    let include = format!("include.path={}", file.display());
    assert_refused(&sb, &wt, &["-c", &include, "push", "origin", "HEAD:main"], &[]);
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &[("GIT_CONFIG_GLOBAL", file.to_str().unwrap())]);
    // HOME and XDG_CONFIG_HOME: git reads them when GIT_CONFIG_GLOBAL is unset.
    let home = sb.dir().join("otherhome");
    std::fs::create_dir_all(home.join("git")).unwrap();
    std::fs::copy(&file, home.join(".gitconfig")).unwrap();
    let refused = |env: &[(&str, &Path)]| {
        let before = sb.origin_ref("main");
        let mut c = sb.shim_git(&wt);
        c.env_remove("GIT_CONFIG_GLOBAL").args(["push", "origin", "HEAD:main"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{env:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
        assert_eq!(sb.origin_ref("main"), before);
    };
    refused(&[("HOME", &home)]);
    std::fs::rename(home.join(".gitconfig"), home.join("git/config")).unwrap();
    refused(&[("HOME", &sb.dir().join("nohome")), ("XDG_CONFIG_HOME", &home)]);
    // A key only git's answer shows: an include on the command line is command scope, so
    // the remote's `pushurl` it sets is an override, even for a feature push.
    std::fs::write(&file, format!("[remote \"origin\"]\n\tpushurl = {}\n", sb.origin.display())).unwrap();
    assert_refused(&sb, &wt, &["-c", &include, "push", "origin", "feature"], &[]);
    let out = sb.shim_git(&wt).args(["-c", &include, "push", "origin", "feature"]).output().unwrap();
    assert!(stderr(&out).contains("GIT_CONFIG_* override of remote.origin.pushurl"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("feature"), None);
    // Near miss: an include that sets nothing sensitive; the feature push goes through.
    std::fs::write(&file, "[user]\n\tname = Someone\n").unwrap();
    ok(sb.shim_git(&wt).args(["-c", &include, "push", "-q", "origin", "feature"]).output().unwrap());
    assert_eq!(sb.origin_ref("feature"), Some(sb.rev(&wt, "HEAD")));
}

#[test]
fn row2_a_hooks_path_set_in_the_repository_config_is_refused() {
    let (sb, wt, _) = setup();
    let (empty, _) = hooks_off_file(&sb, "repo");
    sb.git(&wt, &["config", "core.hooksPath", empty.to_str().unwrap()]);
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &[]);
    assert_refused(&sb, &wt, &["push", "origin", "feature"], &[]);
    // A hooks path that leads to the guard (install.sh --follow-hooks-path) is fine.
    std::fs::copy(sb.work.join(".git/hooks/pre-push"), empty.join("pre-push")).unwrap();
    ok(sb.shim_git(&wt).args(["push", "-q", "origin", "feature"]).output().unwrap());
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &[]);
}

#[test]
fn rows3_4_env_overrides_with_whitespace_and_any_count() {
    let (sb, wt, _) = setup();
    let (empty, _) = hooks_off_file(&sb, "env");
    let param = format!("' core.hooksPath={}'", empty.display());
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &[("GIT_CONFIG_PARAMETERS", &param)]);
    let mut env: Vec<(String, String)> =
        (0..10_000).map(|n| (format!("GIT_CONFIG_KEY_{n}"), "user.x".to_string())).collect();
    env.extend((0..10_000).map(|n| (format!("GIT_CONFIG_VALUE_{n}"), "y".to_string())));
    env.push(("GIT_CONFIG_KEY_10000".into(), "core.hooksPath".into()));
    env.push(("GIT_CONFIG_VALUE_10000".into(), empty.display().to_string()));
    env.push(("GIT_CONFIG_COUNT".into(), "10001".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &env);
}

#[test]
fn rows5_6_aliases_resolve_as_git_does() {
    let (sb, wt, _) = setup();
    // Words the old shim took for builtins, not installed here: an alias stands in.
    for word in ["svn", "gui", "p4", "citool", "send-email"] {
        let alias = format!("alias.{word}=push --no-verify");
        assert_refused(&sb, &wt, &["-c", &alias, word, "origin", "HEAD:main"], &[]);
    }
    // A chain 17 deep, and a cycle (which git itself refuses; nothing moves).
    for n in 0..17 {
        sb.git(&wt, &["config", &format!("alias.a{n}"), &format!("a{}", n + 1)]);
    }
    sb.git(&wt, &["config", "alias.a17", "push --no-verify"]);
    assert_refused(&sb, &wt, &["a0", "origin", "HEAD:main"], &[]);
    sb.git(&wt, &["config", "alias.c1", "c2"]);
    sb.git(&wt, &["config", "alias.c2", "c1"]);
    let out = sb.shim_git(&wt).args(["c1", "origin", "HEAD:main"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    // `-c` inside an alias counts.
    let (empty, _) = hooks_off_file(&sb, "alias");
    sb.git(&wt, &["config", "alias.sneak", &format!("-c core.hooksPath={} push", empty.display())]);
    assert_refused(&sb, &wt, &["sneak", "origin", "HEAD:main"], &[]);
    // Near miss: an alias of a feature push runs.
    sb.git(&wt, &["config", "alias.pf", "push -q origin feature"]);
    ok(sb.shim_git(&wt).args(["pf"]).output().unwrap());
    // A builtin of this git outside the static list (`hook`, git 2.36) wins over an alias of
    // its name, in git and in the shim (`git --list-cmds=builtins`): the hook runs, no push.
    sb.git(&wt, &["config", "alias.hook", "push --no-verify origin HEAD:main"]);
    ok(sb.shim_git(&wt).args(["hook", "run", "--ignore-missing", "no-such-hook"]).output().unwrap());
}

#[test]
fn a_relative_hooks_path_is_the_one_under_the_working_trees_top() {
    let (sb, wt, _) = setup();
    sb.git(&wt, &["config", "core.hooksPath", "myhooks"]);
    sb.git(&sb.work, &["branch", "topic"]);
    let guard_hook = sb.work.join(".git/hooks/pre-push");
    for (top, branch) in [(&wt, "feature"), (&sb.work, "topic")] {
        // Run from a subdirectory: git runs the hooks of `<top>/myhooks`, whatever the cwd.
        let sub = top.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        assert_refused(&sb, &sub, &["push", "origin", branch], &[]);
        assert_eq!(sb.origin_ref(branch), None);
        std::fs::create_dir_all(top.join("myhooks")).unwrap();
        std::fs::copy(&guard_hook, top.join("myhooks/pre-push")).unwrap();
        ok(sb.shim_git(&sub).args(["push", "-q", "origin", branch]).output().unwrap());
        assert_eq!(sb.origin_ref(branch), Some(sb.rev(top, branch)));
    }
}

#[test]
fn row8_overrides_are_checked_for_every_command_that_can_push() {
    let (sb, wt, _) = setup();
    let (empty, _) = hooks_off_file(&sb, "sub");
    let off = format!("core.hooksPath={}", empty.display());
    assert_refused(&sb, &wt, &["-c", &off, "subtree", "push", "--prefix=sub", "origin", "main"], &[]);
    assert_refused(&sb, &wt, &["-c", &off, "rebase", "-x", "git push origin HEAD:main", "HEAD~1"], &[]);
    assert_refused(&sb, &wt, &["http-push", "origin", "main"], &[]);
    // The same override from the environment: `rebase` itself is refused, before it starts.
    let env = [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "core.hooksPath"),
        ("GIT_CONFIG_VALUE_0", empty.to_str().unwrap()),
    ];
    let rebase = ["rebase", "-x", "git push origin HEAD:main", "HEAD~1"];
    assert_refused(&sb, &wt, &rebase, &env);
    let out = sb.shim_git(&wt).args(rebase).envs(env).output().unwrap();
    let rule = "`git rebase` with a command-line or GIT_CONFIG_* override of core.hookspath";
    assert!(stderr(&out).contains(rule), "{}", stderr(&out));
    assert!(!wt.join(sb.git(&wt, &["rev-parse", "--git-path", "rebase-merge"])).exists(), "the rebase started");
    // Near miss: an override that cannot bypass the guard, on a command that cannot push.
    ok(sb.shim_git(&wt).args(["-c", &off, "status", "--short"]).output().unwrap());
}

/// Run as the agent; assert AGENT_GUARDRAIL_BLOCKED and that `f.txt`, `untracked.txt`
/// and the worktree `keep` are untouched.
fn assert_agent_refused(sb: &Sandbox, wt: &Path, args: &[&str]) {
    let out = sb.shim_git(wt).args(args).env(AGENT.0, AGENT.1).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "`git {}`: {}", args.join(" "), stderr(&out));
    assert!(stderr(&out).contains("AGENT_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "uncommitted\n", "{args:?}");
    assert!(wt.join("untracked.txt").exists(), "{args:?}");
    assert!(sb.dir().join("keep/k.txt").exists(), "{args:?}");
}

#[test]
fn rows7_10_and_the_new_destructive_commands_are_refused_for_agents() {
    let (sb, wt, _) = setup();
    let keep = sb.worktree("keep", "kept");
    std::fs::write(keep.join("k.txt"), "uncommitted\n").unwrap();
    std::fs::write(wt.join("f.txt"), "uncommitted\n").unwrap();
    std::fs::write(wt.join("untracked.txt"), "keep me\n").unwrap();
    let keep_path = keep.to_str().unwrap();
    let forms: Vec<Vec<&str>> = vec![
        vec!["checkout", "*"],
        vec!["checkout", "[a-z]*"],
        vec!["checkout", "f.tx?"],
        vec!["checkout", ":(glob)*.txt"],
        vec!["checkout", ":/f.txt"],
        vec!["switch", "--discard-changes", "main"],
        vec!["switch", "-f", "main"],
        vec!["switch", "--force", "main"],
        vec!["switch", "-qf", "main"],
        vec!["read-tree", "-u", "--reset", "HEAD"],
        vec!["read-tree", "--reset", "-u", "HEAD"],
        vec!["checkout-index", "-f", "-a"],
        vec!["checkout-index", "-fa"],
        vec!["worktree", "remove", "--force", keep_path],
        vec!["worktree", "remove", "-f", keep_path],
        vec!["rebase", "-x", "git clean -fdx", "HEAD~1"],
        vec!["rebase", "--exec=git clean -fdx", "HEAD~1"],
        vec!["grep", "-Osh -c 'git clean -fdx'", "x"],
        vec!["bisect", "run", "git", "clean", "-fdx"],
        vec!["submodule", "foreach", "git clean -fdx"],
    ];
    for form in &forms {
        assert_agent_refused(&sb, &wt, form);
    }
    // Near misses: the same commands in forms that lose nothing.
    let run = |args: &[&str]| ok(sb.shim_git(&wt).args(args).env(AGENT.0, AGENT.1).output().unwrap());
    run(&["switch", "-q", "-c", "fresh"]);
    run(&["switch", "-q", "feature"]);
    run(&["grep", "-q", "uncommitted"]);
    run(&["worktree", "list"]);
    run(&["read-tree", "HEAD"]);
    run(&["checkout-index", "-a", "--prefix=exported/"]);
    assert!(wt.join("exported/f.txt").exists());
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "uncommitted\n");
    // guard.agent_blocked overrides the default set: a builtin named there is refused
    // outright, though the default policy lets it pass untouched.
    std::fs::write(sb.state().join("config.toml"), "[guard]\nagent_blocked = [\"stash\", \"tag\"]\n").unwrap();
    assert_agent_refused(&sb, &wt, &["tag", "agent-tag"]);
    assert!(sb.git_out(&wt, &["rev-parse", "--verify", "--quiet", "refs/tags/agent-tag"]).stdout.is_empty());
    run(&["switch", "-q", "-c", "other"]);
    run(&["worktree", "remove", "--force", keep_path]);
    assert!(!keep.exists());
}

/// Config-based hooks (`hook.<name>.command` / `hook.<name>.event`, and the older
/// `hook.<event>.command`) set in config files, not on the command line: git 2.47 runs a
/// push's `pre-push` from the hooks dir only, so they cannot replace ours. Pushed with the
/// real git (no shim at all) and through the shim, our `pre-push` still refuses main.
#[test]
fn config_file_hook_keys_do_not_replace_our_pre_push() {
    let (sb, wt, _) = setup();
    let ran = sb.dir().join("config-hook-ran");
    let command = format!("touch {}; exit 0", ran.display());
    for (k, v) in [("hook.skip.command", command.as_str()), ("hook.skip.event", "pre-push")] {
        sb.git(&wt, &["config", k, v]);
    }
    let global = sb.dir().join("hooks.gitconfig");
    std::fs::write(&global, format!("[hook \"pre-push\"]\n\tcommand = {command}\n")).unwrap();
    let global = global.to_str().unwrap();
    let before = sb.origin_ref("main");
    let mut real = sb.cmd(&sb.real_git, &wt);
    let out = real.env("GIT_CONFIG_GLOBAL", global).args(["push", "origin", "HEAD:main"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED: pushes that update protected branch"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main"), before);
    assert_refused(&sb, &wt, &["push", "origin", "HEAD:main"], &[("GIT_CONFIG_GLOBAL", global)]);
    // Near miss: the feature branch goes through with the same configuration.
    let out = sb.shim_git(&wt).env("GIT_CONFIG_GLOBAL", global).args(["push", "-q", "origin", "feature"]).output();
    ok(out.unwrap());
    assert_eq!(sb.origin_ref("feature"), Some(sb.rev(&wt, "HEAD")));
}
