//! The git shim's pass-through path spawns no subprocess: it finds the real git and
//! `exec`s it, nothing else (SPEC §12, ENGINEERING "The shims must never break git").

use crate::support::guards::{stderr, GuardSandbox as Sandbox};
use std::path::Path;

/// A PATH holding only the shim and, after it, the real git: any other program the shim
/// tried to start would not be found.
fn bare_path(sb: &Sandbox) -> String {
    let only = sb.root.join("only-git");
    std::fs::create_dir_all(&only).unwrap();
    if !only.join("git").exists() {
        std::os::unix::fs::symlink(&sb.real_git, only.join("git")).unwrap();
    }
    format!("{}:{}", sb.shims.display(), only.display())
}

#[test]
fn pass_through_works_with_nothing_but_the_real_git_on_path() {
    let sb = Sandbox::new();
    let path = bare_path(&sb);
    let run = |args: &[&str]| sb.cmd(sb.shims.join("git"), &sb.work).env("PATH", &path).args(args).output().unwrap();
    let out = run(&["rev-parse", "--git-dir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), ".git\n");
    // The real git's exit code comes back unchanged.
    let out = run(&["rev-parse", "--verify", "--quiet", "no-such-ref"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn pass_through_execs_once_and_forks_nothing() {
    let sb = Sandbox::new();
    let trace = sb.root.join("trace.txt");
    let Some(out) = strace_shim(&sb, &trace, &["rev-parse", "--git-dir"]) else { return };
    assert_eq!(String::from_utf8_lossy(&out.stdout), ".git\n");
    let calls = syscalls(&trace);
    let execs: Vec<&String> = calls.iter().filter(|c| c.starts_with("execve(")).collect();
    let forks: Vec<&String> = calls.iter().filter(|c| !c.starts_with("execve(")).collect();
    assert!(forks.is_empty(), "the shim started a process:\n{}", calls.join("\n"));
    // strace starting the shim, then the shim replacing itself with the real git.
    assert_eq!(execs.len(), 2, "{}", calls.join("\n"));
    let real = format!("{:?}", sb.root.join("only-git/git").display().to_string());
    assert!(execs[1].starts_with(&format!("execve({real}, ")), "{}", execs[1]);
}

/// With the shadow exec-path beside the shims (README "Nested git") the pass-through still
/// execs once and forks nothing: two `stat`s decide, and git gets `GIT_EXEC_PATH`.
#[test]
fn pass_through_with_the_shadow_exec_path_execs_once_and_exports_it() {
    let sb = Sandbox::new();
    sb.install_shim_support();
    let trace = sb.root.join("trace.txt");
    let Some(out) = strace_shim(&sb, &trace, &["--exec-path"]) else { return };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sb.shadow().to_str().unwrap());
    let calls = syscalls(&trace);
    assert!(calls.iter().all(|c| c.starts_with("execve(")), "the shim started a process:\n{}", calls.join("\n"));
    assert_eq!(calls.len(), 2, "{}", calls.join("\n"));
}

/// The `send-pack` git's HTTP remote helper runs (README "Pushes over HTTP") is a bare
/// exec too, agent marker set or not: git has already run pre-push for the push.
#[test]
fn the_http_helpers_send_pack_is_a_bare_exec_for_agents_too() {
    let sb = Sandbox::new();
    sb.install_shim_support();
    let trace = sb.root.join("trace.txt");
    let args =
        ["send-pack", "--stateless-rpc", "--helper-status", "--no-progress", "http://127.0.0.1:9/r.git", "--stdin"];
    // No refs on stdin: the real send-pack fails; what matters is who ran it.
    let Some(out) = strace_run(&sb, &trace, &args, &[("TELECLAUDE_SESSION_ID", "agent-1")]) else { return };
    assert!(!stderr(&out).contains("GUARDRAIL"), "{}", stderr(&out));
    let calls = syscalls(&trace);
    assert!(calls.iter().all(|c| c.starts_with("execve(")), "the shim started a process:\n{}", calls.join("\n"));
    assert_eq!(calls.len(), 2, "{}", calls.join("\n"));
    let real = format!("{:?}", sb.root.join("only-git/git").display().to_string());
    assert!(calls[1].starts_with(&format!("execve({real}, ")), "{}", calls[1]);
}

/// The pass-through path reads no file: before the shim becomes the real git it opens
/// nothing in the sandbox (no policy, no config) — also for a builtin that runs other
/// commands (`bisect`) without an override, and for an override of `core.hooksPath` on a
/// builtin that cannot push.
#[test]
fn pass_through_opens_no_file_before_the_exec() {
    let sb = Sandbox::new();
    let trace = sb.root.join("open-trace.txt");
    let hooks_off = ["-c", "core.hooksPath=/nowhere", "status", "--short"];
    for args in [&["rev-parse", "--git-dir"][..], &["bisect", "log"], &hooks_off] {
        let Some(_) = strace_with(&sb, &trace, "execve,open,openat,openat2", args, &[]) else { return };
        let text = std::fs::read_to_string(&trace).unwrap();
        let lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
        let shim_pid = lines[0].0;
        let mine: Vec<&str> = lines.iter().filter(|(p, _)| *p == shim_pid).map(|(_, c)| c.trim_start()).collect();
        let exec_real = mine.iter().skip(1).position(|c| c.starts_with("execve(")).expect("the shim exec'd git") + 1;
        let root = sb.root.display().to_string();
        let opened: Vec<&&str> = mine[1..exec_real].iter().filter(|c| c.contains(&root)).collect();
        assert!(opened.is_empty(), "`git {}`: the shim opened files before git:\n{opened:#?}", args.join(" "));
    }
}

/// Run the shim with `args` under strace (processes and execs, to `trace`) with only the
/// shim and the real git on PATH; assert success. None (with a note) where strace is
/// missing or ptrace is not permitted.
fn strace_shim(sb: &Sandbox, trace: &Path, args: &[&str]) -> Option<std::process::Output> {
    let out = strace_run(sb, trace, args, &[])?;
    assert!(out.status.success(), "{}", stderr(&out));
    Some(out)
}

/// [`strace_shim`] with `env` added, whatever the exit code.
fn strace_run(sb: &Sandbox, trace: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<std::process::Output> {
    strace_with(sb, trace, "execve,fork,vfork,clone,clone3", args, env)
}

/// [`strace_run`] tracing the system calls `calls`.
fn strace_with(
    sb: &Sandbox,
    trace: &Path,
    calls: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Option<std::process::Output> {
    let Ok(strace) = which::which("strace") else {
        crate::support::cannot_run("strace is not installed");
        return None;
    };
    let out = sb
        .cmd(&strace, &sb.work)
        .env("PATH", bare_path(sb))
        .args(["-f", "-qq", "-e", &format!("trace={calls}"), "-o"])
        .arg(trace)
        .arg(sb.shims.join("git"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if !out.status.success() && stderr(&out).contains("ptrace") {
        crate::support::cannot_run(&format!("ptrace is not permitted here ({})", stderr(&out).trim()));
        return None;
    }
    Some(out)
}

/// The traced calls, without strace's pid column.
fn syscalls(trace: &Path) -> Vec<String> {
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(|l| {
            l.split_once(' ').map_or(l, |(pid, rest)| if pid.parse::<u32>().is_ok() { rest.trim_start() } else { l })
        })
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .map(str::to_string)
        .collect()
}

/// A push pays at most one extra git process: the shim asks git once for its effective
/// hook configuration, then replaces itself with the real git.
#[test]
fn a_push_pays_at_most_one_extra_git_process() {
    let sb = Sandbox::new();
    sb.install_hook();
    let trace = sb.root.join("push-trace.txt");
    let Some(_) = strace_shim(&sb, &trace, &["push", "-q", "origin", "HEAD:refs/heads/feature"]) else { return };
    assert!(sb.origin_ref("feature").is_some());
    // The shim's own pid: what it started before it became the real git by exec.
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    let shim_pid = lines[0].0;
    let mine: Vec<&str> = lines.iter().filter(|(p, _)| *p == shim_pid).map(|(_, c)| c.trim_start()).collect();
    let exec_real = mine.iter().skip(1).position(|c| c.starts_with("execve(")).expect("the shim exec'd git") + 1;
    let spawned =
        mine[..exec_real].iter().filter(|c| ["clone", "fork", "vfork"].iter().any(|s| c.starts_with(s))).count();
    assert!(spawned <= 1, "the shim started {spawned} processes before git:\n{text}");
}
