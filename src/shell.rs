//! The one place, beside the git gateway (`crate::git`), that starts processes: shell
//! commands run on the integrator's behalf, detached runs, and what they must not
//! inherit from it.

use crate::error::{Error, Result};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Variables that point git at another repository than the directory a command runs in.
pub const GIT_REPO_ENV: [&str; 3] = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"];
/// The subdirectory git hands to a shell alias; meaningless in another directory.
pub const GIT_PREFIX_ENV: &str = "GIT_PREFIX";
/// The lease token that lets the integrator's own pushes through the guards.
pub const TOKEN_ENV: &str = "TELECLAUDE_INTEGRATOR_TOKEN";

/// What a started command must not inherit from the integrator's environment. Each kind
/// of start keeps exactly what it always kept.
#[derive(Clone, Copy, Debug)]
pub enum Clean<'a> {
    /// `verify` and `bookkeeping`: no variable pointing git elsewhere, no lease token, and
    /// not the agent marker `agent_env` (the integrator's checks are not an agent's work).
    Check { agent_env: &'a str },
    /// `after_push`: no lease token.
    AfterPush,
    /// A detached `integrator run`: no variable pointing git elsewhere. It keeps the agent
    /// marker, which names the session in the lease owner.
    Detached,
}

impl<'a> Clean<'a> {
    /// The variables removed.
    pub fn names(self) -> Vec<&'a str> {
        match self {
            Clean::Check { agent_env } => GIT_REPO_ENV.iter().copied().chain([TOKEN_ENV, agent_env]).collect(),
            Clean::AfterPush => vec![TOKEN_ENV],
            Clean::Detached => GIT_REPO_ENV.iter().copied().chain([GIT_PREFIX_ENV]).collect(),
        }
    }
}

/// What a shell command printed (stdout and stderr merged, in order) and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub output: String,
}

/// Run `sh -c command` in `dir` with stdin closed, the environment cleaned as `clean`
/// says, then `set` added. Waits for the command and everything holding its output open.
pub fn sh(command: &str, dir: &Path, clean: Clean, set: &[(&str, &str)]) -> std::io::Result<Ran> {
    let mut cmd = duct::cmd("sh", ["-c", command]).dir(dir);
    for (k, v) in set {
        cmd = cmd.env(k, v);
    }
    for k in clean.names() {
        cmd = cmd.env_remove(k);
    }
    let out = cmd.stdin_null().stderr_to_stdout().stdout_capture().unchecked().run()?;
    Ok(Ran { status: out.status, output: String::from_utf8_lossy(&out.stdout).into_owned() })
}

/// Start `program args` in `dir` in a session of its own, so that it outlives this process
/// and its terminal: stdin closed, stdout and stderr appended to `log`, the environment
/// cleaned as `clean` says. Does not wait for it.
pub fn start_detached(program: &Path, args: &[&str], dir: &Path, log: &Path, clean: Clean) -> Result<()> {
    let name = log.file_name().unwrap_or(log.as_os_str()).to_string_lossy();
    let cannot_open = |e| Error::io(format_args!("cannot open {name}"), e);
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(cannot_open)?;
    let err = out.try_clone().map_err(cannot_open)?;
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(out).stderr(err);
    for k in clean.names() {
        cmd.env_remove(k);
    }
    // SAFETY: setsid is async-signal-safe; it detaches the child from our session so it
    // outlives the starting process and its terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| Error::io(format_args!("cannot start {}", program.display()), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_start_drops_what_it_always_dropped() {
        let check = Clean::Check { agent_env: "AGENT" }.names();
        assert_eq!(check, ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", TOKEN_ENV, "AGENT"]);
        assert_eq!(Clean::AfterPush.names(), [TOKEN_ENV]);
        assert_eq!(Clean::Detached.names(), ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX"]);
    }

    #[test]
    fn sh_merges_output_and_reports_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        let ran = sh("pwd; echo out; echo err >&2; exit 3", dir.path(), Clean::AfterPush, &[]).unwrap();
        assert_eq!(ran.status.code(), Some(3));
        let here = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(ran.output, format!("{}\nout\nerr\n", here.display()));
    }

    #[test]
    fn sh_sets_and_removes_variables() {
        let dir = tempfile::tempdir().unwrap();
        // cargo sets it for every test process: a variable we inherit, to be cleaned.
        let inherited = "CARGO_MANIFEST_DIR";
        assert!(std::env::var_os(inherited).is_some());
        let clean = Clean::Check { agent_env: inherited };
        let ran = sh("echo \"$SLUG/${CARGO_MANIFEST_DIR-unset}\"", dir.path(), clean, &[("SLUG", "s")]).unwrap();
        assert_eq!(ran.output, "s/unset\n");
    }

    #[test]
    fn a_detached_start_appends_to_its_log_in_a_new_session() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.log");
        std::fs::write(&log, "before\n").unwrap();
        let done = dir.path().join("done");
        // The child's session id is its own pid when setsid ran.
        let script = format!("cut -d' ' -f6 /proc/$$/stat; echo $$; echo err >&2; touch {}", done.display());
        start_detached(Path::new("/bin/sh"), &["-c", &script], dir.path(), &log, Clean::Detached).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!((lines[0], lines[3]), ("before", "err"));
        assert_eq!(lines[1], lines[2], "the child leads its own session: {text}");
    }

    #[test]
    fn a_detached_start_names_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/run.log");
        let err = start_detached(Path::new("/bin/true"), &[], dir.path(), &missing, Clean::Detached).unwrap_err();
        assert!(err.render("t").contains("cannot open run.log"), "{}", err.render("t"));
        let log = dir.path().join("run.log");
        let err = start_detached(&dir.path().join("nothing"), &[], dir.path(), &log, Clean::Detached).unwrap_err();
        assert!(err.render("t").contains("cannot start "), "{}", err.render("t"));
    }
}
