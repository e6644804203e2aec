//! The guards' view of the sandbox: the built `git`/`gh` shims first on PATH, the hook
//! installed as install.sh installs it, linked worktrees.

use super::{bin, Sandbox};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) struct GuardSandbox {
    pub sb: Sandbox,
    /// Holds symlinks to the built `git` and `gh` shims; first on PATH.
    pub shims: PathBuf,
    /// The real git the sandbox's PATH resolves (never the shim).
    pub real_git: PathBuf,
    path: String,
}

impl std::ops::Deref for GuardSandbox {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sb
    }
}

/// Assert success and return stdout.
pub(crate) fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) use super::write_exec;

impl GuardSandbox {
    pub(crate) fn new() -> GuardSandbox {
        let sb = Sandbox::new();
        let shims = sb.root.join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        for name in ["git", "gh"] {
            std::os::unix::fs::symlink(bin(name), shims.join(name)).unwrap();
        }
        let system = sb.path.to_string_lossy().into_owned();
        let real_git = which::which_in("git", Some(&system), &sb.root).expect("git on PATH");
        GuardSandbox { path: format!("{}:{system}", shims.display()), shims, real_git, sb }
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.root.clone()
    }

    /// The sandbox's PATH: the shims first, then the system's.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// A command with the hermetic environment and the shims first on PATH, stdin closed.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut c = self.cmd(program, dir);
        c.env("PATH", &self.path).stdin(Stdio::null());
        c
    }

    /// git through the shim, as an agent or a user would run it.
    pub(crate) fn shim_git(&self, dir: &Path) -> Command {
        self.command(self.shims.join("git"), dir)
    }

    pub(crate) fn rev(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["rev-parse", rev])
    }

    /// A linked worktree of `work` at `<root>/<name>` on a new branch `branch`.
    pub(crate) fn worktree(&self, name: &str, branch: &str) -> PathBuf {
        let path = self.root.join(name);
        self.git(&self.work, &["worktree", "add", "-q", "-b", branch, path.to_str().unwrap()]);
        path
    }

    /// Install the hook as install.sh does: a small sh file that execs the built binary.
    pub(crate) fn install_hook(&self) {
        let hooks = self.work.join(".git/hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        let (begin, end) = (teleclaude_integrator::parse::HOOK_BEGIN, teleclaude_integrator::parse::HOOK_END);
        let hook = format!("#!/bin/sh\n{begin}\nhook='{}'\nexec \"$hook\" \"$@\"\n{end}\n", bin("pre-push").display());
        write_exec(&hooks.join("pre-push"), &hook);
    }

    /// What install.sh builds beside the shims (`integrator shims`), run in `work`: the
    /// shadow exec-path, the hooks dir, `work`'s origin as a guarded remote. Returns stdout.
    pub(crate) fn install_shim_support(&self) -> String {
        let out = self.command(bin("integrator"), &self.work).args(["shims", "--shim-dir"]).arg(&self.shims).output();
        ok(out.unwrap())
    }

    /// The shadow exec-path beside the shims.
    pub(crate) fn shadow(&self) -> PathBuf {
        self.shims.join("git-exec-path")
    }
}
