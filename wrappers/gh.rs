//! The `gh` shim (SPEC §12).
fn main() {
    teleclaude_integrator::shim_marker::embed();
}
