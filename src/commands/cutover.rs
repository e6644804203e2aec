//! `integrator cutover [--apply]`: the three controls cutover needs (SPEC §10), each with
//! its state, where that state comes from and the exact command that sets it; `--apply`
//! sets the configuration ones after confirming parity.

use crate::config::{Config, Mode, ParityEvidence};
use crate::error::{exit, Error, Result};
use crate::parity::{self, ParityReport};
use crate::repo::Repo;
use crate::status;
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub(crate) struct CutoverArgs {
    /// Confirm parity (recording its acceptance when sufficient), then set
    /// `mode = "cutover"` and `cutover.enabled = true` in the local config.toml.
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub(crate) out: super::Json,
}

/// One control: is it satisfied, where its value comes from, and how to set it.
#[derive(Debug, Serialize)]
pub(crate) struct Control {
    pub name: &'static str,
    pub ok: bool,
    pub value: String,
    pub source: String,
    pub set_by: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct CutoverReport {
    pub effective: Option<Mode>,
    pub reason: String,
    pub controls: Vec<Control>,
}

pub(crate) fn exec(repo: &Repo, args: CutoverArgs) -> Result<i32> {
    if args.apply {
        apply(repo)?;
    }
    let r = report(repo)?;
    if args.out.json {
        super::print_json(&r)?;
    } else {
        print!("{}", render(&r));
    }
    Ok(exit::OK)
}

const MODE_ENV: &str = "TELECLAUDE_INTEGRATOR_MODE";
const ENABLED_ENV: &str = "TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED";
const PARITY_ENV: &str = "TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE";

/// Where a configured value comes from: its environment variable when set, else the files.
fn source(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => format!("environment {var}={v}"),
        _ => "configuration files".into(),
    }
}

fn report(repo: &Repo) -> Result<CutoverReport> {
    let cfg = repo.config()?;
    let local = repo.state.config();
    let proj = status::projection(repo)?;
    let par = parity::compute(repo, &proj)?;
    let mode = status::mode_view(&cfg, &proj);
    let apply = format!("integrator cutover --apply (writes {})", local.display());
    let controls = vec![
        Control {
            name: "mode",
            ok: cfg.integrator.mode == Mode::Cutover,
            value: cfg.integrator.mode.as_str().into(),
            source: source(MODE_ENV),
            set_by: format!("{apply}, or {MODE_ENV}=cutover"),
        },
        Control {
            name: "cutover.enabled",
            ok: cfg.cutover.enabled,
            value: cfg.cutover.enabled.to_string(),
            source: source(ENABLED_ENV),
            set_by: format!("{apply}, or {ENABLED_ENV}=1"),
        },
        parity_control(&cfg, &par, proj.parity_accepted),
    ];
    Ok(CutoverReport { effective: mode.effective, reason: mode.reason, controls })
}

fn parity_control(cfg: &Config, par: &ParityReport, recorded: bool) -> Control {
    let declared = cfg.cutover.parity_evidence == ParityEvidence::Accepted;
    let source = match (recorded, declared) {
        (true, _) => "recorded integration.parity.accepted".to_string(),
        (false, true) => source(PARITY_ENV),
        (false, false) => "not accepted".into(),
    };
    let value = parity::summary(par);
    Control {
        name: "parity evidence",
        ok: recorded || declared,
        value,
        source,
        set_by:
            "integrator parity --accept (refused until parity is sufficient; `integrator cutover --apply` does it too)"
                .into(),
    }
}

fn render(r: &CutoverReport) -> String {
    let eff = r.effective.map(Mode::as_str).unwrap_or("error");
    let mut out = format!("effective mode: {eff} ({})\n", r.reason);
    for c in &r.controls {
        out.push_str(&format!("  [{}] {}: {} — {}\n", if c.ok { "x" } else { " " }, c.name, c.value, c.source));
        if !c.ok {
            out.push_str(&format!("      set it: {}\n", c.set_by));
        }
    }
    out
}

/// `--apply`: parity first (accepted already, or sufficient and now recorded), then the
/// two configuration keys. With parity insufficient nothing is written (exit 1).
fn apply(repo: &Repo) -> Result<()> {
    let proj = status::projection(repo)?;
    let par = parity::compute(repo, &proj)?;
    if !par.accepted {
        parity::accept(repo, &par)?;
        println!("recorded integration.parity.accepted ({} of {} samples agree)", par.agree, par.samples);
    }
    let local = repo.state.config();
    crate::config::edit::set_keys(
        &local,
        &[("integrator", "mode", "cutover".into()), ("cutover", "enabled", true.into())],
    )
    .map_err(|e| Error::failed(format!("cannot set the cutover keys: {}", e.sentence())))?;
    println!("set mode = \"cutover\" and cutover.enabled = true in {}", local.display());
    Ok(())
}
