//! Configuration (SPEC §11): built-in defaults, then `teleclaude.toml` at the repository
//! root (committed policy), then `<state>/config.toml` (local), then the three env
//! overrides, then flags. Unknown keys and bad values name the file and key (exit 2).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Shadow,
    Cutover,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shadow => "shadow",
            Mode::Cutover => "cutover",
        }
    }
    pub fn parse(s: &str) -> Option<Mode> {
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
pub enum Trigger {
    Cron,
    Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStyle {
    Merge,
    Squash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParityEvidence {
    #[serde(rename = "")]
    None,
    #[serde(rename = "accepted")]
    Accepted,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntegratorConfig {
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
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CutoverConfig {
    pub enabled: bool,
    pub parity_evidence: ParityEvidence,
    pub rollback_on_incomplete_parity: bool,
    pub parity_threshold: f64,
    pub parity_min_samples: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardConfig {
    pub protected: Vec<String>,
    pub allow_canonical_main_push: bool,
    pub agent_env: String,
    pub allow_no_verify: bool,
    pub agent_blocked: Vec<String>,
    pub agent_allowed_aliases: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub integrator: IntegratorConfig,
    pub cutover: CutoverConfig,
    pub guard: GuardConfig,
}

/// The destructive commands refused for agents by default (SPEC §12).
pub const DEFAULT_AGENT_BLOCKED: &[&str] = &["stash", "restore", "clean", "checkout", "reset", "revert"];

impl Default for Config {
    fn default() -> Self {
        Config {
            integrator: IntegratorConfig {
                main: "main".into(),
                remote: "origin".into(),
                mode: Mode::Off,
                trigger: Trigger::Cron,
                merge: MergeStyle::Merge,
                lease_ttl_secs: 120,
                grace_secs: 0,
                max_push_retries: 3,
                verify: String::new(),
                verify_in_shadow: false,
                bookkeeping: String::new(),
                after_push: String::new(),
                delete_merged_branches: true,
            },
            cutover: CutoverConfig {
                enabled: false,
                parity_evidence: ParityEvidence::None,
                rollback_on_incomplete_parity: true,
                parity_threshold: 0.95,
                parity_min_samples: 20,
            },
            guard: GuardConfig {
                protected: vec!["main".into()],
                allow_canonical_main_push: true,
                agent_env: "TELECLAUDE_SESSION_ID".into(),
                allow_no_verify: false,
                agent_blocked: DEFAULT_AGENT_BLOCKED.iter().map(|s| s.to_string()).collect(),
                agent_allowed_aliases: Vec::new(),
            },
        }
    }
}

// One file's layer: every key optional, unknown keys rejected.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Layer {
    integrator: Option<IntegratorLayer>,
    cutover: Option<CutoverLayer>,
    guard: Option<GuardLayer>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IntegratorLayer {
    main: Option<String>,
    remote: Option<String>,
    mode: Option<Mode>,
    trigger: Option<Trigger>,
    merge: Option<MergeStyle>,
    lease_ttl_secs: Option<u64>,
    grace_secs: Option<u64>,
    max_push_retries: Option<u32>,
    verify: Option<String>,
    verify_in_shadow: Option<bool>,
    bookkeeping: Option<String>,
    after_push: Option<String>,
    delete_merged_branches: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CutoverLayer {
    enabled: Option<bool>,
    parity_evidence: Option<ParityEvidence>,
    rollback_on_incomplete_parity: Option<bool>,
    parity_threshold: Option<f64>,
    parity_min_samples: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GuardLayer {
    protected: Option<Vec<String>>,
    allow_canonical_main_push: Option<bool>,
    agent_env: Option<String>,
    allow_no_verify: Option<bool>,
    agent_blocked: Option<Vec<String>>,
    agent_allowed_aliases: Option<Vec<String>>,
}

macro_rules! overlay {
    ($dst:expr, $src:expr, $($field:ident),+) => {
        $( if let Some(v) = $src.$field { $dst.$field = v; } )+
    };
}

/// The configuration files that apply to a repository, in order.
#[derive(Clone, Debug)]
pub struct Sources {
    /// `teleclaude.toml` at the root of the main working tree (None for a bare repository).
    pub policy: Option<PathBuf>,
    /// `<state>/config.toml`.
    pub local: PathBuf,
}

impl Config {
    /// Defaults overlaid with the configuration files (no environment): what the guards read.
    pub fn from_files(sources: &Sources) -> Result<Config> {
        let mut cfg = Config::default();
        if let Some(p) = &sources.policy {
            cfg.apply_file(p)?;
        }
        cfg.apply_file(&sources.local)?;
        Ok(cfg)
    }

    /// Files, then the environment overrides of SPEC §11 (mode and the two cutover controls).
    pub fn load(sources: &Sources) -> Result<Config> {
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

    /// Overlay one TOML document; the error names the key.
    pub fn apply_text(&mut self, text: &str) -> std::result::Result<(), String> {
        let layer: Layer = toml::from_str(text).map_err(|e| {
            // toml's message is multi-line with a snippet; keep it, minus the trailing newline.
            e.to_string().trim_end().replace('\n', "\n  ")
        })?;
        if let Some(i) = layer.integrator {
            let d = &mut self.integrator;
            overlay!(
                d,
                i,
                main,
                remote,
                mode,
                trigger,
                merge,
                lease_ttl_secs,
                grace_secs,
                max_push_retries,
                verify,
                verify_in_shadow,
                bookkeeping,
                after_push,
                delete_merged_branches
            );
        }
        if let Some(c) = layer.cutover {
            let d = &mut self.cutover;
            overlay!(
                d,
                c,
                enabled,
                parity_evidence,
                rollback_on_incomplete_parity,
                parity_threshold,
                parity_min_samples
            );
        }
        if let Some(g) = layer.guard {
            let d = &mut self.guard;
            overlay!(
                d,
                g,
                protected,
                allow_canonical_main_push,
                agent_env,
                allow_no_verify,
                agent_blocked,
                agent_allowed_aliases
            );
        }
        self.check()
    }

    /// Apply `TELECLAUDE_INTEGRATOR_MODE`, `..._CUTOVER_ENABLED`, `..._PARITY_EVIDENCE`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
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
        let names = [("integrator.main", &i.main), ("integrator.remote", &i.remote)];
        for (key, v) in names {
            if v.is_empty()
                || v.starts_with('-')
                || v.contains("..")
                || v.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
            {
                return Err(format!("key `{key}`: `{v}` is not a valid name"));
            }
        }
        if i.lease_ttl_secs < 4 {
            return Err(format!("key `integrator.lease_ttl_secs`: {} is too short (at least 4)", i.lease_ttl_secs));
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_overlay_and_unknown_keys_fail() {
        let mut c = Config::default();
        c.apply_text("[integrator]\nmode = \"shadow\"\n").unwrap();
        assert_eq!(c.integrator.mode, Mode::Shadow);
        assert_eq!(c.integrator.main, "main");
        let err = c.apply_text("[integrator]\nmoed = \"shadow\"\n").unwrap_err();
        assert!(err.contains("moed"), "{err}");
        let err = c.apply_text("[integrator]\nmode = \"fast\"\n").unwrap_err();
        assert!(err.contains("fast") || err.contains("variant"), "{err}");
        let err = c.apply_text("[cutover]\nparity_threshold = 2.0\n").unwrap_err();
        assert!(err.contains("cutover.parity_threshold"), "{err}");
    }

    #[test]
    fn env_overrides_only_mode_and_controls() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "TELECLAUDE_INTEGRATOR_MODE" => Some("cutover".into()),
            "TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED" => Some("1".into()),
            "TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE" => Some("accepted".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.integrator.mode, Mode::Cutover);
        assert!(c.cutover.enabled);
        assert_eq!(c.cutover.parity_evidence, ParityEvidence::Accepted);
        assert!(c.apply_env(|_| Some("bogus".into())).is_err());
    }
}
