//! `integrator bridge [--once]`: bridge the platform's event bus and the log — for a
//! systemd unit (long-running), or one drain with `--once` (exit 1 when Redis is down).

use crate::bridge::{self, Pass, Settings};
use crate::error::{exit, Error, Result};
use crate::repo::Repo;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct BridgeArgs {
    /// Deliver the outbox, read everything the stream has for us, and exit.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub(crate) out: super::Json,
}

pub(crate) fn exec(repo: &Repo, args: BridgeArgs) -> Result<i32> {
    let cfg = repo.config()?;
    let Some(s) = Settings::of(&cfg) else {
        return Err(Error::usage_hint(
            "the event bus is off: [bridge] redis_url is empty",
            format!("set redis_url under [bridge] in {}", repo.state.config().display()),
        ));
    };
    if !args.once {
        let exe = std::env::current_exe().map_err(|e| Error::io("cannot locate the integrator binary", e))?;
        bridge::serve(repo, &cfg, &s, &crate::handoff::integrator_beside(&exe))?;
        return Ok(exit::OK);
    }
    let (c, _) = bridge::pass(&repo.state, &s, &mut None, Pass::Full)?;
    if args.out.json {
        super::print_json(&c)?;
    } else {
        println!(
            "bridge {} {}: recorded {} / duplicate {} / rejected {} / not ours {} / own {}; published {}",
            s.shown, s.stream, c.recorded, c.duplicate, c.rejected, c.foreign, c.own, c.published
        );
    }
    Ok(exit::OK)
}
