//! `integrator lease`: show the lease, or break a hung one.

use crate::error::{exit, Result};
use crate::lease;
use crate::repo::Repo;
use crate::status;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct LeaseArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    #[command(subcommand)]
    pub action: Option<LeaseAction>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum LeaseAction {
    /// Signal a live holder (same host only).
    Break {
        #[arg(long)]
        force: bool,
    },
}

pub(crate) fn exec(repo: &Repo, args: LeaseArgs) -> Result<i32> {
    match args.action {
        Some(LeaseAction::Break { force }) => println!("{}", lease::break_lease(&repo.state, force)?),
        None => {
            let l = lease::inspect(&repo.state)?;
            if args.out.json {
                super::print_json(&l)?;
            } else {
                println!("lease: {}", status::render_lease(&l));
            }
        }
    }
    Ok(exit::OK)
}
