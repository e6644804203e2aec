//! `integrator doctor` (SPEC §9): passes on a whole installation, and for each broken
//! piece fails with a message and the exact fix.

use crate::support::{show, write_exec, Sandbox};
use serde_json::Value;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What one doctor run reported.
struct Doctor {
    json: Value,
    human: String,
}

impl Doctor {
    fn ok(&self) -> bool {
        self.json["ok"].as_bool().unwrap()
    }
    /// The findings of `check`.
    fn all(&self, check: &str) -> Vec<&Value> {
        self.json["findings"].as_array().unwrap().iter().filter(|f| f["check"] == check).collect()
    }
    /// The one finding of `check`.
    fn one(&self, check: &str) -> &Value {
        let all = self.all(check);
        assert_eq!(all.len(), 1, "want one `{check}` finding:\n{}", self.human);
        all[0]
    }
    fn message(&self, check: &str) -> String {
        self.one(check)["message"].as_str().unwrap().to_string()
    }
    fn fix(&self, check: &str) -> Option<String> {
        self.one(check)["fix"].as_str().map(str::to_string)
    }
    fn assert_fails(&self, check: &str) {
        assert!(!self.ok(), "doctor passed:\n{}", self.human);
        assert_eq!(self.one(check)["ok"], false, "`{check}` passed:\n{}", self.human);
        assert!(self.human.contains(&format!("FAIL {check}: ")), "{}", self.human);
    }
}

/// PATH with the given dirs first, then the sandbox's system dirs (real git).
fn path_with(sb: &Sandbox, first: &[PathBuf]) -> OsString {
    let mut dirs: Vec<PathBuf> = first.to_vec();
    dirs.extend(std::env::split_paths(&sb.path));
    std::env::join_paths(dirs).unwrap()
}

/// The PATH install.sh tells the user to set: shims, bin, then the rest.
fn installed_path(sb: &Sandbox) -> OsString {
    path_with(sb, &[sb.shim_dir(), sb.bin_dir()])
}

/// Run `integrator doctor` (human, then `--json`) in `dir` with `path` as PATH; check the
/// exit code agrees with the verdict.
fn doctor(sb: &Sandbox, dir: &Path, path: OsString) -> Doctor {
    let run = |json: bool| {
        let mut c = sb.integrator_in(dir);
        c.env("PATH", &path).arg("doctor");
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let human = run(false);
    let out = run(true);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", show(&out)));
    let want = if json["ok"] == true { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(want), "{}", show(&out));
    assert_eq!(human.status.code(), Some(want), "{}", show(&human));
    Doctor { json, human: String::from_utf8(human.stdout).unwrap() }
}

#[test]
fn doctor_passes_after_install_with_the_shims_first_on_path() {
    let sb = Sandbox::new();
    sb.install();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(d.ok(), "{}", d.human);
    for check in ["hook", "git-shim", "gh-shim", "config", "state-dir", "state-fs", "lease", "log"] {
        assert!(!d.all(check).is_empty(), "no `{check}` finding:\n{}", d.human);
    }
    assert!(d.human.ends_with("doctor: all checks passed\n"), "{}", d.human);
    assert!(d.message("hook").contains(&sb.bin_dir().join("pre-push").display().to_string()));
    assert!(d.message("git-shim").contains("runs the real git"), "{}", d.human);
    assert!(d.message("config").contains("requested mode shadow"), "{}", d.human);
    // From a linked worktree the same shared hook is found.
    let wt = sb.root.join("wt");
    sb.git(&sb.work, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
    let d = doctor(&sb, &wt, installed_path(&sb));
    assert!(d.ok(), "{}", d.human);
    assert!(d.message("hook").contains(&wt.display().to_string()), "{}", d.human);
}

#[test]
fn doctor_names_the_install_command_when_the_hook_is_missing() {
    let sb = Sandbox::new();
    sb.install();
    fs::remove_file(sb.hooks_dir().join("pre-push")).unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("hook");
    assert!(d.message("hook").contains("no pre-push hook in"), "{}", d.human);
    let fix = d.fix("hook").unwrap();
    assert_eq!(fix, format!("{} {}", crate::support::INSTALL_SH, sb.work.display()));
    assert!(d.human.contains(&format!("  fix: {fix}\n")), "{}", d.human);
    // Everything else is still fine.
    assert_eq!(d.one("git-shim")["ok"], true, "{}", d.human);
}

#[test]
fn doctor_fails_when_the_hook_execs_a_missing_binary_or_is_not_executable() {
    let sb = Sandbox::new();
    sb.install();
    let hook = sb.hooks_dir().join("pre-push");
    fs::remove_file(sb.bin_dir().join("pre-push")).unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("hook");
    assert!(d.message("hook").contains("missing or not executable"), "{}", d.human);
    // The fix reinstalls into the dirs the hook recorded.
    assert_eq!(
        d.fix("hook").unwrap(),
        format!(
            "{} {} --bin-dir {} --shim-dir {}",
            crate::support::INSTALL_SH,
            sb.work.display(),
            sb.bin_dir().display(),
            sb.shim_dir().display()
        )
    );
    let out = sb
        .cmd("bash", &sb.root)
        .arg("-c")
        .arg(d.fix("hook").unwrap())
        .env("TELECLAUDE_INSTALL_FROM", sb.stage())
        .output()
        .unwrap();
    assert!(out.status.success(), "the fix itself failed:\n{}", show(&out));
    assert!(doctor(&sb, &sb.work, installed_path(&sb)).ok());

    fs::set_permissions(&hook, fs::Permissions::from_mode(0o644)).unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("hook");
    assert_eq!(d.fix("hook").unwrap(), format!("chmod +x {}", hook.display()));
}

#[test]
fn doctor_flags_a_foreign_hook() {
    let sb = Sandbox::new();
    write_exec(&sb.hooks_dir().join("pre-push"), "#!/bin/sh\nexit 0\n");
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("hook");
    assert!(d.message("hook").contains("no marker block"), "{}", d.human);
}

#[test]
fn doctor_checks_every_worktree_hooks_dir() {
    let sb = Sandbox::new();
    sb.install();
    let wt = sb.root.join("wt");
    sb.git(&sb.work, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
    // A per-worktree core.hooksPath gives the linked worktree a hooks dir of its own.
    let own = sb.root.join("wt-hooks");
    sb.git(&sb.work, &["config", "extensions.worktreeConfig", "true"]);
    sb.git(&wt, &["config", "--worktree", "core.hooksPath", own.to_str().unwrap()]);
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    let hooks = d.all("hook");
    assert_eq!(hooks.len(), 2, "{}", d.human);
    assert_eq!(hooks[0]["ok"], true, "{}", d.human);
    assert_eq!(hooks[1]["ok"], false, "{}", d.human);
    let msg = hooks[1]["message"].as_str().unwrap();
    assert!(msg.contains(&own.display().to_string()) && msg.contains(&wt.display().to_string()), "{msg}");
    assert!(!d.ok());
}

#[test]
fn doctor_fails_when_the_shim_is_not_first_on_path() {
    let sb = Sandbox::new();
    sb.install();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&sb.path).collect();
    dirs.push(sb.shim_dir());
    dirs.push(sb.bin_dir());
    let d = doctor(&sb, &sb.work, std::env::join_paths(dirs).unwrap());
    d.assert_fails("git-shim");
    assert!(d.message("git-shim").contains("not the teleclaude shim"), "{}", d.human);
    assert_eq!(d.fix("git-shim").unwrap(), format!("export PATH=\"{}:$PATH\"", sb.shim_dir().display()));
    assert_eq!(d.one("gh-shim")["ok"], true, "the only gh on PATH is the shim:\n{}", d.human);
    assert_eq!(d.one("hook")["ok"], true, "{}", d.human);
}

#[test]
fn doctor_fails_when_the_shim_resolves_to_itself() {
    let sb = Sandbox::new();
    sb.install();
    // PATH holds only shim copies: there is no real git behind the shim.
    let copy = sb.root.join("more-shims");
    fs::create_dir_all(&copy).unwrap();
    for name in ["git", "gh"] {
        crate::support::copy_executable(&sb.shim_dir().join(name), &copy.join(name));
    }
    let path = std::env::join_paths([sb.shim_dir(), copy]).unwrap();
    let d = doctor(&sb, &sb.work, path);
    d.assert_fails("git-shim");
    assert!(d.message("git-shim").contains("resolves to itself"), "{}", d.human);
    let real_dir = sb.real_git().parent().unwrap().to_path_buf();
    let fix = d.fix("git-shim").unwrap();
    assert!(fix.starts_with("export PATH=\"$PATH:/"), "{fix}");
    let named = Path::new(fix.trim_start_matches("export PATH=\"$PATH:").trim_end_matches('"')).join("git");
    assert!(named.is_file() && !teleclaude_integrator::shim_marker::is_shim(&named), "{fix} ({real_dir:?})");
    // A missing real gh is a note, not a failure.
    assert_eq!(d.one("gh-shim")["ok"], true, "{}", d.human);
    assert!(d.message("gh-shim").starts_with("note: "), "{}", d.human);
}

#[test]
fn doctor_names_the_file_and_key_of_a_bad_config() {
    let sb = Sandbox::new();
    sb.install();
    let config = sb.work.join(".git/teleclaude/config.toml");
    fs::write(&config, "[integrator]\nmode = \"shadow\"\nbogus_key = 1\n").unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("config");
    let msg = d.message("config");
    assert!(msg.contains("bogus_key") && msg.contains(&config.display().to_string()), "{msg}");
    assert_eq!(d.fix("config").unwrap(), format!("${{EDITOR:-vi}} {}", config.display()));

    // The committed policy file is named when it is the broken one.
    fs::write(&config, "[integrator]\nmode = \"shadow\"\n").unwrap();
    fs::write(sb.work.join("teleclaude.toml"), "[integrator]\nmode = \"sometimes\"\n").unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("config");
    assert_eq!(d.fix("config").unwrap(), format!("${{EDITOR:-vi}} {}", sb.work.join("teleclaude.toml").display()));
}

#[test]
fn doctor_warns_about_skipped_log_lines_without_failing() {
    let sb = Sandbox::new();
    sb.install();
    let events = sb.work.join(".git/teleclaude/events.jsonl");
    fs::write(&events, "{\"v\":1}\nnot json at all\n{\"v\":1}\n{\"v\":").unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(d.ok(), "{}", d.human);
    let msg = d.message("log");
    assert!(msg.starts_with("events.jsonl: 3 lines; warning: 1 unreadable line skipped"), "{msg}");
    assert!(msg.contains("(first at byte 8)"), "{msg}");
    assert!(msg.contains("note: the last line is torn"), "{msg}");
}

#[test]
fn doctor_reports_a_hung_lease_with_the_break_command() {
    let sb = Sandbox::new();
    sb.install();
    let state = sb.work.join(".git/teleclaude");
    let meta = |expires: &str| {
        serde_json::json!({
            "key": "integration/main", "owner": "cron", "token": "t0k3n", "pid": std::process::id(),
            "host": teleclaude_integrator::hostname(), "acquired_at": "2024-01-01T00:00:00Z",
            "renewed_at": "2024-01-01T00:00:00Z", "expires_at": expires, "ttl_secs": 120
        })
        .to_string()
    };
    // Metadata left by a holder that died: stale, taken over by the next run — a note.
    fs::write(state.join("lease.json"), meta("2024-01-01T00:02:00Z")).unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(d.ok(), "{}", d.human);
    assert!(d.message("lease").starts_with("note: stale"), "{}", d.human);

    // The lock is held but the metadata expired: hung.
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(state.join("lease.lock"))
        .unwrap();
    let mut lock = fd_lock::RwLock::new(file);
    let _held = lock.write().unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    d.assert_fails("lease");
    assert!(d.message("lease").starts_with("hung: held by cron pid "), "{}", d.human);
    assert_eq!(d.fix("lease").unwrap(), "integrator lease break --force");

    // Held and renewed: fine.
    fs::write(state.join("lease.json"), meta("2999-01-01T00:00:00Z")).unwrap();
    let d = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(d.ok(), "{}", d.human);
    assert!(d.message("lease").starts_with("held by cron pid "), "{}", d.human);
}

#[test]
fn doctor_json_matches_its_schema() {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/state-schema/doctor.schema.json")).unwrap(),
    )
    .unwrap();
    let schema = jsonschema::JSONSchema::compile(&schema).unwrap();
    let sb = Sandbox::new();
    // Before install: failures with fixes; after: passes with null fixes.
    let before = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(!before.ok());
    sb.install();
    let after = doctor(&sb, &sb.work, installed_path(&sb));
    assert!(after.ok(), "{}", after.human);
    for d in [&before, &after] {
        assert!(schema.is_valid(&d.json), "{}", serde_json::to_string_pretty(&d.json).unwrap());
    }
    assert!(!schema.is_valid(&serde_json::json!({"ok": true, "findings": [{"check": "hook", "ok": true}]})));
}

#[test]
fn built_shims_carry_the_marker_the_doctor_looks_for() {
    use teleclaude_integrator::shim_marker::{is_shim, SHIM_MARKER};
    for name in ["git", "gh"] {
        assert!(
            is_shim(&crate::support::bin(name)),
            "the built `{name}` shim lacks {SHIM_MARKER}: call teleclaude_integrator::shim_marker::embed() in its main"
        );
    }
    assert!(!is_shim(&Sandbox::new().real_git()), "the real git must not look like a shim");
}
