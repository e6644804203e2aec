//! `integrator sync [--quiet]`: publish this clone's events to the fleet's remote and
//! ingest every other writer's (README "Fleet").

use crate::error::{exit, Result};
use crate::fleet;
use crate::repo::Repo;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct SyncArgs {
    /// Print nothing but errors and warnings.
    #[arg(long)]
    pub quiet: bool,
    /// Debounced, at most one per clone: what `emit` and `pre-push` start.
    #[arg(long, hide = true)]
    pub background: bool,
}

pub(crate) fn exec(repo: &Repo, args: SyncArgs) -> Result<i32> {
    let cfg = repo.config()?;
    if !cfg.fleet.enabled {
        if !args.quiet {
            println!("fleet off: nothing to sync (set [fleet] enabled = true)");
        }
        return Ok(exit::OK);
    }
    if args.background {
        fleet::trigger::background(repo, &cfg)?;
        return Ok(exit::OK);
    }
    let report = fleet::sync::sync(repo, &cfg)?;
    for w in report.warnings() {
        eprintln!("integrator: warning: {w}");
    }
    if !args.quiet {
        println!("{}", report.line());
    }
    Ok(exit::OK)
}
