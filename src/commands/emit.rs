//! `integrator emit`: record one event given by flags, or bulk-ingest events with `--json`.

use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::events::{emit, Recorded};
use crate::handoff;
use crate::repo::Repo;
use clap::{Args, Subcommand};
use std::io::{Read, Write};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct EmitArgs {
    /// Bulk ingest: one {"type","payload","source"} object per line from FILE or - (stdin).
    #[arg(long, value_name = "FILE|-", required = true)]
    pub json: Option<String>,
    #[command(subcommand)]
    pub event: Option<EmitEvent>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum EmitEvent {
    /// A review of SLUG was approved.
    ReviewApproved {
        #[arg(long)]
        slug: String,
        #[arg(long = "round", value_name = "N")]
        round: i64,
        /// The reviewer_session_id. Default: $TELECLAUDE_SESSION_ID, else $USER, else the account name.
        #[arg(long, value_name = "ID")]
        reviewer: Option<String>,
        /// When the review was approved (RFC 3339); default now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
    /// BRANCH at SHA is ready to merge ("finalize ready").
    #[command(alias = "finalize-ready")]
    DeploymentStarted {
        #[arg(long)]
        slug: String,
        #[arg(long, allow_hyphen_values = true)]
        branch: String,
        #[arg(long, allow_hyphen_values = true)]
        sha: String,
        /// The worker_session_id. Default: $TELECLAUDE_SESSION_ID, else $USER, else the account name.
        #[arg(long, value_name = "ID")]
        worker: Option<String>,
        /// The orchestrator_session_id. Default: $TELECLAUDE_SESSION_ID, else $USER, else the account name.
        #[arg(long, value_name = "ID")]
        orchestrator: Option<String>,
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
    /// BRANCH was pushed at SHA (the pre-push hook records this itself).
    BranchPushed {
        #[arg(long, allow_hyphen_values = true)]
        branch: String,
        #[arg(long, allow_hyphen_values = true)]
        sha: String,
        #[arg(long)]
        remote: Option<String>,
        /// The pusher. Default: $TELECLAUDE_SESSION_ID, else $USER, else the account name.
        #[arg(long, value_name = "ID")]
        pusher: Option<String>,
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
}

pub(crate) fn exec(repo: &Repo, args: EmitArgs) -> Result<i32> {
    // An invalid configuration fails the emit before anything is written (exit 2).
    let cfg = repo.config()?;
    if let Some(file) = args.json {
        return ingest(repo, &cfg, &file);
    }
    let Some(event) = args.event else { return Err(Error::usage("emit needs an event subcommand or --json")) };
    let given = match event {
        EmitEvent::ReviewApproved { slug, round, reviewer, at } => emit::review_approved(slug, round, reviewer, at),
        EmitEvent::DeploymentStarted { slug, branch, sha, worker, orchestrator, at } => {
            emit::deployment_started(slug, branch, sha, worker, orchestrator, at)
        }
        EmitEvent::BranchPushed { branch, sha, remote, pusher, at } => {
            let remote = remote.unwrap_or_else(|| cfg.integrator.remote.clone());
            emit::branch_pushed_by_hand(branch, sha, remote, pusher, at)
        }
    }?;
    let kind = given.0;
    match emit::record_given(&repo.state, given)? {
        Recorded::Recorded => {
            println!("recorded {kind}");
            trigger(repo, &cfg)?;
        }
        Recorded::Duplicate => println!("duplicate {kind} (already recorded)"),
    }
    Ok(exit::OK)
}

/// `--json FILE|-`: every line validated, the good ones recorded; exit 2 when any was rejected.
fn ingest(repo: &Repo, cfg: &Config, file: &str) -> Result<i32> {
    let mut input = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut input)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut input))
    };
    read.map_err(|e| Error::usage(format!("cannot read {file}: {e}")))?;
    let report = emit::ingest_given(&repo.state, &input)?;
    let mut err = std::io::stderr().lock();
    for e in &report.errors {
        let _ = writeln!(err, "integrator: rejected {e}");
    }
    println!("recorded {} / duplicate {} / rejected {}", report.recorded, report.duplicate, report.rejected);
    if report.recorded > 0 {
        trigger(repo, cfg)?;
    }
    Ok(if report.rejected > 0 { exit::USAGE } else { exit::OK })
}

/// Event-driven handoff after a new event; a failure to start the run never fails the emit.
fn trigger(repo: &Repo, cfg: &Config) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot locate the integrator binary", e))?;
    let integrator = handoff::integrator_beside(&exe);
    if let Err(e) = handoff::maybe_trigger(repo, cfg, &integrator) {
        eprintln!("integrator: warning: could not start the event-triggered run: {}", e.sentence());
    }
    if let Err(e) = crate::fleet::trigger::after_event(&repo.state, repo.git.dir(), cfg, &integrator) {
        eprintln!("integrator: warning: could not start the background sync: {}", e.sentence());
    }
    Ok(())
}
