//! The background sync: after `emit` or the `pre-push` hook recorded an event, with the
//! fleet on, `integrator sync --quiet --background` starts detached (own session, output
//! appended to `<state>/fleet/sync.log`) unless one is already running for this clone.
//! It waits a moment so a burst of events goes out as one batch (the debounce), syncs,
//! and goes again while events arrived meanwhile.

use super::state::FleetDir;
use crate::config::Config;
use crate::error::Result;
use crate::repo::Repo;
use crate::shell::{self, Clean};
use crate::store::{FileLock, StateDir};
use std::path::Path;
use std::time::Duration;

/// How long a background sync waits for more events before it publishes.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Rounds one background sync makes at most (a torn log tail is never "published").
const MAX_ROUNDS: usize = 8;

/// Start the background sync unless the fleet is off or one is already running. Costs
/// one lock probe and, when it starts one, one fork: the hook's budget holds.
pub(crate) fn after_event(state: &StateDir, home: &Path, cfg: &Config, integrator: &Path) -> Result<bool> {
    if !cfg.fleet.enabled {
        return Ok(false);
    }
    let fd = FleetDir::of(state);
    fd.ensure()?;
    if FileLock::is_held(&fd.background_lock())? {
        return Ok(false);
    }
    shell::start_detached(integrator, &["sync", "--quiet", "--background"], home, &fd.log(), Clean::Detached)?;
    Ok(true)
}

/// The background sync's body: at most one per clone (a second one returns at once).
pub(crate) fn background(repo: &Repo, cfg: &Config) -> Result<()> {
    let fd = FleetDir::of(&repo.state);
    fd.ensure()?;
    for _ in 0..MAX_ROUNDS {
        {
            let Some(_one) = FileLock::try_lock(&fd.background_lock())? else { return Ok(()) };
            std::thread::sleep(DEBOUNCE);
            super::sync::sync(repo, cfg)?;
        }
        // Checked after letting go: an event whose trigger found this sync running is
        // in the log by now, and goes out with the next round.
        if !super::sync::unpublished(&repo.state) {
            break;
        }
    }
    Ok(())
}
