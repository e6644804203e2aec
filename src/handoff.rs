//! Event-driven handoff (SPEC §8.5): with `trigger = "event"`, an event that makes a
//! candidate READY starts `integrator run --quiet --wait 60` detached, output appended to
//! `<state>/run.log`, and returns at once. Cron stays the safety net.

use crate::config::{Config, Trigger};
use crate::error::Result;
use crate::queue::{Queue, Status};
use crate::readiness::{self, State};
use crate::repo::{Location, Repo};
use crate::store::StateDir;
use std::path::{Path, PathBuf};

/// Is there a READY candidate the integrator has not taken yet?
pub(crate) fn has_work(repo: &Repo, cfg: &Config) -> Result<bool> {
    let proj = crate::projection::Projection::load(&repo.state)?;
    let q = Queue::load(&repo.state)?;
    Ok(readiness::evaluate_now(&repo.git, cfg, &proj, &repo.state)?
        .iter()
        .any(|v| v.state == State::Ready && q.find(v).is_none_or(|i| q.items[i].status == Status::Queued)))
}

/// Start a detached run when the trigger is `event` and there is work. Returns whether
/// one was started.
pub(crate) fn maybe_trigger(repo: &Repo, cfg: &Config, integrator: &Path) -> Result<bool> {
    if cfg.integrator.trigger != Trigger::Event || !has_work(repo, cfg)? {
        return Ok(false);
    }
    spawn_run(&repo.state, repo.git.dir(), integrator, &[])?;
    Ok(true)
}

/// After the `pre-push` hook recorded `pushed` (branch, sha) pairs: with `trigger = "event"`,
/// when one of them completes an approved candidate, start a run that first waits for the
/// push (process `push_pid`, the hook's parent) to finish — the remote must have the sha
/// before readiness can see it. Reads no git: the projection is native.
pub(crate) fn after_push(
    loc: &Location,
    cwd: &Path,
    cfg: &Config,
    pushed: &[(String, String)],
    integrator: &Path,
    push_pid: u32,
) -> Result<bool> {
    if cfg.integrator.trigger != Trigger::Event || pushed.is_empty() {
        return Ok(false);
    }
    let state = loc.state();
    let proj = crate::projection::Projection::load(&state)?;
    let completes = proj
        .started
        .iter()
        .any(|s| proj.approvals.contains_key(&s.slug) && pushed.iter().any(|(b, sha)| *b == s.branch && *sha == s.sha));
    if !completes {
        return Ok(false);
    }
    let home = loc.main_worktree().filter(|p| p.is_dir()).unwrap_or_else(|| cwd.to_path_buf());
    spawn_run(&state, &home, integrator, &["--after-pid".into(), push_pid.to_string()])?;
    Ok(true)
}

/// Wait (up to `limit`) for process `pid` to exit: how a hook-started run lets the push finish.
pub(crate) fn wait_for_exit(pid: u32, limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    // SAFETY: kill with signal 0 only checks that the process exists.
    while unsafe { libc::kill(pid as libc::pid_t, 0) } == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The `integrator` binary to start: this one, or the one beside the running hook.
pub(crate) fn integrator_beside(exe: &Path) -> PathBuf {
    if exe.file_name().is_some_and(|n| n == "integrator") {
        return exe.to_path_buf();
    }
    exe.with_file_name("integrator")
}

fn spawn_run(state: &StateDir, cwd: &Path, integrator: &Path, extra: &[String]) -> Result<()> {
    state.ensure()?;
    let mut args = vec!["run", "--quiet", "--wait", "60"];
    args.extend(extra.iter().map(String::as_str));
    crate::shell::start_detached(integrator, &args, cwd, &state.run_log(), crate::shell::Clean::Detached)
}
