//! `integrator followups [--all]`: the follow-up notes of blocked candidates, open ones
//! (the candidate is still blocked) by default, resolved ones too with `--all`.

use crate::error::{exit, Result};
use crate::repo::Repo;
use crate::status;
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub(crate) struct FollowupsArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    /// Also the resolved notes (their candidate was re-queued, superseded or landed).
    #[arg(long)]
    pub all: bool,
}

pub(crate) fn exec(repo: &Repo, args: FollowupsArgs) -> Result<i32> {
    let f = status::followups(repo, args.all)?;
    if args.out.json {
        super::print_json(&json!({ "followups": f }))?;
    } else if f.is_empty() {
        println!("{}", if args.all { "no follow-ups" } else { "no open follow-ups (--all shows the resolved ones)" });
    } else {
        for x in &f {
            println!("{:<8}  {}  {}", x.status, x.stem, x.path);
        }
    }
    Ok(exit::OK)
}
