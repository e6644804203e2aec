//! teleclaude-integrator: records delivery events, projects READY candidates, queues them
//! and merges them one at a time onto `main` — the only writer of `main`.

pub mod apply;
pub mod candidate;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod events;
pub mod followup;
pub mod git;
pub mod guard;
pub mod handoff;
pub mod lease;
pub mod mode;
pub mod notification;
pub mod parity;
pub mod projection;
pub mod queue;
pub mod readiness;
pub mod repo;
pub mod run;
pub mod shell;
pub mod shim_marker;
pub mod status;
pub mod store;
