//! `integrator`: see `integrator --help`.

fn main() {
    teleclaude_integrator::error::default_sigpipe();
    std::process::exit(teleclaude_integrator::commands::main_with_args(std::env::args_os().collect()));
}
