//! teleclaude-integrator: records delivery events, projects READY candidates, queues them
//! and merges them one at a time onto `main` — the only writer of `main`.
//!
//! The library is the product's inside; its public surface is only what the four binaries
//! (`integrator`, `pre-push`, `git`, `gh`), the integration tests and the fuzz targets
//! call. Everything else is crate-private (README, "Architecture").

mod apply;
mod breach;
mod bridge;
mod candidate;
mod clock;
mod commands;
mod config;
mod demo;
mod digest;
mod doctor;
mod error;
mod events;
mod failpoint;
mod fleet;
mod followup;
mod git;
mod guard;
mod handoff;
mod hook_block;
mod lease;
mod mode;
mod notification;
mod parity;
mod projection;
mod queue;
mod queue_page;
mod readiness;
mod repo;
mod run;
mod shell;
pub mod shim_marker;
mod status;
mod store;

// The binaries' entry points and their one exit path.
pub use commands::main_with_args;
pub use error::{default_sigpipe, report, Error};
pub use failpoint::setup as setup_failpoints;
pub use guard::gh_shim::run as gh_shim;
pub use guard::git_shim::run as git_shim;
pub use guard::prepush::run as pre_push;
pub use lease::hostname;

/// The parsers of untrusted input, for the property tests and fuzz targets.
pub mod parse {
    pub use crate::events::{parse_ingest_line, validate, NewEvent};
    pub use crate::guard::git_argv::{
        agent_verdict, analyse_push, confirmed_index, env_config_keys, is_sensitive_config_key, parse, split_alias,
        AgentVerdict, Invocation, Push,
    };
    pub use crate::guard::hook_input::parse_updates;
    pub use crate::hook_block::{parse_hook_block, HookBlock, HOOK_BEGIN, HOOK_END};
}
