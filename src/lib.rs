//! teleclaude-integrator: records delivery events, projects READY candidates, queues them
//! and merges them one at a time onto `main` — the only writer of `main`.

pub mod clock;
pub mod config;
pub mod doctor;
pub mod error;
pub mod git;
pub mod repo;
pub mod shim_marker;
pub mod state;
