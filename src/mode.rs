//! Mode resolution (SPEC §10): the requested mode and the cutover controls give the
//! effective mode and the reason printed by `run` and `status`.

use crate::config::{Config, Mode, ParityEvidence};
use crate::error::{Error, Result};
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Resolved {
    pub requested: Mode,
    pub effective: Mode,
    pub reason: String,
}

/// Resolve the effective mode. `parity_event` is a recorded `integration.parity.accepted`.
pub(crate) fn resolve(cfg: &Config, requested: Option<Mode>, parity_event: bool) -> Result<Resolved> {
    let requested = requested.unwrap_or(cfg.integrator.mode);
    let accepted = parity_event || cfg.cutover.parity_evidence == ParityEvidence::Accepted;
    let (effective, reason) = match requested {
        Mode::Off => (Mode::Off, "mode off"),
        // The controls gate a requested cutover; they never request it themselves.
        Mode::Shadow if cfg.cutover.enabled && accepted => {
            (Mode::Shadow, "shadow requested (both cutover controls are set: request cutover with `integrator cutover --apply`)")
        }
        Mode::Shadow => (Mode::Shadow, "shadow requested"),
        Mode::Cutover if !cfg.cutover.enabled => (Mode::Shadow, "cutover disabled: remaining in shadow mode"),
        Mode::Cutover if accepted => (Mode::Cutover, "cutover enabled with accepted parity evidence"),
        Mode::Cutover if cfg.cutover.rollback_on_incomplete_parity => (Mode::Shadow, "parity evidence incomplete: rollback to shadow mode"),
        Mode::Cutover => {
            return Err(Error::usage_hint(
                "cutover enabled but parity evidence incomplete",
                "run `integrator parity --accept` once parity is sufficient, or set cutover.rollback_on_incomplete_parity = true",
            ))
        }
    };
    Ok(Resolved { requested, effective, reason: reason.into() })
}

#[derive(Deserialize)]
struct CheckpointMode {
    mode: Resolved,
}

/// The effective mode the guards go by: the one recorded by the last `integrator run` in
/// `checkpoint.json`; with no run yet, resolved from the configuration files alone. When
/// that is unresolvable the guards assume cutover (they fail closed).
pub(crate) fn recorded_effective_mode(dir: &StateDir, files_cfg: &Config) -> Mode {
    if let Ok(Some(c)) = store::read_json::<CheckpointMode>(&dir.checkpoint()) {
        return c.mode.effective;
    }
    resolve(files_cfg, None, false).map(|r| r.effective).unwrap_or(Mode::Cutover)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: Mode, enabled: bool, accepted: bool, rollback: bool) -> Config {
        let mut c = Config::default();
        c.integrator.mode = mode;
        c.cutover.enabled = enabled;
        c.cutover.parity_evidence = if accepted { ParityEvidence::Accepted } else { ParityEvidence::None };
        c.cutover.rollback_on_incomplete_parity = rollback;
        c
    }

    #[test]
    fn every_row_of_the_table() {
        let rows: &[(Mode, bool, bool, bool, Option<Mode>, &str)] = &[
            (Mode::Off, true, true, true, Some(Mode::Off), "mode off"),
            (Mode::Shadow, false, true, false, Some(Mode::Shadow), "shadow requested"),
            (
                Mode::Shadow,
                true,
                true,
                false,
                Some(Mode::Shadow),
                "shadow requested (both cutover controls are set: request cutover with `integrator cutover --apply`)",
            ),
            (Mode::Cutover, false, true, true, Some(Mode::Shadow), "cutover disabled: remaining in shadow mode"),
            (Mode::Cutover, true, true, false, Some(Mode::Cutover), "cutover enabled with accepted parity evidence"),
            (
                Mode::Cutover,
                true,
                false,
                true,
                Some(Mode::Shadow),
                "parity evidence incomplete: rollback to shadow mode",
            ),
            (Mode::Cutover, true, false, false, None, "cutover enabled but parity evidence incomplete"),
        ];
        for (mode, enabled, accepted, rollback, want, reason) in rows {
            let got = resolve(&cfg(*mode, *enabled, *accepted, *rollback), None, false);
            match (got, want) {
                (Ok(r), Some(w)) => {
                    assert_eq!(r.effective, *w);
                    assert_eq!(r.reason, *reason);
                }
                (Err(e), None) => {
                    assert_eq!(e.exit_code(), 2);
                    assert!(e.to_string().contains(reason));
                }
                (got, _) => panic!("row {mode:?} {enabled} {accepted} {rollback}: {got:?}"),
            }
        }
        // A recorded parity acceptance counts as evidence.
        assert_eq!(resolve(&cfg(Mode::Cutover, true, false, false), None, true).unwrap().effective, Mode::Cutover);
    }
}
