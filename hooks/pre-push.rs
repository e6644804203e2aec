//! The `pre-push` hook (SPEC §12): guards protected branches, records feature pushes.
fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match teleclaude_integrator::pre_push(argv) {
        Ok(()) => 0,
        Err(e) => teleclaude_integrator::report("pre-push", &e),
    };
    std::process::exit(code);
}
