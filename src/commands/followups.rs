//! `integrator followups`: the follow-up notes of blocked candidates.

use crate::error::{exit, Result};
use crate::repo::Repo;
use crate::status;
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub(crate) struct FollowupsArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
}

pub(crate) fn exec(repo: &Repo, args: FollowupsArgs) -> Result<i32> {
    let f = status::followups(repo)?;
    if args.out.json {
        super::print_json(&json!({ "followups": f }))?;
    } else if f.is_empty() {
        println!("no follow-ups");
    } else {
        for x in &f {
            println!("{}  {}", x.stem, x.path);
        }
    }
    Ok(exit::OK)
}
