//! The git shim: the agent policy, and pass-through fidelity against the real git.

use crate::support::guards::{ok, stderr, write_exec, GuardSandbox as Sandbox};
use std::io::Write;
use std::process::Stdio;

const AGENT: (&str, &str) = ("TELECLAUDE_SESSION_ID", "agent-7");

#[test]
fn agent_policy_refuses_destructive_commands_and_allows_the_rest() {
    let sb = Sandbox::new();
    let wt = sb.worktree("wt", "feature");
    sb.commit(&wt, "f.txt", "one\n", "feature work");
    std::fs::write(wt.join("f.txt"), "uncommitted\n").unwrap();
    std::fs::write(wt.join("untracked.txt"), "keep me\n").unwrap();
    sb.git(&wt, &["config", "alias.st", "stash"]);
    sb.git(&wt, &["config", "alias.nuke", "reset --hard"]);
    sb.git(&wt, &["config", "alias.sh-stash", "!git stash"]);
    let refused: Vec<Vec<&str>> = vec![
        vec!["stash"],
        vec!["stash", "push", "-u"],
        vec!["reset", "--hard"],
        vec!["reset", "--hard", "HEAD~1"],
        vec!["reset", "--keep", "HEAD"],
        vec!["clean", "-fdx"],
        vec!["restore", "f.txt"],
        vec!["checkout", "--", "f.txt"],
        vec!["checkout", "HEAD", "--", "f.txt"],
        vec!["checkout", "."],
        vec!["checkout", "-f", "main"],
        vec!["revert", "HEAD"],
        vec!["-C", ".", "stash"],
        vec!["-c", "user.name=x", "reset", "--hard"],
        vec!["--no-pager", "clean", "-f"],
        vec!["st"],
        vec!["nuke"],
        vec!["sh-stash"],
    ];
    for args in &refused {
        let out = sb.shim_git(&wt).args(args).env(AGENT.0, AGENT.1).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "`git {}`: {}", args.join(" "), stderr(&out));
        assert!(stderr(&out).contains("AGENT_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "uncommitted\n", "{args:?}");
        assert!(wt.join("untracked.txt").exists(), "{args:?}");
    }
    let records = sb.read_state("guardrails.jsonl");
    assert_eq!(records.lines().count(), refused.len());
    assert!(records.contains("\"who\":\"agent-7\""));

    // Allowed near misses, for the agent.
    let run = |args: &[&str]| ok(sb.shim_git(&wt).args(args).env(AGENT.0, AGENT.1).output().unwrap());
    run(&["stash", "list"]);
    run(&["clean", "-n"]);
    run(&["reset", "-q", "HEAD"]);
    run(&["status", "--short"]);
    run(&["checkout", "-q", "-b", "topic"]);
    run(&["checkout", "-q", "feature"]);
    run(&["switch", "-q", "topic"]);
    run(&["switch", "-q", "feature"]);
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "uncommitted\n");
    std::fs::write(wt.join("f.txt"), "one\n").unwrap();
    let before = sb.rev(&wt, "HEAD");
    run(&["revert", "--confirmed", "--no-edit", "HEAD"]);
    assert_eq!(sb.rev(&wt, "HEAD~1"), before, "revert --confirmed made a commit");
    assert!(!wt.join("f.txt").exists());
    // `--confirmed` anywhere before `--` is removed, and only it.
    run(&["revert", "--no-edit", "--confirmed", "HEAD"]);
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "one\n", "the revert was not reverted");
    // A listed shell alias is allowed.
    std::fs::write(sb.state().join("config.toml"), "[guard]\nagent_allowed_aliases = [\"sh-stash\"]\n").unwrap();
    run(&["sh-stash", "list"]);

    // Without the marker, everything runs.
    std::fs::write(wt.join("untracked.txt"), "x\n").unwrap();
    ok(sb.shim_git(&wt).args(["stash", "-u", "-q"]).output().unwrap());
    assert!(!wt.join("untracked.txt").exists());
    ok(sb.shim_git(&wt).args(["revert", "--confirmed", "--no-edit", "HEAD"]).output().unwrap());
    ok(sb.shim_git(&wt).args(["reset", "-q", "--hard", "HEAD~1"]).output().unwrap());
    assert_eq!(sb.read_state("guardrails.jsonl").lines().count(), refused.len());
}

#[test]
fn pass_through_is_identical_to_the_real_git() {
    let sb = Sandbox::new();
    let real = sb.real_git.clone();
    let both = |args: &[&str], input: &[u8]| {
        [sb.shims.join("git"), real.clone()].map(|exe| {
            let mut child = sb
                .command(&exe, &sb.work)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            child.wait_with_output().unwrap()
        })
    };
    for (args, input) in [
        (&["rev-parse", "--git-dir"][..], &b""[..]),
        (&["status", "--porcelain=v2", "--branch"], b""),
        (&["cat-file", "-p", "no-such-object"], b""),
        (&["hash-object", "--stdin"], b"bytes \x00\xff on stdin\n"),
        (&["no-such-command"], b""),
        (&["log", "--format=%H %s"], b""),
    ] {
        let [shim, git] = both(args, input);
        assert_eq!(shim.status.code(), git.status.code(), "{args:?}");
        assert_eq!(shim.stdout, git.stdout, "{args:?}");
        assert_eq!(stderr(&shim), stderr(&git), "{args:?}");
    }
    let [shim, _] = both(&["cat-file", "-p", "no-such-object"], b"");
    assert_eq!(shim.status.code(), Some(128));

    // A signal that kills git is reported as the same signal.
    use std::os::unix::process::ExitStatusExt;
    for exe in [sb.shims.join("git"), real.clone()] {
        let mut child =
            sb.command(&exe, &sb.work).args(["hash-object", "--stdin"]).stdin(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{exe:?}");
    }

    // A tty: git colours its output only on a terminal; through the shim it still does.
    if which::which("script").is_ok() {
        let on_tty = |exe: &std::path::Path| {
            let cmd = format!("'{}' --no-pager -c color.ui=auto log --oneline -1", exe.display());
            ok(sb.command("script", &sb.work).args(["-qec", &cmd, "/dev/null"]).env("TERM", "xterm").output().unwrap())
        };
        let shim = on_tty(&sb.shims.join("git"));
        assert!(shim.contains("\x1b["), "no colour through the shim: {shim:?}");
        assert_eq!(shim, on_tty(&real));
    } else {
        crate::support::cannot_run("`script` is not installed");
    }
}

#[test]
fn real_git_resolution_skips_shims_and_stops_recursion() {
    let sb = Sandbox::new();
    let expected = sb.git(&sb.work, &["--version"]);
    let system = std::env::var("PATH").unwrap();
    // Two copies of the shim on PATH (different inodes) still reach the real git once.
    let (a, b) = (sb.dir().join("a"), sb.dir().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        crate::support::copy_executable(&crate::support::bin("git"), &d.join("git"));
    }
    let copies = format!("{}:{}:{system}", a.display(), b.display());
    let out = sb.command(a.join("git"), &sb.work).arg("--version").env("PATH", &copies).output().unwrap();
    assert_eq!(ok(out).trim(), expected);
    let out = sb
        .command(a.join("git"), &sb.work)
        .args(["push", "--no-verify", "origin", "main"])
        .env("PATH", &copies)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Only the shim itself on PATH (two links to one file): exit 126.
    let (c, d) = (sb.dir().join("c"), sb.dir().join("d"));
    for dir in [&c, &d] {
        std::fs::create_dir_all(dir).unwrap();
        std::os::unix::fs::symlink(crate::support::bin("git"), dir.join("git")).unwrap();
    }
    let out = sb
        .command(c.join("git"), &sb.work)
        .arg("--version")
        .env("PATH", format!("{}:{}", c.display(), d.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    // A `git` script after the shim that calls the shim again: the depth counter stops it.
    let loop_dir = sb.dir().join("loop");
    std::fs::create_dir_all(&loop_dir).unwrap();
    write_exec(&loop_dir.join("git"), &format!("#!/bin/sh\nexec '{}' \"$@\"\n", c.join("git").display()));
    let out = sb
        .command(c.join("git"), &sb.work)
        .arg("--version")
        .env("PATH", format!("{}:{}:{system}", c.display(), loop_dir.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("TELECLAUDE_SHIM_DEPTH"), "{}", stderr(&out));
}

/// A policy the guard cannot read: what could move a protected branch (a push) or what the
/// agent policy judges (the marker set) is refused; a command only the agent policy could
/// refuse, run without the marker, runs with a warning.
#[test]
fn an_unreadable_policy_refuses_pushes_and_agents_and_warns_for_the_rest() {
    let sb = Sandbox::new();
    let wt = sb.worktree("wt", "feature");
    let f = sb.commit(&wt, "f.txt", "one\n", "feature work");
    std::fs::create_dir_all(sb.state()).unwrap();
    std::fs::write(sb.state().join("config.toml"), "[guard\n").unwrap();
    let cant_read = "refusing to run git: the guard could not read its policy";

    let out = sb.shim_git(&wt).args(["push", "-q", "origin", "feature"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(cant_read), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("feature"), None, "the push went through");

    std::fs::write(wt.join("f.txt"), "uncommitted\n").unwrap();
    let out = sb.shim_git(&wt).args(["stash", "-q"]).env(AGENT.0, AGENT.1).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(cant_read), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "uncommitted\n");

    let out = sb.shim_git(&wt).args(["stash", "-q"]).output().unwrap();
    assert!(stderr(&out).starts_with("git: warning: refusing to run git"), "{}", stderr(&out));
    ok(out);
    assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "one\n", "the stash did not run");
    assert_eq!(sb.rev(&wt, "HEAD"), f);
}

/// `TELECLAUDE_SHIM_DEPTH` counts nested shim calls: 20 still runs git, 21 stops (exit 126).
#[test]
fn the_shim_stops_only_above_twenty_nested_calls() {
    let sb = Sandbox::new();
    let version = sb.git(&sb.work, &["--version"]);
    for depth in ["0", "19", "20"] {
        let out = sb.shim_git(&sb.work).arg("--version").env("TELECLAUDE_SHIM_DEPTH", depth).output().unwrap();
        assert_eq!(ok(out).trim(), version, "depth {depth}");
    }
    for depth in ["21", "22", "1000"] {
        let out = sb.shim_git(&sb.work).arg("--version").env("TELECLAUDE_SHIM_DEPTH", depth).output().unwrap();
        assert_eq!(out.status.code(), Some(126), "depth {depth}: {}", stderr(&out));
        assert!(stderr(&out).contains("more than 20 times"), "{}", stderr(&out));
    }
}

/// The real git is the first executable *file* on PATH after the shim that is not the shim
/// or a byte-identical copy of it; a different program of the shim's exact size counts.
/// Every git the shim starts (its lookups, the final exec) sees `TELECLAUDE_SHIM_DEPTH` one
/// deeper. The git found here is a script that logs that depth and execs the real git.
#[test]
fn the_real_git_is_the_first_other_executable_file_and_sees_the_depth() {
    let sb = Sandbox::new();
    let shim = crate::support::bin("git");
    let log = sb.dir().join("depth.log");
    let dirs: Vec<std::path::PathBuf> = ["copy", "a-dir", "not-exec", "spy"].iter().map(|d| sb.dir().join(d)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    crate::support::copy_executable(&shim, &dirs[0].join("git"));
    std::fs::create_dir_all(dirs[1].join("git")).unwrap();
    std::fs::write(dirs[2].join("git"), "#!/bin/sh\necho not me\n").unwrap();
    let mut spy = format!(
        "#!/bin/sh\nprintf '%s %s\\n' \"${{TELECLAUDE_SHIM_DEPTH-unset}}\" \"$*\" >>'{}'\nexec '{}' \"$@\"\n",
        log.display(),
        sb.real_git.display()
    );
    let size = std::fs::metadata(&shim).unwrap().len() as usize;
    spy.push_str(&format!("#{}\n", "x".repeat(size - spy.len() - 2)));
    write_exec(&dirs[3].join("git"), &spy);
    assert_eq!(std::fs::metadata(dirs[3].join("git")).unwrap().len() as usize, size);
    let mut path = vec![sb.shims.clone()];
    path.extend(dirs.iter().cloned());
    path.extend(std::env::split_paths(&sb.sb.path));
    let path = std::env::join_paths(path).unwrap();

    let out = sb.shim_git(&sb.work).args(["-c", "alias.v=version", "v"]).env("PATH", &path).output().unwrap();
    assert_eq!(ok(out).trim(), sb.git(&sb.work, &["--version"]));
    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    assert_eq!(
        lines,
        ["1 -c alias.v=version config --get alias.v", "1 --list-cmds=builtins", "1 -c alias.v=version v"],
        "the lookups and the exec, each one shim call deep"
    );
}
