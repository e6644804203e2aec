//! The one integration-test binary: a module per area, real git, real repositories.

mod support;

mod archive;
mod bridge;
mod bridge_recovery;
mod commands;
mod completions;
mod cutover;
mod doctor;
mod edges;
mod events;
mod fence;
mod fleet;
mod guard_breach;
mod guard_bypass;
mod guard_gh_shim;
mod guard_git_shim;
mod guard_oracle;
mod guard_prepush;
mod install;
mod lease;
mod newcomer;
mod newcomer_cutover;
mod newcomer_progress;
mod newcomer_takeover;
mod queue_page;
mod quickstart;
mod readiness;
mod reliability;
mod run_limits;
mod schemas;
mod shadow;
mod shim_exec;
mod speculative;
mod speculative_props;
