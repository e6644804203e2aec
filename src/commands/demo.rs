//! `integrator demo`: build a throwaway sandbox and run shadow then cutover on it.

use crate::demo;
use crate::error::Result;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Keep the sandbox directory instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

pub(crate) fn exec(args: DemoArgs) -> Result<i32> {
    demo::run(args.keep)
}
