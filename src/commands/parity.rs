//! `integrator parity`: shadow decisions against what happened; `--accept` records the
//! evidence that gates cutover.

use crate::error::{exit, Result};
use crate::parity;
use crate::repo::Repo;
use crate::status;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct ParityArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    #[arg(long)]
    pub accept: bool,
}

pub(crate) fn exec(repo: &Repo, args: ParityArgs) -> Result<i32> {
    let proj = status::projection(repo)?;
    let mut r = parity::compute(repo, &proj)?;
    if args.accept {
        parity::accept(repo, &r)?;
        r.accepted = true;
    }
    if args.out.json {
        super::print_json(&r)?;
    } else {
        print!("{}", parity::render(&r));
    }
    Ok(exit::OK)
}
