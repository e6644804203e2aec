//! The guards (SPEC §12): policy shared by the `pre-push` hook and the `git` / `gh` shims.
//! Who may move a protected branch, how a refusal reads, and where it is recorded.
//!
//! The pure classifiers (`prepush`, `git_argv`, `gh_argv`) decide nothing about
//! authorisation; the runners (`prepush::run`, `git_shim::run`, `gh_shim::run`) read the
//! repository, configuration and lease only when a classifier says something is at stake.

mod alias_chain;
pub(crate) mod destination;
mod effective;
pub(crate) mod exec_path;
mod gh_alias;
pub(crate) mod gh_argv;
pub(crate) mod gh_shim;
pub(crate) mod git_argv;
pub(crate) mod git_shim;
pub(crate) mod gitconfig;
pub(crate) mod hook_input;
pub(crate) mod prepush;
pub(crate) mod shim;

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::repo::{discover_native, Location};
use crate::store::StateDir;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The env var through which the integrator proves it holds the lease.
pub(crate) use crate::shell::TOKEN_ENV;

/// What the repository looks like to a guard: where it is and the policy that applies.
pub(crate) struct Context {
    pub loc: Option<Location>,
    pub cfg: Config,
    pub cwd: PathBuf,
}

impl Context {
    /// Find the repository of `cwd` (honouring `git_dir`, e.g. `GIT_DIR` or `--git-dir`)
    /// natively and read the guard policy from the configuration files alone. Outside a
    /// repository the built-in policy applies. An unreadable or invalid file fails closed.
    pub(crate) fn load(cwd: &Path, git_dir: Option<&Path>) -> Result<Context> {
        let loc = discover_native(cwd, git_dir);
        let cfg = match &loc {
            Some(l) => Config::from_files(&l.config_sources())?,
            None => Config::default(),
        };
        Ok(Context { loc, cfg, cwd: cwd.to_path_buf() })
    }

    pub(crate) fn state(&self) -> Option<StateDir> {
        self.loc.as_ref().map(Location::state)
    }

    pub(crate) fn is_protected(&self, branch: &str) -> bool {
        self.cfg.is_protected(branch)
    }

    /// Is this process the integrator: its token is the live lease's token?
    pub(crate) fn integrator_authorised(&self) -> bool {
        let token = std::env::var(TOKEN_ENV).unwrap_or_default();
        match self.state() {
            Some(state) if !token.is_empty() => crate::lease::token_is_live(&state, &token),
            _ => false,
        }
    }

    /// "Before cutover": the effective mode recorded by the last run is not `cutover`, nor
    /// is the one this clone last synced from the fleet's lease (README "Fleet").
    pub(crate) fn before_cutover(&self) -> bool {
        match self.state() {
            Some(state) => {
                crate::fleet::state::synced_effective_mode(&state) != Some(Mode::Cutover)
                    && crate::mode::recorded_effective_mode(&state, &self.cfg) != Mode::Cutover
            }
            None => true,
        }
    }

    /// The name of whoever runs this command: the agent id, else the session id, else the user.
    pub(crate) fn who(&self) -> String {
        who(&self.cfg)
    }

    /// Is the agent marker (`guard.agent_env`) set?
    pub(crate) fn is_agent(&self) -> bool {
        std::env::var_os(&self.cfg.guard.agent_env).is_some_and(|v| !v.is_empty())
    }
}

/// The identity recorded for pushes and refusals.
pub(crate) fn who(cfg: &Config) -> String {
    [cfg.guard.agent_env.as_str(), "TELECLAUDE_SESSION_ID", "USER"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Which policy refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Protecting `main` (and the other protected branches): `MAIN_GUARDRAIL_BLOCKED`.
    Main,
    /// The destructive-command policy for agents: `AGENT_GUARDRAIL_BLOCKED`.
    Agent,
}

/// A guard's "no": the rule that applies and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub policy: Policy,
    pub rule: String,
    pub instead: String,
    /// The remote ref at stake, when there is one (`refs/heads/main`).
    pub remote_ref: Option<String>,
}

/// What to do instead of moving a protected branch yourself.
pub(crate) fn record_ready_instead() -> String {
    "push your feature branch, then record it as ready with \
     `integrator emit deployment-started --slug S --branch B --sha SHA`; \
     the integrator merges it into main"
        .into()
}

impl Refusal {
    pub(crate) fn main(rule: impl Into<String>, remote_ref: Option<String>) -> Refusal {
        Refusal { policy: Policy::Main, rule: rule.into(), instead: record_ready_instead(), remote_ref }
    }

    pub(crate) fn agent(rule: impl Into<String>, instead: impl Into<String>) -> Refusal {
        Refusal { policy: Policy::Agent, rule: rule.into(), instead: instead.into(), remote_ref: None }
    }

    pub(crate) fn marker(&self) -> &'static str {
        match self.policy {
            Policy::Main => "MAIN_GUARDRAIL_BLOCKED",
            Policy::Agent => "AGENT_GUARDRAIL_BLOCKED",
        }
    }

    /// The text printed to stderr: marker and rule, then what to do instead.
    pub(crate) fn message(&self) -> String {
        format!("{}: {}\nhint: {}", self.marker(), self.rule, self.instead)
    }
}

/// Several refusals of one command (one per protected line of a push) as one message.
pub(crate) fn refusal_message(refusals: &[Refusal]) -> String {
    refusals.iter().map(Refusal::message).collect::<Vec<_>>().join("\n")
}

/// Append one `guardrails.jsonl` record per refusal. A state dir that cannot be written
/// is warned about; the command is refused all the same.
pub(crate) fn record_refusals(ctx: &Context, argv: &[OsString], refusals: &[Refusal]) {
    let Some(state) = ctx.state() else {
        eprintln!("warning: not inside a repository; the refusal was not recorded");
        return;
    };
    let at = crate::clock::now_string();
    let who = ctx.who();
    let argv: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let lines: Vec<String> = refusals
        .iter()
        .map(|r| {
            serde_json::json!({
                "at": at,
                "who": who,
                "cwd": ctx.cwd.to_string_lossy(),
                "argv": argv,
                "rule": r.rule,
                "marker": r.marker(),
                "remote_ref": r.remote_ref,
            })
            .to_string()
        })
        .collect();
    if let Err(e) = crate::store::append_lines(&state.guardrails(), &lines) {
        eprintln!("warning: the refusal was not recorded: {e}");
    }
}

/// Refuse: record, and return the error that prints the message and exits 1.
pub(crate) fn refuse(ctx: &Context, argv: &[OsString], refusals: &[Refusal]) -> Error {
    record_refusals(ctx, argv, refusals);
    Error::Refused(refusal_message(refusals))
}
