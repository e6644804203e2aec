//! Cutover as a newcomer meets it (issue 15, friction 3 and 12): `integrator cutover`
//! lists the controls and how to set each, `--apply` sets the configuration ones after
//! confirming parity, a run that rolled back says so even under --quiet, and the status
//! line names the mode once.

use crate::support::{show, Sandbox};

/// A shadow repository where one candidate was judged would_integrate and then landed by
/// the old path: parity 1 of 1 with `parity_min_samples = 1`.
fn with_sufficient_parity() -> Sandbox {
    let sb = Sandbox::new();
    sb.config("# my notes\n[integrator]\nmode = \"shadow\"\n[cutover]\nparity_min_samples = 1\n");
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    sb.git(&sb.work, &["push", "-q", "origin", &format!("{a}:refs/heads/main")]);
    sb.ok(&["run"]);
    sb
}

#[test]
fn cutover_lists_each_control_with_the_command_that_sets_it() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let out = sb.ok(&["cutover"]);
    let local = sb.state().join("config.toml");
    let apply = format!("set it: integrator cutover --apply (writes {})", local.display());
    for needle in [
        "effective mode: shadow (shadow requested)\n",
        "  [ ] mode: shadow — configuration files\n",
        &format!("      {apply}, or TELECLAUDE_INTEGRATOR_MODE=cutover\n"),
        "  [ ] cutover.enabled: false — configuration files\n",
        &format!("      {apply}, or TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED=1\n"),
        "  [ ] parity evidence: 0 of 0 samples agree (ratio n/a; needs ≥ 0.95 with at least 20 samples: not yet sufficient) — not accepted\n",
        "      set it: integrator parity --accept",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let out = sb.integrator().env("TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED", "1").arg("cutover").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  [x] cutover.enabled: true — environment TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED=1\n"),
        "{text}"
    );
}

#[test]
fn cutover_apply_without_sufficient_parity_writes_nothing() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let before = sb.read_state("config.toml");
    let (code, _, err) = sb.run(&["cutover", "--apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("parity is not sufficient"), "{err}");
    assert_eq!(sb.read_state("config.toml"), before);
}

#[test]
fn cutover_apply_records_parity_sets_the_keys_and_the_next_run_merges() {
    let sb = with_sufficient_parity();
    let out = sb.ok(&["cutover", "--apply"]);
    assert!(out.contains("recorded integration.parity.accepted (1 of 1 samples agree)"), "{out}");
    assert!(out.contains("effective mode: cutover"), "{out}");
    let cfg = sb.read_state("config.toml");
    assert!(cfg.starts_with("# my notes\n[integrator]\nmode = \"cutover\"\n"), "comments kept: {cfg}");
    assert!(cfg.contains("[cutover]\nparity_min_samples = 1\nenabled = true\n"), "{cfg}");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    assert!(sb.ok(&["run"]).contains("mode cutover"));
    assert!(sb.is_ancestor_of_main(&b), "cutover merged b");
    // A second --apply changes nothing and records nothing new.
    sb.ok(&["cutover", "--apply"]);
    assert_eq!(sb.read_state("config.toml"), cfg);
}

#[test]
fn a_quiet_run_that_rolled_back_warns_on_stderr() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\n");
    for args in [&["run", "--quiet"][..], &["run", "--json"]] {
        let (code, _, err) = sb.run(args);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err,
            "integrator: warning: cutover requested, running in shadow: parity evidence incomplete: rollback to shadow mode; see `integrator cutover`\n"
        );
    }
    sb.config("[integrator]\nmode = \"shadow\"\n");
    assert_eq!(sb.run(&["run", "--quiet"]).2, "", "no warning when shadow is what was asked");
}

/// SPEC §10 leaves open how the two environment controls meet a `mode` in the files. They
/// gate a requested cutover and never request it: with `mode = "shadow"` the run stays in
/// shadow and says why; with the request made (file, env or --mode) they take effect,
/// overriding the files key by key.
#[test]
fn environment_controls_gate_but_never_request_cutover() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n[cutover]\nenabled = false\n");
    let env = [("TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED", "1"), ("TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE", "accepted")];
    let run = |extra: &[&str]| {
        let out = sb.integrator().envs(env).arg("run").args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&[]);
    assert!(
        out.starts_with("mode shadow: shadow requested (both cutover controls are set: request cutover with `integrator cutover --apply`)\n"),
        "{out}"
    );
    assert!(run(&["--mode", "cutover"]).starts_with("mode cutover: cutover enabled with accepted parity evidence\n"));
}

#[test]
fn status_names_the_mode_once() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    assert!(sb.ok(&["status"]).starts_with("mode: shadow (as requested)\n"));
    sb.config("[integrator]\nmode = \"cutover\"\n");
    assert!(sb
        .ok(&["status"])
        .starts_with("mode: shadow (requested cutover; cutover disabled: remaining in shadow mode)\n"));
}

#[test]
fn integrator_author_sets_the_merge_commits_identity() {
    let sb = Sandbox::new();
    let cfg = crate::support::CUTOVER
        .replace("mode = \"cutover\"\n", "mode = \"cutover\"\nauthor = \"Integrator Bot <bot@example.com>\"\n");
    sb.config(&cfg);
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let who = sb.git(&sb.origin, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"]);
    assert_eq!(who, "Integrator Bot <bot@example.com>|Integrator Bot <bot@example.com>");
    sb.config(&cfg.replace("Integrator Bot <bot@example.com>", "no email"));
    let (code, _, err) = sb.run(&["run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `integrator.author`: `no email` is not of the form `Name <email>`"), "{err}");
}

/// Without `integrator.author` the merge is made as the repository's own identity when it
/// has one, and as `teleclaude-integrator` when git knows no identity at all.
#[test]
fn without_an_author_the_merge_is_the_repositorys_identity_or_the_integrators() {
    let sb = Sandbox::new();
    sb.config(crate::support::CUTOVER);
    let a = sb.branch("a", "a.txt", "a\n");
    sb.ready("a", "a", &a, "2026-01-01T10:00:00Z");
    sb.ok(&["run"]);
    let who = sb.git(&sb.origin, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"]);
    assert_eq!(who, "Test <test@example.com>|Test <test@example.com>");
    let b = sb.branch("b", "b.txt", "b\n");
    sb.ready("b", "b", &b, "2026-01-01T11:00:00Z");
    std::fs::write(sb.home.join(".gitconfig"), "[init]\n\tdefaultBranch = main\n").unwrap();
    sb.ok(&["run"]);
    let who = sb.git(&sb.origin, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"]);
    assert_eq!(
        who,
        "teleclaude-integrator <integrator@teleclaude.invalid>|teleclaude-integrator <integrator@teleclaude.invalid>"
    );
}
