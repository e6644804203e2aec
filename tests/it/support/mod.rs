//! The test sandbox: a temp dir with a bare `origin.git` and a clone on `main`, driven by
//! the real git CLI under a hermetic environment (nothing from the test process leaks in).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub origin: PathBuf,
    pub clone: PathBuf,
}

/// The real git binary and the system dirs every command may use.
pub fn real_git() -> PathBuf {
    which::which("git").expect("git on the test machine's PATH")
}

pub fn system_path() -> OsString {
    let git_dir = real_git().parent().unwrap().to_path_buf();
    let mut dirs = vec![git_dir];
    for d in ["/usr/local/bin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).unwrap()
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let home = root.join("home");
        fs::create_dir_all(&home).unwrap();
        fs::write(
            root.join("gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        let sb = Sandbox { _tmp: tmp, origin: root.join("origin.git"), clone: root.join("clone"), home, root };
        sb.git(&sb.root, &["init", "-q", "--bare", "origin.git"]);
        sb.git(&sb.root, &["clone", "-q", "origin.git", "clone"]);
        fs::write(sb.clone.join("README"), "hello\n").unwrap();
        sb.git(&sb.clone, &["add", "README"]);
        sb.git(&sb.clone, &["commit", "-q", "-m", "initial"]);
        sb.git(&sb.clone, &["push", "-q", "origin", "main"]);
        sb
    }

    /// `program` in `dir` with the hermetic environment and PATH = the system dirs.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(dir)
            .env_clear()
            .env("PATH", system_path())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.root.join("gitconfig"))
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .env("LC_ALL", "C")
            .env("TZ", "UTC");
        c
    }

    pub fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(real_git(), dir).args(args).output().unwrap()
    }

    /// Run git and return its stdout; panics with git's stderr when it fails.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output(dir, args);
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The sha a ref points at in the bare origin, if it exists.
    pub fn origin_ref(&self, name: &str) -> Option<String> {
        let out = self.git_output(&self.origin, &["rev-parse", "--verify", "-q", name]);
        out.status.success().then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }
}

/// Write an executable file.
pub fn write_exec(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Render an [`Output`] for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// install.sh of this checkout.
pub const INSTALL_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");

impl Sandbox {
    /// Where the tests install the integrator and pre-push.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("tc-bin")
    }
    /// Where the tests install the git and gh shims.
    pub fn shim_dir(&self) -> PathBuf {
        self.root.join("tc-shims")
    }

    /// The directory install.sh installs from (`TELECLAUDE_INSTALL_FROM`): the debug
    /// `integrator` and `pre-push`, and stand-in `git`/`gh` shims that carry the shim
    /// marker and exec the real git (the doctor checks what is on PATH, not what a shim does).
    pub fn stage(&self) -> PathBuf {
        let stage = self.root.join("stage");
        if !stage.exists() {
            fs::create_dir_all(&stage).unwrap();
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_integrator"), stage.join("integrator")).unwrap();
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pre-push"), stage.join("pre-push")).unwrap();
            let marker = teleclaude_integrator::shim_marker::SHIM_MARKER;
            write_exec(&stage.join("git"), &format!("#!/bin/sh\n# {marker}\nexec {} \"$@\"\n", real_git().display()));
            write_exec(&stage.join("gh"), &format!("#!/bin/sh\n# {marker}\nexit 0\n"));
        }
        stage
    }

    /// `install.sh ARGS --bin-dir <bin_dir> --shim-dir <shim_dir>` run from `dir`.
    pub fn install_sh(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = self.cmd("bash", dir);
        c.arg(INSTALL_SH)
            .args(args)
            .arg("--bin-dir")
            .arg(self.bin_dir())
            .arg("--shim-dir")
            .arg(self.shim_dir())
            .env("TELECLAUDE_INSTALL_FROM", self.stage());
        c.output().unwrap()
    }

    /// Install into the clone and insist it worked.
    pub fn install(&self) -> Output {
        let out = self.install_sh(&self.clone, &[]);
        assert!(out.status.success(), "install.sh failed:\n{}", show(&out));
        out
    }

    /// The hooks dir git uses for the clone.
    pub fn hooks_dir(&self) -> PathBuf {
        PathBuf::from(self.git(&self.clone, &["rev-parse", "--path-format=absolute", "--git-path", "hooks"]).trim())
    }
}
