//! A hermetic sandbox of real git repositories: a temp dir with a bare `origin.git` and a
//! clone (`work`) whose `main` has one commit, pushed. Every command runs with a cleared
//! environment (temp HOME, no system config, fixed dates) so shas are stable.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Sandbox {
    pub root: tempfile::TempDir,
    pub origin: PathBuf,
    pub work: PathBuf,
    /// Holds symlinks to the built `git` and `gh` shims; first on PATH.
    pub shims: PathBuf,
    /// The real git (resolved once, outside the sandbox).
    pub real_git: PathBuf,
    path: String,
}

/// A built binary of this package.
pub fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// Assert success and return stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        let r = root.path().canonicalize().unwrap();
        let shims = r.join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        std::fs::create_dir_all(r.join("home")).unwrap();
        std::fs::write(
            r.join("home/gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        let system_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let real_git = which::which("git").expect("git on PATH");
        let mut sb = Sandbox {
            origin: r.join("origin.git"),
            work: r.join("work"),
            path: format!("{}:{system_path}", shims.display()),
            shims,
            real_git,
            root,
        };
        sb.git(&r, &["init", "-q", "--bare", "origin.git"]);
        sb.git(&r, &["clone", "-q", "origin.git", "work"]);
        sb.commit(&sb.work.clone(), "README", "hello\n", "initial");
        sb.git(&sb.work.clone(), &["push", "-q", "origin", "main"]);
        sb.link_shim("git");
        sb.link_shim("gh");
        sb.path = sb.path.clone();
        sb
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().canonicalize().unwrap()
    }

    pub fn link_shim(&self, name: &str) {
        let _ = std::fs::remove_file(self.shims.join(name));
        std::os::unix::fs::symlink(bin(name), self.shims.join(name)).unwrap();
    }

    /// The sandbox's PATH: the shims first, then the system's.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A command with the hermetic environment, run in `dir`.
    pub fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let d = self.dir();
        let mut c = Command::new(program);
        c.current_dir(dir)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", d.join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", d.join("home/gitconfig"))
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("USER", "tester")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .stdin(Stdio::null());
        c
    }

    /// The real git, for setting the scene (never through the shim).
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        ok(self.command(&self.real_git, dir).args(args).output().unwrap())
    }

    /// git through the shim, as an agent or a user would run it.
    pub fn shim_git(&self, dir: &Path) -> Command {
        self.command(self.shims.join("git"), dir)
    }

    pub fn commit(&self, dir: &Path, file: &str, content: &str, msg: &str) -> String {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", file]);
        self.git(dir, &["commit", "-q", "-m", msg]);
        self.rev(dir, "HEAD")
    }

    pub fn rev(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["rev-parse", rev]).trim().to_string()
    }

    /// The sha of `refs/heads/<branch>` on origin, if it exists.
    pub fn origin_ref(&self, branch: &str) -> Option<String> {
        let out = self
            .command(&self.real_git, &self.dir())
            .args(["--git-dir", "origin.git", "rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A linked worktree of `work` at `<root>/<name>` on a new branch `branch`.
    pub fn worktree(&self, name: &str, branch: &str) -> PathBuf {
        let path = self.dir().join(name);
        self.git(&self.work, &["worktree", "add", "-q", "-b", branch, path.to_str().unwrap()]);
        path
    }

    /// `<common-dir>/teleclaude`.
    pub fn state(&self) -> PathBuf {
        self.work.join(".git/teleclaude")
    }

    /// Install the hook as install.sh does: a small sh file that execs the built binary.
    pub fn install_hook(&self) {
        let hooks = self.work.join(".git/hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        write_exec(&hooks.join("pre-push"), &format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin("pre-push").display()));
    }

    pub fn read_state(&self, file: &str) -> String {
        std::fs::read_to_string(self.state().join(file)).unwrap_or_default()
    }
}

/// Write an executable file.
pub fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
