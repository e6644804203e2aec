//! Stand-ins with the exact signatures of `lease::token_is_live`, `events::record_branch_pushed`
//! and `mode::recorded_effective_mode`, until those modules are merged.

use crate::config::{Config, Mode, ParityEvidence};
use crate::error::Result;
use crate::state::StateDir;

pub fn token_is_live(state: &StateDir, token: &str) -> bool {
    let Ok(Some(lease)) = crate::state::read_json::<serde_json::Value>(&state.lease_json()) else {
        return false;
    };
    if lease["token"].as_str() != Some(token) {
        return false;
    }
    let expires = lease["expires_at"]
        .as_str()
        .and_then(|s| crate::clock::parse(s).ok());
    if !expires.is_some_and(|t| t > crate::clock::now()) {
        return false;
    }
    let Ok(file) = std::fs::File::open(state.lease_lock()) else {
        return false;
    };
    let mut lock = fd_lock::RwLock::new(file);
    let held = lock.try_write().is_err();
    held
}

pub fn record_branch_pushed(
    state: &StateDir,
    branch: &str,
    sha: &str,
    remote: &str,
    pusher: &str,
) -> Result<()> {
    let ty = "domain.software-development.branch.pushed";
    let now = crate::clock::now_string();
    let line = serde_json::json!({
        "v": 1, "id": crate::clock::uuid(), "type": ty, "at": now, "source": pusher,
        "key": format!("{ty}:{branch}:{sha}:{remote}"), "level": "workflow",
        "payload": {"branch": branch, "sha": sha, "remote": remote, "pushed_at": now, "pusher": pusher},
    });
    crate::state::append_lines(&state.events(), &[line.to_string()])
}

pub fn recorded_effective_mode(state: &StateDir, cfg: &Config) -> Mode {
    if let Ok(Some(cp)) = crate::state::read_json::<serde_json::Value>(&state.checkpoint()) {
        if let Some(m) = cp["mode"]["effective"].as_str().and_then(Mode::parse) {
            return m;
        }
    }
    match cfg.integrator.mode {
        Mode::Cutover
            if cfg.cutover.enabled && cfg.cutover.parity_evidence == ParityEvidence::Accepted =>
        {
            Mode::Cutover
        }
        Mode::Cutover => Mode::Shadow,
        m => m,
    }
}
