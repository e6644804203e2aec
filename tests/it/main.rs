//! The one integration-test binary: a module per area, real git, real repositories.

mod support;

mod archive;
mod commands;
mod cutover;
mod doctor;
mod events;
mod guard_gh_shim;
mod guard_git_shim;
mod guard_prepush;
mod install;
mod lease;
mod readiness;
mod reliability;
mod run_limits;
mod schemas;
mod shadow;
mod shim_exec;
