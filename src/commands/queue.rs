//! `integrator queue`: show the queue, or retry / drop an item.

use crate::error::{exit, Result};
use crate::queue::{manual, Queue};
use crate::repo::Repo;
use crate::status;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct QueueArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    /// Include integrated and superseded items.
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub action: Option<QueueAction>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum QueueAction {
    /// Re-queue a blocked item after a readiness re-check.
    Retry { slug: String },
    /// Drop an item (it becomes superseded).
    Drop {
        slug: String,
        #[arg(long)]
        reason: String,
    },
}

pub(crate) fn exec(repo: &Repo, args: QueueArgs) -> Result<i32> {
    match args.action {
        None => {
            let q = if args.all { Queue::load_all(&repo.state)? } else { Queue::load(&repo.state)? };
            let items = status::item_views(&q, args.all, true);
            if args.out.json {
                super::print_json(&status::QueueReport { items })?;
            } else {
                print!("{}", status::render_queue(&items));
            }
        }
        Some(QueueAction::Retry { slug }) => {
            manual::retry(repo, &slug)?;
            println!("{slug}: re-queued");
        }
        Some(QueueAction::Drop { slug, reason }) => {
            manual::drop(repo, &slug, &reason)?;
            println!("{slug}: dropped");
        }
    }
    Ok(exit::OK)
}
