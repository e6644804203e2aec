//! The one place, beside the git gateway (`crate::git`), that starts processes: shell
//! commands run on the integrator's behalf, and what they must not inherit from it.

use std::path::Path;
use std::process::ExitStatus;

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
}

impl<'a> Clean<'a> {
    /// The variables removed.
    pub fn names(self) -> Vec<&'a str> {
        match self {
            Clean::Check { agent_env } => GIT_REPO_ENV.iter().copied().chain([TOKEN_ENV, agent_env]).collect(),
            Clean::AfterPush => vec![TOKEN_ENV],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_start_drops_what_it_always_dropped() {
        let check = Clean::Check { agent_env: "AGENT" }.names();
        assert_eq!(check, ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", TOKEN_ENV, "AGENT"]);
        assert_eq!(Clean::AfterPush.names(), [TOKEN_ENV]);
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
}
