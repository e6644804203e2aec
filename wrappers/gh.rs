//! The `gh` shim (SPEC §12): `exec`s the real gh unless a guard refuses.
fn main() {
    // Marks this binary as a shim for `integrator doctor` (a no-op at run time).
    teleclaude_integrator::shim_marker::embed();
    let err = teleclaude_integrator::gh_shim(std::env::args_os().collect());
    std::process::exit(teleclaude_integrator::report("gh", &err));
}
