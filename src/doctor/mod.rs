//! `integrator doctor` (SPEC §9): is the installation whole and the state healthy?
//! Every check yields findings; a failed one carries the exact command that fixes it.

mod bridge;
mod fleet;
mod github;
mod hooks;
mod shims;
mod state;

use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::git::Git;
use crate::repo::Repo;
use serde::Serialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One checked fact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub check: String,
    /// False when something is wrong; warnings and notes are ok with a message saying so.
    pub ok: bool,
    pub message: String,
    /// The command (or, where none exists, the one step) that fixes a failed finding.
    pub fix: Option<String>,
}

impl Finding {
    fn pass(check: &str, message: impl Into<String>) -> Finding {
        Finding { check: check.into(), ok: true, message: message.into(), fix: None }
    }
    fn fail(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check: check.into(), ok: false, message: message.into(), fix: Some(fix.into()) }
    }
}

/// The doctor's verdict: `ok` when no finding failed.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    pub ok: bool,
    pub findings: Vec<Finding>,
}

/// What of the caller's environment the checks read (PATH for the shims, HOME for the
/// default install dirs) — passed in so the checks are pure of process state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Env {
    pub path: Option<OsString>,
    pub home: Option<PathBuf>,
}

impl Env {
    pub(crate) fn current() -> Env {
        Env { path: std::env::var_os("PATH"), home: std::env::var_os("HOME").map(PathBuf::from) }
    }
}

/// Where the pieces were installed: read back from the hook block, else install.sh's defaults.
#[derive(Clone, Debug)]
pub(crate) struct Installed {
    pub bin_dir: PathBuf,
    pub shim_dir: PathBuf,
    /// Whether the dirs came from a hook block (then they go on the fix command line).
    pub recorded: bool,
}

impl Installed {
    fn defaults(env: &Env) -> Installed {
        let base = env.home.clone().unwrap_or_default().join(".teleclaude");
        Installed { bin_dir: base.join("bin"), shim_dir: base.join("shims"), recorded: false }
    }
}

/// Run every check with the given environment.
pub(crate) fn doctor_with(repo: &Repo, env: &Env) -> Result<Report> {
    let (mut findings, installed) = hooks::check(repo, env)?;
    let path = env.path.clone().unwrap_or_default();
    findings.extend(shims::check(&path, &installed, repo.git.dir()));
    findings.extend(github::check(repo, &path));
    findings.push(check_config(repo));
    findings.extend(check_protected(repo));
    findings.extend(check_main_history(repo));
    findings.extend(state::check(repo));
    findings.push(check_breach(repo));
    if let Ok(cfg) = repo.config() {
        findings.extend(bridge::check(repo, &cfg));
    }
    findings.extend(fleet::check(repo));
    let ok = findings.iter().all(|f| f.ok);
    Ok(Report { ok, findings })
}

/// `integrator doctor [--json]` in `cwd`: git runs as the real binary (never through a shim,
/// which may be the broken piece); exit 1 when anything is wrong.
pub(crate) fn run_cli(cwd: &Path, json: bool) -> Result<i32> {
    let env = Env::current();
    let git = match crate::shim_marker::real_program("git", env.path.as_deref().unwrap_or_default()) {
        Some(exe) => Git::with_exe(&exe, cwd),
        None => Git::new(cwd)?,
    };
    let report = doctor_with(&Repo::open_with(git)?, &env)?;
    print(&report, json);
    Ok(if report.ok { exit::OK } else { exit::FAILED })
}

/// Print the report: human lines, or one JSON document (`doctor` schema in state-schema/).
pub(crate) fn print(report: &Report, json: bool) {
    if json {
        let text = serde_json::to_string_pretty(report).expect("a report always serializes");
        println!("{text}");
        return;
    }
    print!("{}", render(report));
}

/// The human form: `ok   <check>: <message>` or `FAIL <check>: <message>` + `  fix: <command>`.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let tag = if f.ok { "ok  " } else { "FAIL" };
        out.push_str(&format!("{tag} {}: {}\n", f.check, f.message));
        if let (false, Some(fix)) = (f.ok, &f.fix) {
            out.push_str(&format!("  fix: {fix}\n"));
        }
    }
    let failed = report.findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        out.push_str("doctor: all checks passed\n");
    } else {
        let s = if failed == 1 { "" } else { "s" };
        out.push_str(&format!("doctor: {failed} problem{s} found\n"));
    }
    out
}

/// The breach alarm: an unacknowledged `integration.guardrail.breached`.
fn check_breach(repo: &Repo) -> Finding {
    let cfg = repo.config().unwrap_or_default();
    let cutover = crate::mode::recorded_effective_mode(&repo.state, &cfg) == crate::config::Mode::Cutover;
    match crate::breach::check(&repo.git, &repo.state, &cfg, cutover) {
        Ok(None) => Finding::pass("breach", "no commit reached main around the integrator"),
        Ok(Some(b)) => Finding::fail(
            "breach",
            crate::breach::describe(&b),
            format!("integrator notifications seen {}", crate::breach::ACK_SLUG),
        ),
        Err(e) => Finding::fail("breach", error_text(&e), "integrator doctor".to_string()),
    }
}

fn check_config(repo: &Repo) -> Finding {
    let sources = repo.loc.config_sources();
    match Config::load(&sources) {
        Ok(cfg) => Finding::pass(
            "config",
            format!(
                "valid (requested mode {}, remote {}, main {})",
                cfg.integrator.mode.as_str(),
                cfg.integrator.remote,
                cfg.integrator.main
            ),
        ),
        Err(err) => {
            // Name the file to edit: the first one that is wrong on its own.
            let files = sources.policy.iter().chain(std::iter::once(&sources.local));
            let bad = files
                .into_iter()
                .find(|p| std::fs::read_to_string(p).is_ok_and(|text| Config::default().apply_text(&text).is_err()));
            let fix = match bad {
                Some(file) => format!("${{EDITOR:-vi}} {}", sh_quote(file)),
                None => "unset TELECLAUDE_INTEGRATOR_MODE TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED \
                         TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE"
                    .into(),
            };
            Finding::fail("config", error_text(&err), fix)
        }
    }
}

/// `integrator.main` is protected whether `guard.protected` lists it or not; a list
/// without it reads as if main were open, so say so (only for a valid configuration).
fn check_protected(repo: &Repo) -> Option<Finding> {
    let cfg = Config::load(&repo.loc.config_sources()).ok()?;
    let main = &cfg.integrator.main;
    if cfg.guard.protected.contains(main) {
        return Some(Finding::pass("guard.protected", format!("includes integrator.main ({main})")));
    }
    let local = sh_quote(&repo.loc.config_sources().local);
    Some(Finding::fail(
        "guard.protected",
        format!(
            "guard.protected = {:?} does not list integrator.main ({main}); the guards protect it anyway",
            cfg.guard.protected
        ),
        format!("add \"{main}\" to guard.protected in {local} (or in teleclaude.toml)"),
    ))
}

/// Main moved backwards since the last run left it (an admin reset, a forced push): the
/// candidates integrated above the new tip are no longer on it.
fn check_main_history(repo: &Repo) -> Option<Finding> {
    let cfg = Config::load(&repo.loc.config_sources()).ok()?;
    let cp = crate::store::read_json::<crate::run::Checkpoint>(&repo.state.checkpoint()).ok().flatten()?;
    let seen = cp.main_sha?;
    let remote_main = format!("{}/{}", cfg.integrator.remote, cfg.integrator.main);
    match crate::readiness::rewound_since(&repo.git, &cfg, Some(&seen)) {
        Ok(None) => Some(Finding::pass("main-history", format!("{remote_main} descends from the last run's tip"))),
        Ok(Some(warning)) => Some(Finding::fail(
            "main-history",
            warning,
            format!(
                "if the reset was not intended, push {seen} back to {remote_main}; if it was, `integrator run` records the new tip"
            ),
        )),
        Err(e) => Some(Finding::fail("main-history", error_text(&e), "git fsck")),
    }
}

/// An error's sentence without the program prefix, hint appended.
pub(crate) fn error_text(err: &Error) -> String {
    match err {
        Error::Usage { message, hint } | Error::Failed { message, hint } => match hint {
            Some(h) => format!("{message} ({h})"),
            None => message.clone(),
        },
        other => other.sentence(),
    }
}

/// The install.sh that built this binary, when it is still there; else the bare name.
fn install_script() -> String {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    if built_from.is_file() {
        sh_quote(&built_from)
    } else {
        "./install.sh".into()
    }
}

/// The install.sh command line that (re)installs into `repo_root`.
fn install_command(repo_root: &Path, installed: &Installed) -> String {
    let mut cmd = format!("{} {}", install_script(), sh_quote(repo_root));
    if installed.recorded {
        cmd.push_str(&format!(
            " --bin-dir {} --shim-dir {}",
            sh_quote(&installed.bin_dir),
            sh_quote(&installed.shim_dir)
        ));
    }
    cmd
}

/// Quote a path for a POSIX shell only when it needs it.
fn sh_quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_only_when_needed() {
        assert_eq!(sh_quote(Path::new("/a/b-c.d")), "/a/b-c.d");
        assert_eq!(sh_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn human_lines() {
        let report = Report {
            ok: false,
            findings: vec![Finding::pass("config", "valid"), Finding::fail("hook", "missing", "./install.sh /r")],
        };
        assert_eq!(
            render(&report),
            "ok   config: valid\nFAIL hook: missing\n  fix: ./install.sh /r\ndoctor: 1 problem found\n"
        );
    }
}
