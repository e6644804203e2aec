//! `integrator log`: the event log, filtered by slug and type, optionally followed.

use crate::error::{exit, Result};
use crate::events::Envelope;
use crate::repo::Repo;
use crate::status;
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct LogArgs {
    /// Print JSON: one document, or with --follow one envelope per line.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "SLUG")]
    pub slug: Option<String>,
    /// Event type: full name, short form (deployment-started) or prefix (integration).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Keep printing new events as they are recorded.
    #[arg(long)]
    pub follow: bool,
}

pub(crate) fn exec(repo: &Repo, args: LogArgs) -> Result<i32> {
    let LogArgs { json, slug, kind, follow } = args;
    let (evs, mut offset) = status::log(repo, slug.as_deref(), kind.as_deref(), 0)?;
    let print = |evs: &[Envelope]| -> Result<()> {
        let mut out = std::io::stdout().lock();
        for e in evs {
            let line = if json { serde_json::to_string(e).unwrap_or_default() } else { status::render_event(e) };
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
        let _ = out.flush();
        Ok(())
    };
    if json && !follow {
        super::print_json(&json!({ "events": evs }))?;
        return Ok(exit::OK);
    }
    print(&evs)?;
    if !follow {
        return Ok(exit::OK);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let (more, end) = status::log(repo, slug.as_deref(), kind.as_deref(), offset)?;
        offset = end;
        print(&more)?;
    }
}
