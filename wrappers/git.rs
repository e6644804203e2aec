//! The `git` shim (SPEC §12): `exec`s the real git unless a guard refuses.
//!
//! `no_main`: the pass-through path should cost little more than the `exec` itself, and
//! the Rust runtime's start-up (probing `/proc/self/maps` for the stack guard, checking
//! stdio, installing signal handlers) is a measurable share of a shim that only execs.
#![no_main]

use std::ffi::{c_char, c_int};

#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // Marks this binary as a shim for `integrator doctor` (a no-op at run time).
    teleclaude_integrator::shim_marker::embed();
    let err = teleclaude_integrator::git_shim(std::env::args_os().collect());
    teleclaude_integrator::report("git", &err)
}
