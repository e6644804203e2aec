//! The git shim's pass-through path spawns no subprocess: it finds the real git and
//! `exec`s it, nothing else (SPEC §12, ENGINEERING "The shims must never break git").

use crate::support::guards::{stderr, GuardSandbox as Sandbox};
use std::path::Path;

/// A PATH holding only the shim and, after it, the real git: any other program the shim
/// tried to start would not be found.
fn bare_path(sb: &Sandbox) -> String {
    let only = sb.root.join("only-git");
    std::fs::create_dir_all(&only).unwrap();
    std::os::unix::fs::symlink(&sb.real_git, only.join("git")).unwrap();
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
    let Ok(strace) = which::which("strace") else {
        return crate::support::cannot_run("strace is not installed");
    };
    let sb = Sandbox::new();
    let path = bare_path(&sb);
    let trace = sb.root.join("trace.txt");
    let out = sb
        .cmd(&strace, &sb.work)
        .env("PATH", &path)
        .args(["-f", "-qq", "-e", "trace=execve,fork,vfork,clone,clone3", "-o"])
        .arg(&trace)
        .arg(sb.shims.join("git"))
        .args(["rev-parse", "--git-dir"])
        .output()
        .unwrap();
    if !out.status.success() && stderr(&out).contains("ptrace") {
        return crate::support::cannot_run(&format!("ptrace is not permitted here ({})", stderr(&out).trim()));
    }
    assert!(out.status.success(), "{}", stderr(&out));
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
