//! `integrator run`: take the lease and integrate READY candidates (the cron entry point).

use crate::config::Mode;
use crate::error::{exit, Result};
use crate::handoff;
use crate::repo::Repo;
use crate::run::{self, Options};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
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
    #[command(flatten)]
    pub(crate) out: super::Json,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Start only once process PID has exited (the push that started this run).
    #[arg(long, value_name = "PID", hide = true)]
    pub after_pid: Option<u32>,
}

pub(crate) fn exec(repo: &Repo, args: RunArgs) -> Result<i32> {
    if let Some(pid) = args.after_pid {
        handoff::wait_for_exit(pid, Duration::from_secs(args.wait.unwrap_or(60)));
    }
    let opts = Options {
        mode: args.mode.as_deref().and_then(Mode::parse),
        max_items: args.max_items,
        time_budget: args.time_budget.map(Duration::from_secs),
        wait: args.wait.map(Duration::from_secs),
        announce: !args.quiet && !args.out.json,
    };
    let report = run::run(repo, &opts)?;
    if report.run_id.is_some() {
        crate::queue_page::rewrite_configured(repo);
    }
    if args.out.json {
        super::print_json(&report)?;
    } else if !args.quiet {
        if report.mode.effective == Mode::Off {
            return Ok(exit::OK);
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
    Ok(exit::OK)
}
