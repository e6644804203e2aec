//! `integrator`: see `integrator --help`.

fn main() {
    teleclaude_integrator::default_sigpipe();
    std::process::exit(teleclaude_integrator::main_with_args(std::env::args_os().collect()));
}
