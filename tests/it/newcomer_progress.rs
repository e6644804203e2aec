//! Progress on long work (issue 15, friction 6; issue 14): install.sh lets cargo show its
//! build progress; on a terminal only, a run says which candidate of how many it works on,
//! for how long verify has been running (rewritten in place) and what the grace window
//! waits for.

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

/// Run `integrator run <flags>` under a pseudo-terminal (util-linux `script`); returns
/// what the terminal was sent, carriage returns kept.
fn run_on_a_tty(sb: &Sandbox, flags: &str) -> String {
    let integrator = crate::support::bin("integrator");
    let out = sb
        .cmd("script", &sb.work)
        .args(["-qec", &format!("{} run {flags}", integrator.display()), "/dev/null"])
        .env("TELECLAUDE_SESSION_ID", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines a terminal finally shows: each `\r` (and erase-line) rewrites the line.
fn final_lines(sent: &str) -> Vec<String> {
    let sent = sent.replace("\r\n", "\n");
    sent.lines().map(|l| l.rsplit('\r').next().unwrap_or_default().replace("\x1b[K", "")).collect()
}

#[test]
fn verify_and_grace_show_progress_on_a_terminal_only() {
    let sb = Sandbox::new();
    sb.cutover_with("verify = \"true\"\ngrace_secs = 1\n");
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T00:00:01Z");
    let screen = final_lines(&run_on_a_tty(&sb, ""));
    // The line ends with the time verify took (on a loaded machine `true` can take a second).
    let done = screen.iter().find_map(|l| l.strip_prefix("verify a: running `true` — "));
    assert!(done.is_some_and(|t| t.ends_with(" s") && t.trim_end_matches(" s").parse::<f64>().is_ok()), "{screen:#?}");
    assert!(screen.iter().any(|l| l == "grace window: waiting 1s for late events"), "{screen:#?}");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("b", "b", &b, "2026-01-01T00:00:02Z");
    let (code, out, err) = sb.run(&["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(sb.is_ancestor_of_main(&b));
    let quiet = !err.contains("verify") && !err.contains("candidate 1 of") && !out.contains("verify b: running");
    assert!(quiet, "no progress off a terminal: {out}{err}");
}

#[test]
fn a_run_on_a_terminal_counts_candidates_and_times_verify_in_place_unless_quiet() {
    let sb = Sandbox::new();
    sb.cutover_with("verify = \"sleep 1.5\"\n");
    let shas: Vec<String> = ["a", "b", "c"].iter().map(|n| sb.branch(n, &format!("{n}.txt"), "x\n")).collect();
    for (i, (n, sha)) in ["a", "b", "c"].iter().zip(&shas).enumerate() {
        sb.ready(n, n, sha, &format!("2026-01-01T00:00:0{}Z", i + 1));
    }
    // --quiet on a terminal: the work is done, nothing is shown.
    let sent = run_on_a_tty(&sb, "--quiet --max-items 1");
    assert!(sb.is_ancestor_of_main(&shas[0]) && !sb.is_ancestor_of_main(&shas[1]));
    assert!(!sent.contains("candidate") && !sent.contains("verify"), "progress under --quiet: {sent:?}");

    let sent = run_on_a_tty(&sb, "");
    let screen = final_lines(&sent);
    for (i, n) in [(1, "b"), (2, "c")] {
        let line = format!("candidate {i} of 2: {n} ({n}@{})", &shas[i][..7]);
        assert!(screen.contains(&line), "no `{line}` in {screen:#?}");
    }
    // While it runs, the verify line counts seconds; the same line ends with the total.
    assert!(sent.contains("\r\x1b[Kverify b: running `sleep 1.5` … 1 s"), "not rewritten in place: {sent:?}");
    let done = screen.iter().find(|l| l.starts_with("verify c: running `sleep 1.5` — "));
    let done = done.unwrap_or_else(|| panic!("{screen:#?}"));
    let secs: f64 = done.rsplit(" — ").next().unwrap().trim_end_matches(" s").parse().unwrap();
    assert!((1.5..30.0).contains(&secs), "{done}");
    assert!(sb.is_ancestor_of_main(&shas[1]) && sb.is_ancestor_of_main(&shas[2]));
}
