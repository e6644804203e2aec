//! `integrator doctor`: check the installation (hook, shims, config, state dir, lease, log).

use crate::doctor;
use crate::error::Result;
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
}

/// `cwd` is the directory to check, not an opened repository: see [`doctor::run_cli`].
pub(crate) fn exec(cwd: &Path, args: DoctorArgs) -> Result<i32> {
    doctor::run_cli(cwd, args.out.json)
}
