//! Installing into a sandbox with install.sh, from a staging dir of already-built binaries.

use super::Sandbox;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// install.sh of this checkout.
pub(crate) const INSTALL_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");

/// Write an executable file, swapped into place by a rename. The bytes are written by `cp`,
/// not by this process: a test thread that forks while this process holds the file open for
/// writing hands that descriptor to its child until the child execs, and running the file
/// meanwhile fails with ETXTBSY ("Text file busy").
pub(crate) fn write_exec(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let (src, new) = (dir.join(format!(".{name}.src")), dir.join(format!(".{name}.new")));
    fs::write(&src, text).unwrap();
    let status = std::process::Command::new("cp").arg(&src).arg(&new).status().expect("run cp");
    assert!(status.success(), "cp {} {}", src.display(), new.display());
    fs::set_permissions(&new, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&new, path).unwrap();
    fs::remove_file(&src).unwrap();
}

/// Render an [`Output`] for assertion messages.
pub(crate) fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Sandbox {
    /// The real git on the sandbox PATH.
    pub(crate) fn real_git(&self) -> PathBuf {
        which::which_in("git", Some(&self.path), &self.root).expect("git on the sandbox PATH")
    }

    /// Where the tests install the integrator and pre-push.
    pub(crate) fn bin_dir(&self) -> PathBuf {
        self.root.join("tc-bin")
    }

    /// Where the tests install the git and gh shims.
    pub(crate) fn shim_dir(&self) -> PathBuf {
        self.root.join("tc-shims")
    }

    /// The directory install.sh installs from (`TELECLAUDE_INSTALL_FROM`): the four
    /// binaries this test run built, so install.sh builds nothing.
    pub(crate) fn stage(&self) -> PathBuf {
        let stage = self.root.join("stage");
        if !stage.exists() {
            fs::create_dir_all(&stage).unwrap();
            for name in ["integrator", "pre-push", "git", "gh"] {
                std::os::unix::fs::symlink(super::bin(name), stage.join(name)).unwrap();
            }
        }
        stage
    }

    /// `install.sh ARGS --bin-dir <bin_dir> --shim-dir <shim_dir>` run from `dir`.
    pub(crate) fn install_sh(&self, dir: &Path, args: &[&str]) -> Output {
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
    pub(crate) fn install(&self) -> Output {
        let out = self.install_sh(&self.work, &[]);
        assert!(out.status.success(), "install.sh failed:\n{}", show(&out));
        out
    }

    /// The hooks dir git uses for the clone.
    pub(crate) fn hooks_dir(&self) -> PathBuf {
        PathBuf::from(self.git(&self.work, &["rev-parse", "--path-format=absolute", "--git-path", "hooks"]))
    }
}
