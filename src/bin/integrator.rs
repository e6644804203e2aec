//! `integrator`: see `integrator --help`.

fn main() {
    std::process::exit(teleclaude_integrator::cli::main_with_args(std::env::args_os().collect()));
}
