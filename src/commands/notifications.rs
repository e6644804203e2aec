//! `integrator notifications`: per-slug notifications, or mark one seen.

use crate::error::{exit, Result};
use crate::repo::Repo;
use crate::status;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct NotificationsArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    /// Include seen and resolved ones.
    #[arg(long)]
    pub all: bool,
    /// With the fleet on, sync first: the fleet's view (every computer's events).
    #[arg(long)]
    pub fetch: bool,
    #[command(subcommand)]
    pub action: Option<NotificationsAction>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum NotificationsAction {
    /// Mark the notification of SLUG seen.
    Seen { slug: String },
}

pub(crate) fn exec(repo: &Repo, args: NotificationsArgs) -> Result<i32> {
    if let Some(NotificationsAction::Seen { slug }) = args
        .action
        .as_ref()
        .filter(|a| matches!(a, NotificationsAction::Seen { slug } if slug == crate::breach::ACK_SLUG))
    {
        let acked = crate::breach::acknowledge(&repo.state)?;
        println!("{slug}: {}", if acked { "acknowledged" } else { "nothing to acknowledge" });
        return Ok(exit::OK);
    }
    if args.fetch {
        let cfg = repo.config()?;
        if cfg.fleet.enabled {
            crate::fleet::sync::sync(repo, &cfg)?;
        }
    }
    let mut proj = status::projection(repo)?;
    if let Some(NotificationsAction::Seen { slug }) = args.action {
        status::mark_seen(repo, &mut proj, &slug)?;
        println!("{slug}: seen");
        return Ok(exit::OK);
    }
    if args.all {
        proj.with_archive()?;
    }
    let n = status::notifications(&proj, args.all);
    if args.out.json {
        super::print_json(&n)?;
    } else if n.notifications.is_empty() {
        println!("no notifications");
    } else {
        for x in &n.notifications {
            let seen = if x.seen { "seen" } else { "unseen" };
            println!("{:<12} {:<6} {} ({})", x.state, seen, x.slug, x.updated_at);
        }
    }
    Ok(exit::OK)
}
