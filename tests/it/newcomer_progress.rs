//! Progress on long work (issue 15, friction 6): install.sh lets cargo show its build
//! progress; verify and the grace window say what they wait for on a terminal only.

use crate::support::{show, write_exec, Sandbox, INSTALL_SH};

#[test]
fn install_builds_without_silencing_cargo() {
    let sb = Sandbox::new();
    let target = sb.root.join("target");
    let log = sb.root.join("cargo-argv");
    // A stand-in cargo that logs its argv and "builds" by copying this run's binaries.
    let cargo = sb.root.join("fake-cargo");
    let stage = sb.stage();
    write_exec(
        &cargo,
        &format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nmkdir -p \"$CARGO_TARGET_DIR/release\"\nfor t in integrator pre-push git gh; do cp -L '{}'/$t \"$CARGO_TARGET_DIR/release/$t\"; done\necho '   Compiling teleclaude-integrator' >&2\n",
            log.display(),
            stage.display()
        ),
    );
    let out = sb
        .cmd("bash", &sb.work)
        .args([INSTALL_SH, "--bin-dir", sb.bin_dir().to_str().unwrap(), "--shim-dir", sb.shim_dir().to_str().unwrap()])
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO", &cargo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let argv = std::fs::read_to_string(&log).unwrap();
    assert_eq!(argv.lines().count(), 4, "{argv}");
    assert!(!argv.contains("--quiet"), "cargo silenced: {argv}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Compiling"), "{}", show(&out));
}

/// Run `integrator run` under a pseudo-terminal (util-linux `script`); returns what the
/// terminal showed.
fn run_on_a_tty(sb: &Sandbox) -> String {
    let integrator = crate::support::bin("integrator");
    let out = sb
        .cmd("script", &sb.work)
        .args(["-qec", &format!("{} run", integrator.display()), "/dev/null"])
        .env("TELECLAUDE_SESSION_ID", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn verify_and_grace_show_progress_on_a_terminal_only() {
    let sb = Sandbox::new();
    sb.cutover_with("verify = \"true\"\ngrace_secs = 1\n");
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T00:00:01Z");
    let screen = run_on_a_tty(&sb);
    assert!(screen.contains("verify a: running `true`\n"), "{screen}");
    assert!(screen.contains("grace window: waiting 1s for late events\n"), "{screen}");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("b", "b", &b, "2026-01-01T00:00:02Z");
    let (code, out, err) = sb.run(&["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(sb.is_ancestor_of_main(&b));
    assert!(!err.contains("verify") && !out.contains("verify b: running"), "no progress off a terminal: {out}{err}");
}
