//! `integrator`: see `integrator --help`.

fn main() {
    teleclaude_integrator::default_sigpipe();
    // Test builds only (feature `failpoints`); a release build reads no variable here.
    teleclaude_integrator::setup_failpoints();
    std::process::exit(teleclaude_integrator::main_with_args(std::env::args_os().collect()));
}
