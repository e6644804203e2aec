//! The test fixture: a temp dir with a bare `origin.git` and a clone, driven by the real
//! git CLI with a hermetic environment (no user or system config, fixed dates, UTC, C locale).

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod install;
pub(crate) use install::*;

pub(crate) const EPOCH: &str = "2026-01-01T00:00:00Z";

/// The local config of a repository in cutover with both controls set.
pub(crate) const CUTOVER: &str =
    "[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n";

/// Poll `f` every 50 ms until it holds; fail after `secs` seconds naming `what`.
pub(crate) fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub(crate) struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub origin: PathBuf,
    pub work: PathBuf,
    pub home: PathBuf,
    pub path: OsString,
    pub extra_env: Vec<(String, String)>,
}

pub(crate) fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

impl Sandbox {
    /// origin.git (bare) with one commit on `main`, and a clone of it in `work`.
    pub(crate) fn new() -> Sandbox {
        let tmp = tempfile::Builder::new().prefix("tc-it-").tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        let path = std::env::join_paths(["/usr/local/bin", "/usr/bin", "/bin"]).unwrap();
        let sb = Sandbox {
            origin: root.join("origin.git"),
            work: root.join("work"),
            tmp,
            root,
            home,
            path,
            extra_env: Vec::new(),
        };
        sb.git(&sb.root, &["init", "-q", "--bare", "origin.git"]);
        sb.git(&sb.root, &["clone", "-q", "origin.git", "work"]);
        sb.write(&sb.work, "README.md", "hello\n");
        sb.write(&sb.work, "shared.txt", "base\n");
        sb.git(&sb.work, &["add", "."]);
        sb.git(&sb.work, &["commit", "-q", "-m", "initial"]);
        sb.git(&sb.work, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
        sb.git(&sb.work, &["branch", "-q", "--set-upstream-to=origin/main"]);
        sb
    }

    /// Apply the hermetic environment to a command.
    pub(crate) fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("USER", "tester")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn cmd(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut c = Command::new(program);
        self.env(&mut c).current_dir(dir);
        c
    }

    pub(crate) fn git_out(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd("git", dir).args(args).output().expect("run git")
    }

    /// Run git and assert it succeeded; returns trimmed stdout.
    pub(crate) fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_out(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub(crate) fn write(&self, dir: &Path, file: &str, content: &str) {
        let p = dir.join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    /// Commit one file change on the current branch of `dir`; returns the new sha.
    pub(crate) fn commit(&self, dir: &Path, file: &str, content: &str, msg: &str) -> String {
        self.write(dir, file, content);
        self.git(dir, &["add", file]);
        self.git(dir, &["commit", "-q", "-m", msg]);
        self.git(dir, &["rev-parse", "HEAD"])
    }

    /// A branch from origin/main with one commit, pushed to origin. Returns its sha.
    pub(crate) fn branch(&self, name: &str, file: &str, content: &str) -> String {
        self.git(&self.work, &["fetch", "-q", "origin"]);
        self.git(&self.work, &["checkout", "-q", "-B", name, "origin/main"]);
        let sha = self.commit(&self.work, file, content, &format!("{name}: change {file}"));
        self.git(&self.work, &["push", "-q", "origin", &format!("{name}:refs/heads/{name}")]);
        self.git(&self.work, &["checkout", "-q", "main"]);
        sha
    }

    /// Land a commit on origin/main by the old path (a direct push from a scratch clone).
    pub(crate) fn land_on_main(&self, file: &str, content: &str) -> String {
        let scratch = self.root.join(format!("scratch-{}", file.replace('/', "_")));
        if !scratch.exists() {
            self.git(&self.root, &["clone", "-q", "origin.git", scratch.to_str().unwrap()]);
        }
        self.git(&scratch, &["pull", "-q", "--ff-only", "origin", "main"]);
        let sha = self.commit(&scratch, file, content, &format!("main: change {file}"));
        self.git(&scratch, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
        sha
    }

    pub(crate) fn origin_ref(&self, name: &str) -> Option<String> {
        let out = self.git_out(&self.origin, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{name}")]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.work.join(".git/teleclaude")
    }

    pub(crate) fn read_state(&self, file: &str) -> String {
        std::fs::read_to_string(self.state().join(file)).unwrap_or_default()
    }

    pub(crate) fn config(&self, toml: &str) {
        std::fs::create_dir_all(self.state()).unwrap();
        std::fs::write(self.state().join("config.toml"), toml).unwrap();
    }

    /// [`CUTOVER`] with more `[integrator]` keys (TOML lines).
    pub(crate) fn cutover_with(&self, integrator_keys: &str) {
        self.config(&CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\n{integrator_keys}")));
    }

    /// The integrator binary in `work`, hermetic.
    pub(crate) fn integrator(&self) -> assert_cmd::Command {
        self.integrator_in(&self.work)
    }

    pub(crate) fn integrator_in(&self, dir: &Path) -> assert_cmd::Command {
        let mut c = self.cmd(bin("integrator"), dir);
        c.env("TELECLAUDE_SESSION_ID", "");
        assert_cmd::Command::from_std(c)
    }

    /// Run the integrator and return (exit code, stdout, stderr).
    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.integrator().args(args).output().expect("run integrator");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run the integrator, asserting exit 0; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "integrator {args:?} exited {code}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// review.approved + branch.pushed + deployment.started for a candidate.
    pub(crate) fn ready(&self, slug: &str, branch: &str, sha: &str, ready_at: &str) {
        self.ok(&["emit", "review-approved", "--slug", slug, "--round", "1"]);
        self.ok(&["emit", "branch-pushed", "--branch", branch, "--sha", sha]);
        self.ok(&["emit", "deployment-started", "--slug", slug, "--branch", branch, "--sha", sha, "--at", ready_at]);
    }

    pub(crate) fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json is JSON")
    }

    /// Count commits on origin/main's history carrying `Integrated-Sha: <sha>`.
    pub(crate) fn integrated_count(&self, sha: &str) -> usize {
        let log = self.git(&self.origin, &["log", "--format=%(trailers:key=Integrated-Sha,valueonly)", "main"]);
        log.lines().filter(|l| l.trim() == sha).count()
    }

    pub(crate) fn is_ancestor_of_main(&self, sha: &str) -> bool {
        self.git_out(&self.origin, &["merge-base", "--is-ancestor", sha, "main"]).status.success()
    }
}

/// Compare texts and show a readable diff on failure.
pub(crate) fn assert_text_eq(expected: &str, actual: &str) {
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected, actual);
        panic!("text differs (- expected, + actual):\n{}", diff.unified_diff());
    }
}

/// Read a JSONL state file as values.
pub(crate) fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub(crate) mod fleet;
pub(crate) mod guards;
pub(crate) mod http;
pub(crate) mod queue;
pub(crate) mod redis;

/// Copy an executable with `cp`, not `std::fs::copy`: while this (multi-threaded) test
/// process holds the destination open for writing, a `fork` in another test thread
/// inherits that descriptor until its `exec`, and executing the copy then fails with
/// ETXTBSY ("Text file busy"). A child `cp` closes it before we ever run the file.
pub(crate) fn copy_executable(src: &Path, dst: &Path) {
    let status = Command::new("cp").arg("-p").arg(src).arg(dst).status().expect("run cp");
    assert!(status.success(), "cp {} {}", src.display(), dst.display());
}

/// A test that needs the named failpoints (src/failpoint.rs) says so instead of passing
/// without them: they are compiled in only with `--features failpoints`.
pub(crate) fn require_failpoints() {
    #[cfg(not(feature = "failpoints"))]
    panic!("this test kills the run at a named failpoint: run `cargo test --locked --features failpoints`");
}

/// Run the integrator with the failpoint `point` set to kill it: it dies exactly there
/// (src/failpoint.rs), never a moment later as a kill from outside would.
pub(crate) fn kill_9_at_failpoint(sb: &Sandbox, point: &str) {
    require_failpoints();
    let out = sb
        .cmd(bin("integrator"), &sb.work)
        .args(["run", "--quiet"])
        .env("TELECLAUDE_FAILPOINTS", format!("{point}=kill"))
        .output()
        .unwrap();
    let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
    assert_eq!(signal, Some(libc::SIGKILL), "{point}: {}", String::from_utf8_lossy(&out.stderr));
}

/// No process of the sandbox at `root` (one working in a directory under it) runs exactly
/// `pattern`, after a moment for killed ones to be reaped. Processes elsewhere do not
/// count: other test runs on the same machine may run the same command. Where /proc does
/// not tell a process's directory, every process counts.
pub(crate) fn no_process(root: &Path, pattern: &str) -> bool {
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = Command::new("ps").args(["-eo", "pid=,args="]).output().unwrap();
    let ours = |pid: &str| match std::fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => cwd.starts_with(root),
        Err(_) => !Path::new("/proc/self/cwd").exists(),
    };
    !String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim_start().split_once(' '))
        .any(|(pid, args)| args == pattern && ours(pid))
}

/// A part of a test that cannot run on this machine (`what` is missing): a note locally,
/// a failure under `CI=true` — CI must not read a skip as a pass (.ci/run installs it).
pub(crate) fn cannot_run(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "CI=true: {what}, so this test cannot run (.ci/run installs what the tests need)");
    eprintln!("note: {what}; this part of the test was skipped (it fails under CI=true)");
}
