//! The `integrator` command line: clap definitions and dispatch. Every subcommand returns
//! a `Result<i32>`; `main` turns errors into messages and exit codes in one place.

use crate::config::Mode;
use crate::error::{Error, Result};
use crate::events::{self, emit, Recorded};
use crate::handoff;
use crate::lease;
use crate::parity;
use crate::queue::{manual, Queue};
use crate::repo::Repo;
use crate::run::{self, Options};
use crate::status;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "integrator", version, about = "The only way code reaches main: records delivery events, queues READY candidates and merges them one at a time.", long_about = None)]
pub struct Cli {
    /// Run as if started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Record a lifecycle event (or bulk-ingest events with --json).
    Emit(EmitArgs),
    /// Take the lease and integrate READY candidates (the cron entry point).
    Run(RunArgs),
    /// Effective mode, lease, queue, candidates and their reasons, last run, log health.
    Status {
        /// Print one JSON document (schema in state-schema/).
        #[arg(long)]
        json: bool,
        /// Fetch the remote first (status alone never touches the network).
        #[arg(long)]
        fetch: bool,
        /// Also list integrated candidates.
        #[arg(long)]
        all: bool,
    },
    /// Show the event log.
    Log {
        /// Print JSON: one document, or with --follow one envelope per line.
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "SLUG")]
        slug: Option<String>,
        /// Event type: full name, short form (deployment-started) or prefix (integration).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
    },
    /// Show the queue, or retry / drop an item.
    Queue(QueueArgs),
    /// Show the lease, or break a hung one.
    Lease(LeaseArgs),
    /// Per-slug notifications (approved, in_progress, failed, resolved).
    Notifications(NotificationsArgs),
    /// List follow-up notes of blocked candidates.
    Followups {
        /// Print one JSON document (schema in state-schema/).
        #[arg(long)]
        json: bool,
    },
    /// Compare shadow decisions with what happened; --accept records the evidence.
    Parity {
        /// Print one JSON document (schema in state-schema/).
        #[arg(long)]
        json: bool,
        #[arg(long)]
        accept: bool,
    },
    /// Check the installation: hook, shims, config, state dir, lease, log.
    Doctor {
        /// Print one JSON document (schema in state-schema/).
        #[arg(long)]
        json: bool,
    },
    /// Build a throwaway sandbox and run shadow then cutover on it.
    Demo {
        /// Keep the sandbox directory instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EmitArgs {
    /// Bulk ingest: one {"type","payload","source"} object per line from FILE or - (stdin).
    #[arg(long, value_name = "FILE|-", required = true)]
    pub json: Option<String>,
    #[command(subcommand)]
    pub event: Option<EmitEvent>,
}

#[derive(Subcommand, Debug)]
pub enum EmitEvent {
    /// A review of SLUG was approved.
    ReviewApproved {
        #[arg(long)]
        slug: String,
        #[arg(long = "round", value_name = "N")]
        round: i64,
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
        #[arg(long, value_name = "ID")]
        worker: Option<String>,
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
        #[arg(long, value_name = "ID")]
        pusher: Option<String>,
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Override the requested mode.
    #[arg(long, value_parser = ["off", "shadow", "cutover"])]
    pub mode: Option<String>,
    /// Stop after N candidates.
    #[arg(long, value_name = "N")]
    pub max_items: Option<usize>,
    /// Start no new candidate after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub time_budget: Option<u64>,
    /// Wait up to SECS for a busy lease instead of exiting 75.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Start only once process PID has exited (the push that started this run).
    #[arg(long, value_name = "PID", hide = true)]
    pub after_pid: Option<u32>,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QueueArgs {
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub json: bool,
    /// Include integrated and superseded items, with their transitions.
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub action: Option<QueueAction>,
}

#[derive(Subcommand, Debug)]
pub enum QueueAction {
    /// Re-queue a blocked item after a readiness re-check.
    Retry { slug: String },
    /// Drop an item (it becomes superseded).
    Drop {
        slug: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LeaseArgs {
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<LeaseAction>,
}

#[derive(Subcommand, Debug)]
pub enum LeaseAction {
    /// Signal a live holder (same host only).
    Break {
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NotificationsArgs {
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub json: bool,
    /// Include seen and resolved ones.
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub action: Option<NotificationsAction>,
}

#[derive(Subcommand, Debug)]
pub enum NotificationsAction {
    /// Mark the notification of SLUG seen.
    Seen { slug: String },
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot encode output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Parse the command line and run it; returns the exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { crate::error::exit::USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => crate::error::report("integrator", &e),
    }
}

fn cwd_of(dir: &Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    match dir {
        Some(d) => Ok(d.clone()),
        None => std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e)),
    }
}

fn open_repo(dir: &Option<std::path::PathBuf>) -> Result<Repo> {
    Repo::open(&cwd_of(dir)?)
}

fn dispatch(cli: Cli) -> Result<i32> {
    if let Command::Demo { keep } = cli.command {
        return crate::demo::run(keep);
    }
    if let Command::Doctor { json } = cli.command {
        // The doctor opens the repository itself: it must work when the shims on PATH are broken.
        return crate::doctor::run_cli(&cwd_of(&cli.dir)?, json);
    }
    let repo = open_repo(&cli.dir)?;
    match cli.command {
        Command::Emit(a) => emit(&repo, a),
        Command::Run(a) => run_cmd(&repo, a),
        Command::Status { json, fetch, all } => {
            let s = status::status(&repo, fetch, all)?;
            if json {
                print_json(&s)?;
            } else {
                print!("{}", status::render_status(&s));
            }
            Ok(0)
        }
        Command::Log { json, slug, kind, follow } => log_cmd(&repo, json, slug, kind, follow),
        Command::Queue(a) => queue_cmd(&repo, a),
        Command::Lease(a) => match a.action {
            Some(LeaseAction::Break { force }) => {
                println!("{}", lease::break_lease(&repo.state, force)?);
                Ok(0)
            }
            None => {
                let l = lease::inspect(&repo.state)?;
                if a.json {
                    print_json(&l)?;
                } else {
                    println!("lease: {}", status::render_lease(&l));
                }
                Ok(0)
            }
        },
        Command::Notifications(a) => {
            let mut proj = status::projection(&repo)?;
            match a.action {
                Some(NotificationsAction::Seen { slug }) => {
                    status::mark_seen(&repo, &mut proj, &slug)?;
                    println!("{slug}: seen");
                }
                None => {
                    if a.all {
                        proj.with_archive()?;
                    }
                    let n = status::notifications(&proj, a.all);
                    if a.json {
                        print_json(&n)?;
                    } else if n.notifications.is_empty() {
                        println!("no notifications");
                    } else {
                        for x in &n.notifications {
                            println!(
                                "{:<12} {:<6} {} ({})",
                                x.state,
                                if x.seen { "seen" } else { "unseen" },
                                x.slug,
                                x.updated_at
                            );
                        }
                    }
                }
            }
            Ok(0)
        }
        Command::Followups { json } => {
            let f = status::followups(&repo)?;
            if json {
                print_json(&json!({ "followups": f }))?;
            } else if f.is_empty() {
                println!("no follow-ups");
            } else {
                for x in &f {
                    println!("{}  {}", x.stem, x.path);
                }
            }
            Ok(0)
        }
        Command::Parity { json, accept } => {
            let proj = status::projection(&repo)?;
            let mut r = parity::compute(&repo, &proj)?;
            if accept {
                parity::accept(&repo, &r)?;
                r.accepted = true;
            }
            if json {
                print_json(&r)?;
            } else {
                print!("{}", parity::render(&r));
            }
            Ok(0)
        }
        Command::Doctor { .. } => unreachable!("handled above"),
        Command::Demo { .. } => unreachable!("handled above"),
    }
}

fn emit(repo: &Repo, a: EmitArgs) -> Result<i32> {
    // An invalid configuration fails the emit before anything is written (exit 2).
    let cfg = repo.config()?;
    if let Some(file) = a.json {
        let mut input = Vec::new();
        let read = if file == "-" {
            std::io::stdin().read_to_end(&mut input)
        } else {
            std::fs::File::open(&file).and_then(|mut f| f.read_to_end(&mut input))
        };
        read.map_err(|e| Error::usage(format!("cannot read {file}: {e}")))?;
        let report = emit::ingest_given(&repo.state, &input)?;
        let mut err = std::io::stderr().lock();
        for e in &report.errors {
            let _ = writeln!(err, "integrator: rejected {e}");
        }
        println!("recorded {} / duplicate {} / rejected {}", report.recorded, report.duplicate, report.rejected);
        if report.recorded > 0 {
            trigger(repo, &cfg)?;
        }
        return Ok(if report.rejected > 0 { 2 } else { 0 });
    }
    let Some(event) = a.event else { return Err(Error::usage("emit needs an event subcommand or --json")) };
    let given = match event {
        EmitEvent::ReviewApproved { slug, round, reviewer, at } => emit::review_approved(slug, round, reviewer, at),
        EmitEvent::DeploymentStarted { slug, branch, sha, worker, orchestrator, at } => {
            emit::deployment_started(slug, branch, sha, worker, orchestrator, at)
        }
        EmitEvent::BranchPushed { branch, sha, remote, pusher, at } => {
            let remote = remote.unwrap_or_else(|| cfg.integrator.remote.clone());
            emit::branch_pushed_by_hand(branch, sha, remote, pusher, at)
        }
    };
    let kind = given.0;
    match emit::record_given(&repo.state, given)? {
        Recorded::Recorded => {
            println!("recorded {kind}");
            trigger(repo, &cfg)?;
        }
        Recorded::Duplicate => println!("duplicate {kind} (already recorded)"),
    }
    Ok(0)
}

/// Event-driven handoff after a new event; a failure to start the run never fails the emit.
fn trigger(repo: &Repo, cfg: &crate::config::Config) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot locate the integrator binary", e))?;
    if let Err(e) = handoff::maybe_trigger(repo, cfg, &handoff::integrator_beside(&exe)) {
        eprintln!("integrator: warning: could not start the event-triggered run: {}", e.render("integrator"));
    }
    Ok(())
}

fn run_cmd(repo: &Repo, a: RunArgs) -> Result<i32> {
    if let Some(pid) = a.after_pid {
        handoff::wait_for_exit(pid, Duration::from_secs(a.wait.unwrap_or(60)));
    }
    let opts = Options {
        mode: a.mode.as_deref().and_then(Mode::parse),
        max_items: a.max_items,
        time_budget: a.time_budget.map(Duration::from_secs),
        wait: a.wait.map(Duration::from_secs),
        announce: !a.quiet && !a.json,
    };
    let report = run::run(repo, &opts)?;
    if a.json {
        print_json(&report)?;
    } else if !a.quiet {
        if report.mode.effective == Mode::Off {
            return Ok(0);
        }
        for p in &report.processed {
            println!("{}", p.render());
        }
        let counts: Vec<String> = report.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "run complete: {} processed{}",
            report.processed.len(),
            if counts.is_empty() { String::new() } else { format!(" ({})", counts.join(", ")) }
        );
    }
    Ok(0)
}

fn log_cmd(repo: &Repo, json: bool, slug: Option<String>, kind: Option<String>, follow: bool) -> Result<i32> {
    let (evs, mut offset) = status::log(repo, slug.as_deref(), kind.as_deref(), 0)?;
    let print = |evs: &[events::Envelope]| -> Result<()> {
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
        print_json(&json!({ "events": evs }))?;
        return Ok(0);
    }
    print(&evs)?;
    if !follow {
        return Ok(0);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let (more, end) = status::log(repo, slug.as_deref(), kind.as_deref(), offset)?;
        offset = end;
        print(&more)?;
    }
}

fn queue_cmd(repo: &Repo, a: QueueArgs) -> Result<i32> {
    match a.action {
        None => {
            let q = if a.all { Queue::load_all(&repo.state)? } else { Queue::load(&repo.state)? };
            let items = status::item_views(&q, a.all);
            if a.json {
                print_json(&status::QueueReport { items })?;
            } else {
                print!("{}", status::render_queue(&items));
            }
            Ok(0)
        }
        Some(QueueAction::Retry { slug }) => {
            manual::retry(repo, &slug)?;
            println!("{slug}: re-queued");
            Ok(0)
        }
        Some(QueueAction::Drop { slug, reason }) => {
            manual::drop(repo, &slug, &reason)?;
            println!("{slug}: dropped");
            Ok(0)
        }
    }
}
