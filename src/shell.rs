//! The one place, beside the git gateway (`crate::git`), that starts processes: shell
//! commands run on the integrator's behalf and what they must not inherit from it,
//! detached runs, the shims' lookups and `exec`, and the hook chained by `pre-push`.

use crate::error::{Error, Result};
use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Variables that point git at another repository than the directory a command runs in.
pub(crate) const GIT_REPO_ENV: [&str; 3] = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"];
/// The subdirectory git hands to a shell alias; meaningless in another directory.
pub(crate) const GIT_PREFIX_ENV: &str = "GIT_PREFIX";
/// The lease token that lets the integrator's own pushes through the guards.
pub(crate) const TOKEN_ENV: &str = "TELECLAUDE_INTEGRATOR_TOKEN";

/// What a started command must not inherit from the integrator's environment. Each kind
/// of start keeps exactly what it always kept.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clean<'a> {
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
    pub(crate) fn names(self) -> Vec<&'a str> {
        match self {
            Clean::Check { agent_env } => GIT_REPO_ENV.iter().copied().chain([TOKEN_ENV, agent_env]).collect(),
            Clean::AfterPush => vec![TOKEN_ENV],
            Clean::Detached => GIT_REPO_ENV.iter().copied().chain([GIT_PREFIX_ENV]).collect(),
        }
    }
}

/// How a shell command run for the integrator (`verify`, `bookkeeping`, `after_push`) ended.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The exit code (128 + signal when killed by one); None when it timed out.
    pub code: Option<i32>,
    pub output: String,
}

/// Run `sh -c command` in `dir`: in a process group of its own, stdin closed, stdout and
/// stderr merged into an unnamed file (never a pipe: a background child left holding a
/// pipe would keep us reading until it exits), the environment cleaned as `clean` says,
/// then `set` added. It ends when its shell ends — or when `timeout` passes — and then its
/// whole process group is killed, so nothing it started outlives it.
pub(crate) fn check(
    command: &str,
    dir: &Path,
    clean: Clean,
    set: &[(&str, &str)],
    timeout: Option<Duration>,
) -> std::io::Result<Checked> {
    use std::io::{Read, Seek};
    let mut file = tempfile::tempfile()?;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command]).current_dir(dir).stdin(Stdio::null());
    cmd.stdout(file.try_clone()?).stderr(file.try_clone()?).process_group(0);
    for k in clean.names() {
        cmd.env_remove(k);
    }
    cmd.envs(set.iter().copied());
    let mut child = cmd.spawn()?;
    let group = child.id() as libc::pid_t;
    let status = wait_until(&mut child, timeout.map(|t| Instant::now() + t));
    // SAFETY: kill(2) with a negative pid signals the process group we created above.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let status = match status? {
        Some(s) => Some(s),
        None => {
            let _ = child.wait();
            None
        }
    };
    let mut bytes = Vec::new();
    file.rewind()?;
    file.read_to_end(&mut bytes)?;
    let code = status.map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
    Ok(Checked { code, output: String::from_utf8_lossy(&bytes).into_owned() })
}

/// Wait for `child`, until `deadline` if one is given: None when it passed first.
fn wait_until(child: &mut std::process::Child, deadline: Option<Instant>) -> std::io::Result<Option<ExitStatus>> {
    let Some(deadline) = deadline else { return child.wait().map(Some) };
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start `program args` in `dir` in a session of its own, so that it outlives this process
/// and its terminal: stdin closed, stdout and stderr appended to `log`, the environment
/// cleaned as `clean` says. Does not wait for it.
pub(crate) fn start_detached(program: &Path, args: &[&str], dir: &Path, log: &Path, clean: Clean) -> Result<()> {
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

/// Run `program args` for what it prints: the caller's environment plus `set`, stdin
/// closed, stderr discarded. Returns whether it succeeded, and its stdout.
pub(crate) fn output_of<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    set: (&str, &str),
) -> std::io::Result<(bool, String)> {
    let out = Command::new(program).args(args).env(set.0, set.1).stdin(Stdio::null()).stderr(Stdio::null()).output()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Run `program args` with the caller's environment, stdout and stderr, feeding `input`
/// on its stdin, and wait for it.
pub(crate) fn feed(program: &Path, args: &[OsString], input: &[u8]) -> std::io::Result<ExitStatus> {
    let mut child = Command::new(program).args(args).stdin(Stdio::piped()).spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        // A program that does not read its stdin closes the pipe early: not an error.
        let _ = pipe.write_all(input);
    }
    child.wait()
}

/// Replace this process with `program`: `argv` as given (argv[0] included), environment,
/// stdio, tty; SIGPIPE back to its default, as an ignored signal would be inherited.
/// Returns only on failure, with the reason.
///
/// `execv` directly rather than `Command::exec`: on the shims' pass-through path every
/// microsecond counts, and `Command` copies the whole environment into a map first.
pub(crate) fn exec(program: &Path, argv: &[OsString]) -> std::io::Error {
    use std::os::unix::ffi::OsStrExt;
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let Ok(exe) = CString::new(program.as_os_str().as_bytes()) else {
        return invalid("the path contains a NUL byte");
    };
    let Ok(args) = argv.iter().map(|a| CString::new(a.as_bytes())).collect::<std::result::Result<Vec<_>, _>>() else {
        return invalid("an argument contains a NUL byte");
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `exe` and every pointer in `ptrs` are NUL-terminated strings that outlive
    // the call, and `ptrs` ends with a null pointer, as execv requires.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::execv(exe.as_ptr(), ptrs.as_ptr());
    }
    std::io::Error::last_os_error()
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
    fn a_check_merges_output_and_reports_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        let ran = check("pwd; echo out; echo err >&2; exit 3", dir.path(), Clean::AfterPush, &[], None).unwrap();
        assert_eq!(ran.code, Some(3));
        let here = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(ran.output, format!("{}\nout\nerr\n", here.display()));
    }

    #[test]
    fn a_check_sets_and_removes_variables() {
        let dir = tempfile::tempdir().unwrap();
        // cargo sets it for every test process: a variable we inherit, to be cleaned.
        let inherited = "CARGO_MANIFEST_DIR";
        assert!(std::env::var_os(inherited).is_some());
        let clean = Clean::Check { agent_env: inherited };
        let ran = check("echo \"$SLUG/${CARGO_MANIFEST_DIR-unset}\"", dir.path(), clean, &[("SLUG", "s")], None);
        assert_eq!(ran.unwrap().output, "s/unset\n");
    }

    #[test]
    fn a_check_ends_with_its_shell_and_takes_its_children_along() {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let clean = Clean::Check { agent_env: "AGENT" };
        let ran = check("sleep 100003 & echo started; exit 4", dir.path(), clean, &[], None).unwrap();
        assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
        assert_eq!((ran.code, ran.output.as_str()), (Some(4), "started\n"));
        let ran =
            check("echo before; sleep 100004; echo after", dir.path(), clean, &[], Some(Duration::from_millis(300)));
        assert_eq!((ran.as_ref().unwrap().code, ran.unwrap().output.as_str()), (None, "before\n"));
        // The group is gone: neither sleep is left (given a moment to be reaped).
        std::thread::sleep(Duration::from_millis(300));
        let ps = std::process::Command::new("sh").args(["-c", "ps -eo args | grep -c -e '^sleep 10000[34]$'"]).output();
        assert_eq!(String::from_utf8_lossy(&ps.unwrap().stdout).trim(), "0");
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

    #[test]
    fn output_of_keeps_stdout_only_and_adds_the_variable() {
        let args = ["-c", "echo \"$DEPTH\"; echo noise >&2; exit 1"];
        let (success, stdout) = output_of(Path::new("/bin/sh"), &args, ("DEPTH", "2")).unwrap();
        assert_eq!((success, stdout.as_str()), (false, "2\n"));
    }

    #[test]
    fn feed_gives_the_input_on_stdin_even_to_a_program_that_ignores_it() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy");
        let args: Vec<OsString> = vec!["-c".into(), format!("cat > {}", copy.display()).into()];
        assert!(feed(Path::new("/bin/sh"), &args, b"a b\n").unwrap().success());
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "a b\n");
        let big = vec![b'x'; 1 << 20];
        let status = feed(Path::new("/bin/sh"), &["-c".into(), "exit 4".into()], &big).unwrap();
        assert_eq!(status.code(), Some(4));
    }

    #[test]
    fn exec_returns_why_it_could_not_replace_the_process() {
        // Only the checks before execv: a failed execv has already reset SIGPIPE, which
        // would be the whole test process's.
        let argv: Vec<OsString> = vec!["x".into()];
        assert_eq!(exec(Path::new("/bin/\0sh"), &argv).to_string(), "the path contains a NUL byte");
        let nul: Vec<OsString> = vec!["a\0b".into()];
        assert_eq!(exec(Path::new("/bin/sh"), &nul).to_string(), "an argument contains a NUL byte");
    }
}
