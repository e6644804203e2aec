//! The one integration-test binary: a module per area, real git, real repositories.

mod support;

mod cutover;
mod events;
mod guard_gh_shim;
mod guard_git_shim;
mod guard_prepush;
mod readiness;
mod shadow;
mod shim_exec;
