//! `integrator doctor`: check the installation (hook, shims, config, state dir, lease, log).

use crate::doctor;
use crate::error::Result;
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print one JSON document (schema in state-schema/).
    #[arg(long)]
    pub json: bool,
}

/// `cwd` is the directory to check, not an opened repository: see [`doctor::run_cli`].
pub fn exec(cwd: &Path, args: DoctorArgs) -> Result<i32> {
    doctor::run_cli(cwd, args.json)
}
