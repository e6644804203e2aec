//! Configuration (SPEC §11): built-in defaults, then `teleclaude.toml` at the repository
//! root (committed policy), then `<state>/config.toml` (local), then the three env
//! overrides, then flags. Unknown keys and bad values name the file and key (exit 2).

pub(crate) mod edit;
mod overlay;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Off,
    Shadow,
    Cutover,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shadow => "shadow",
            Mode::Cutover => "cutover",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "shadow" => Some(Mode::Shadow),
            "cutover" => Some(Mode::Cutover),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Trigger {
    Cron,
    Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MergeStyle {
    Merge,
    Squash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ParityEvidence {
    #[serde(rename = "")]
    None,
    #[serde(rename = "accepted")]
    Accepted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct IntegratorLayer")]
pub(crate) struct IntegratorConfig {
    pub main: String,
    pub remote: String,
    pub mode: Mode,
    pub trigger: Trigger,
    pub merge: MergeStyle,
    pub lease_ttl_secs: u64,
    pub grace_secs: u64,
    pub max_push_retries: u32,
    pub verify: String,
    pub verify_in_shadow: bool,
    pub bookkeeping: String,
    pub after_push: String,
    pub delete_merged_branches: bool,
    pub verify_timeout_secs: u64,
    /// How many candidates are verified at once, each on the speculative merge of those
    /// before it (README "Speculative verify"); 1 = one at a time.
    pub verify_parallel: u64,
    /// An SSH signing key (`user.signingkey` with `gpg.format=ssh`): when set, the
    /// integrator signs its commits, which the server-side fence (`integrator fence`) requires.
    pub signing_key: String,
    /// `Name <email>` for the merge (and bookkeeping) commits; empty: the repository's.
    pub author: String,
    /// After landing, remove the candidate's clean linked worktree on the integrated sha.
    pub cleanup_worktrees: bool,
    /// Every run rewrites the queue page here (relative: to the state dir); empty: off.
    pub status_html: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct CutoverLayer")]
pub(crate) struct CutoverConfig {
    pub enabled: bool,
    pub parity_evidence: ParityEvidence,
    pub rollback_on_incomplete_parity: bool,
    pub parity_threshold: f64,
    pub parity_min_samples: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct GuardLayer")]
pub(crate) struct GuardConfig {
    pub protected: Vec<String>,
    pub allow_canonical_main_push: bool,
    pub agent_env: String,
    pub allow_no_verify: bool,
    pub agent_blocked: Vec<String>,
    pub agent_allowed_aliases: Vec<String>,
}

/// `[bridge]`: the platform's event bus (a Redis Stream), off while `redis_url` is empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct BridgeLayer")]
pub(crate) struct BridgeConfig {
    pub redis_url: String,
    pub stream: String,
    pub group: String,
    pub consumer: String,
}

/// `[fleet]`: agents on many computers, one integrator, fenced by the remote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct FleetLayer")]
pub(crate) struct FleetConfig {
    pub enabled: bool,
    pub remote: String,
    pub clock_skew_secs: u64,
    pub allow_non_atomic: bool,
}

/// The configuration. Its keys, their defaults and what they mean are in `defaults.toml`;
/// the types here say what values they take. (A section's `expecting` is the name toml's
/// message gives it when it is not a table: `expected struct IntegratorLayer`, as ever.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub integrator: IntegratorConfig,
    pub cutover: CutoverConfig,
    pub guard: GuardConfig,
    pub bridge: BridgeConfig,
    pub fleet: FleetConfig,
}

impl Config {
    /// Is `branch` protected? `integrator.main` always is, whatever `guard.protected` says.
    pub(crate) fn is_protected(&self, branch: &str) -> bool {
        branch == self.integrator.main || self.guard.protected.iter().any(|p| p == branch)
    }
}

/// The destructive commands refused for agents by default (SPEC §12): `guard.agent_blocked`
/// of `defaults.toml`, kept here too for the shim's pass-through test, which reads no file.
pub(crate) const DEFAULT_AGENT_BLOCKED: &[&str] = &[
    "stash",
    "restore",
    "clean",
    "checkout",
    "reset",
    "revert",
    "switch",
    "read-tree",
    "checkout-index",
    "worktree",
    "rebase",
    "grep",
    "bisect",
    "submodule",
    "filter-branch",
];

/// The most candidates verified at once: each holds a worktree and a running check.
pub(crate) const MAX_VERIFY_PARALLEL: u64 = 64;

/// Every key with its default, and a comment on what it means.
const DEFAULTS: &str = include_str!("defaults.toml");

static BUILT_IN: LazyLock<Config> =
    LazyLock::new(|| toml::from_str(DEFAULTS).unwrap_or_else(|e| panic!("the built-in defaults.toml: {e}")));

/// The built-in configuration: `defaults.toml`.
impl Default for Config {
    fn default() -> Self {
        BUILT_IN.clone()
    }
}

/// The configuration files that apply to a repository, in order.
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    /// `teleclaude.toml` at the root of the main working tree (None for a bare repository).
    pub policy: Option<PathBuf>,
    /// `<state>/config.toml`.
    pub local: PathBuf,
}

impl Config {
    /// Defaults overlaid with the configuration files (no environment): what the guards read.
    pub(crate) fn from_files(sources: &Sources) -> Result<Config> {
        let mut cfg = Config::default();
        if let Some(p) = &sources.policy {
            cfg.apply_file(p)?;
        }
        cfg.apply_file(&sources.local)?;
        Ok(cfg)
    }

    /// Files, then the environment overrides of SPEC §11 (mode and the two cutover controls).
    pub(crate) fn load(sources: &Sources) -> Result<Config> {
        let mut cfg = Config::from_files(sources)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::usage(format!("cannot read configuration {}: {e}", path.display()))),
        };
        self.apply_text(&text).map_err(|m| {
            Error::usage_hint(
                format!("invalid configuration in {}: {m}", path.display()),
                "see README \"Configuration\" for the keys and their values",
            )
        })
    }

    /// Overlay one TOML document: the keys it sets replace the ones so far (a list as a
    /// whole). The error names the key.
    pub(crate) fn apply_text(&mut self, text: &str) -> std::result::Result<(), String> {
        let base = toml::Table::try_from(&*self).map_err(|e| e.to_string())?;
        *self = overlay::overlay(text, &base).map_err(|e| {
            // toml's message is multi-line with a snippet; keep it, minus the trailing newline.
            e.to_string().trim_end().replace('\n', "\n  ")
        })?;
        self.check()
    }

    /// Apply `TELECLAUDE_INTEGRATOR_MODE`, `..._CUTOVER_ENABLED`, `..._PARITY_EVIDENCE`.
    pub(crate) fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("TELECLAUDE_INTEGRATOR_MODE").filter(|v| !v.is_empty()) {
            self.integrator.mode = Mode::parse(&v).ok_or_else(|| {
                Error::usage(format!("TELECLAUDE_INTEGRATOR_MODE=`{v}` is not one of off, shadow, cutover"))
            })?;
        }
        if let Some(v) = get("TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED").filter(|v| !v.is_empty()) {
            self.cutover.enabled = match v.as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(Error::usage(format!(
                        "TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED=`{v}` is not one of 1, 0, true, false"
                    )))
                }
            };
        }
        if let Some(v) = get("TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE").filter(|v| !v.is_empty()) {
            if v != "accepted" {
                return Err(Error::usage(format!("TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE=`{v}` is not `accepted`")));
            }
            self.cutover.parity_evidence = ParityEvidence::Accepted;
        }
        Ok(())
    }

    fn check(&self) -> std::result::Result<(), String> {
        let i = &self.integrator;
        let names =
            [("integrator.main", &i.main), ("integrator.remote", &i.remote), ("fleet.remote", &self.fleet.remote)];
        for (key, v) in names {
            // `fleet.remote` may be empty: then it is `integrator.remote`.
            if (v.is_empty() && key != "fleet.remote")
                || v.starts_with('-')
                || v.contains("..")
                || v.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
            {
                return Err(format!("key `{key}`: `{v}` is not a valid name"));
            }
        }
        if !i.author.is_empty() && parse_author(&i.author).is_none() {
            return Err(format!("key `integrator.author`: `{}` is not of the form `Name <email>`", i.author));
        }
        if i.lease_ttl_secs < 4 {
            return Err(format!("key `integrator.lease_ttl_secs`: {} is too short (at least 4)", i.lease_ttl_secs));
        }
        if !(1..=MAX_VERIFY_PARALLEL).contains(&i.verify_parallel) {
            return Err(format!(
                "key `integrator.verify_parallel`: {} is not between 1 and {MAX_VERIFY_PARALLEL}",
                i.verify_parallel
            ));
        }
        let t = self.cutover.parity_threshold;
        if !(0.0..=1.0).contains(&t) {
            return Err(format!("key `cutover.parity_threshold`: {t} is not between 0 and 1"));
        }
        if self.guard.protected.iter().any(|p| p.is_empty() || p.starts_with("refs/")) {
            return Err("key `guard.protected`: names are branch names without `refs/heads/`".into());
        }
        if self.guard.agent_env.is_empty() {
            return Err("key `guard.agent_env`: must name an environment variable".into());
        }
        self.check_bridge()
    }

    fn check_bridge(&self) -> std::result::Result<(), String> {
        let b = &self.bridge;
        let schemes = ["redis://", "rediss://", "unix://", "redis+unix://"];
        if !b.redis_url.is_empty() && !schemes.iter().any(|s| b.redis_url.starts_with(s)) {
            return Err("key `bridge.redis_url`: must start with redis://, rediss:// or unix:// (empty: off)".into());
        }
        for (key, v) in [("bridge.stream", &b.stream), ("bridge.group", &b.group), ("bridge.consumer", &b.consumer)] {
            if (v.is_empty() && key != "bridge.consumer") || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("key `{key}`: `{v}` must be a non-empty name without spaces"));
            }
        }
        Ok(())
    }
}

/// `Name <email>` → (name, email), both non-empty, nothing after the `>`.
pub(crate) fn parse_author(s: &str) -> Option<(&str, &str)> {
    let (name, rest) = s.split_once(" <")?;
    let email = rest.strip_suffix('>')?;
    let bad = |t: &str| t.trim().is_empty() || t.contains(['<', '>', '\n']);
    (!bad(name) && !bad(email)).then_some((name.trim(), email))
}

#[cfg(test)]
mod tests;
