//! `integrator log`: the event log, filtered by slug and type, optionally followed.

use crate::error::{exit, Error, Result};
use crate::events::{self, Envelope};
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
    /// Event type: full name, short form (deployment-failed or deployment.failed) or
    /// prefix (integration, integration.candidate).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Keep printing new events as they are recorded.
    #[arg(long)]
    pub follow: bool,
}

/// The canonical domain types, whose tail may be given in either form
/// (`deployment.failed` or `deployment-failed`).
const DOMAIN: [&str; 5] = [
    events::REVIEW_APPROVED,
    events::BRANCH_PUSHED,
    events::DEPLOYMENT_STARTED,
    events::DEPLOYMENT_COMPLETED,
    events::DEPLOYMENT_FAILED,
];
const DOMAIN_PREFIX: &str = "domain.software-development";
const LIFECYCLE_PREFIX: &str = "integration";

/// What `--type` names: a canonical type (full name, or its tail with `.` or `-`), or a
/// prefix of the domain or lifecycle families. Anything else is a usage error listing
/// the types.
fn resolve_type(kind: &str) -> Result<String> {
    let tail = kind.replace('-', ".");
    if let Some(full) =
        DOMAIN.iter().find(|t| **t == kind || t.strip_prefix(DOMAIN_PREFIX) == Some(&format!(".{tail}")))
    {
        return Ok(full.to_string());
    }
    let in_family = |prefix: &str| kind == prefix || kind.starts_with(&format!("{prefix}."));
    if in_family(DOMAIN_PREFIX) || in_family(LIFECYCLE_PREFIX) {
        return Ok(kind.to_string());
    }
    let short: Vec<String> =
        DOMAIN.iter().map(|t| t.trim_start_matches(DOMAIN_PREFIX)[1..].replace('.', "-")).collect();
    Err(Error::usage_hint(
        format!("unknown event type `{kind}`"),
        format!(
            "use one of {}, their full names ({}), or `{LIFECYCLE_PREFIX}` / `{LIFECYCLE_PREFIX}.<name>` for the integrator's own events",
            short.join(", "),
            DOMAIN.join(", ")
        ),
    ))
}

pub(crate) fn exec(repo: &Repo, args: LogArgs) -> Result<i32> {
    let LogArgs { json, slug, kind, follow } = args;
    let kind = kind.as_deref().map(resolve_type).transpose()?;
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
