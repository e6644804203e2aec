//! The `integrator` command line, one file per command (like jj's `cli/src/commands/`):
//! each holds its clap arguments and one `exec`. Every `exec` returns a `Result<i32>`;
//! [`main_with_args`] turns errors into messages and exit codes in one place.

pub(crate) mod bridge;
pub(crate) mod completions;
pub(crate) mod cutover;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod emit;
pub(crate) mod fence;
pub(crate) mod followups;
pub(crate) mod lease;
pub(crate) mod log;
pub(crate) mod notifications;
pub(crate) mod parity;
pub(crate) mod queue;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod shims;
pub(crate) mod status;
pub(crate) mod sync;

use crate::error::{self, exit, Error, Result};
use crate::repo::Repo;
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "integrator", version, about = "The only way code reaches main: records delivery events, queues READY candidates and merges them one at a time.", long_about = None)]
pub(crate) struct Cli {
    /// Run as if started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Record a lifecycle event (or bulk-ingest events with --json).
    Emit(emit::EmitArgs),
    /// Take the lease and integrate READY candidates (the cron entry point).
    Run(run::RunArgs),
    /// Effective mode, lease, queue, candidates and their reasons, last run, log health.
    Status(status::StatusArgs),
    /// Show the event log.
    Log(log::LogArgs),
    /// Show the queue, or retry / drop an item.
    Queue(queue::QueueArgs),
    /// Show the lease, or break a hung one.
    Lease(lease::LeaseArgs),
    /// Per-slug notifications (approved, in_progress, failed, resolved).
    Notifications(notifications::NotificationsArgs),
    /// List follow-up notes of blocked candidates.
    Followups(followups::FollowupsArgs),
    /// Compare shadow decisions with what happened; --accept records the evidence.
    Parity(parity::ParityArgs),
    /// The cutover controls: each one's state and the command that sets it; --apply sets them.
    Cutover(cutover::CutoverArgs),
    /// Serve the queue page over HTTP, read-only (127.0.0.1 by default).
    Serve(serve::ServeArgs),
    /// Check the installation: hook, shims, config, state dir, lease, log.
    Doctor(doctor::DoctorArgs),
    /// Build what the git shim needs beside it: the shadow exec-path and the guarded remotes.
    Shims(shims::ShimsArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(completions::CompletionsArgs),
    /// Publish this clone's events to the fleet's remote and ingest everyone else's.
    Sync(sync::SyncArgs),
    /// Build a throwaway sandbox and run shadow then cutover on it.
    Demo(demo::DemoArgs),
    /// Install the server-side fence in a self-hosted bare repository: main moves only by
    /// fast-forward to integrator-signed merges.
    Fence(fence::FenceArgs),
    /// Bridge the platform's event bus (a Redis Stream) and the log; --once drains and exits.
    Bridge(bridge::BridgeArgs),
}

/// Parse the command line and run it; returns the exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => error::report("integrator", &e),
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    let dir = cli.dir.as_deref();
    match cli.command {
        Command::Emit(args) => emit::exec(&open_repo(dir)?, args),
        Command::Run(args) => run::exec(&open_repo(dir)?, args),
        Command::Status(args) => status::exec(&open_repo(dir)?, args),
        Command::Log(args) => log::exec(&open_repo(dir)?, args),
        Command::Queue(args) => queue::exec(&open_repo(dir)?, args),
        Command::Lease(args) => lease::exec(&open_repo(dir)?, args),
        Command::Notifications(args) => notifications::exec(&open_repo(dir)?, args),
        Command::Followups(args) => followups::exec(&open_repo(dir)?, args),
        Command::Parity(args) => parity::exec(&open_repo(dir)?, args),
        Command::Cutover(args) => cutover::exec(&open_repo(dir)?, args),
        Command::Serve(args) => serve::exec(&open_repo(dir)?, args),
        // The doctor opens the repository itself: it must work when the shims on PATH are broken.
        Command::Doctor(args) => doctor::exec(&cwd(dir)?, args),
        Command::Shims(args) => shims::exec(&cwd(dir)?, args),
        Command::Demo(args) => demo::exec(args),
        Command::Fence(args) => fence::exec(args),
        Command::Completions(args) => completions::exec(args),
        Command::Bridge(args) => bridge::exec(&open_repo(dir)?, args),
        Command::Sync(args) => sync::exec(&open_repo(dir)?, args),
    }
}

/// `-C DIR`, else the current directory.
fn cwd(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e)),
    }
}

fn open_repo(dir: Option<&Path>) -> Result<Repo> {
    Repo::open(&cwd(dir)?)
}

/// Print `v` as one pretty JSON document (the `--json` output of every command).
/// `--json`, as every reading command has it.
#[derive(clap::Args, Debug)]
pub(crate) struct Json {
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub(crate) json: bool,
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::failed(format!("cannot encode output: {e}")))?;
    println!("{text}");
    Ok(())
}
