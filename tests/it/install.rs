//! install.sh (SPEC §13): what it writes, that a second run changes nothing, that the
//! hook fails closed, and that --uninstall puts back exactly what was there.

use crate::support::{show, write_exec, Sandbox, INSTALL_SH};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use teleclaude_integrator::parse::{parse_hook_block, HOOK_BEGIN, HOOK_END};

/// Every file under `dir`: relative path → (mode, bytes); a symlink as (0, its target).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path_is_symlink() || e.path().is_file())
        .map(|e| {
            if e.path_is_symlink() {
                let target = fs::read_link(e.path()).unwrap();
                return (
                    e.path().strip_prefix(dir).unwrap().to_path_buf(),
                    (0, target.as_os_str().as_bytes().to_vec()),
                );
            }
            let meta = fs::metadata(e.path()).unwrap();
            (
                e.path().strip_prefix(dir).unwrap().to_path_buf(),
                (meta.permissions().mode(), fs::read(e.path()).unwrap()),
            )
        })
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Push `HEAD` of `dir` to `refs/heads/<branch>` on origin with the real git.
fn push(sb: &Sandbox, dir: &Path, branch: &str) -> std::process::Output {
    sb.git_out(dir, &["push", "origin", &format!("HEAD:refs/heads/{branch}")])
}

#[test]
fn install_writes_hook_binaries_config_and_prints_the_lines() {
    let sb = Sandbox::new();
    let out = sb.install();
    let text = stdout(&out);
    let hook = sb.hooks_dir().join("pre-push");
    let script = fs::read_to_string(&hook).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains(&format!("\n{HOOK_BEGIN}\n")), "{script}");
    assert!(script.ends_with(&format!("\n{HOOK_END}\n")), "{script}");
    let block = parse_hook_block(&script).expect("a complete marker block");
    assert_eq!(block.target, sb.bin_dir().join("pre-push"));
    assert_eq!(block.shim_dir, Some(sb.shim_dir()));
    assert_eq!(fs::metadata(&hook).unwrap().permissions().mode() & 0o111, 0o111);
    for (dir, name, from) in [
        (sb.bin_dir(), "integrator", env!("CARGO_BIN_EXE_integrator")),
        (sb.bin_dir(), "pre-push", env!("CARGO_BIN_EXE_pre-push")),
    ] {
        assert_eq!(fs::read(dir.join(name)).unwrap(), fs::read(from).unwrap());
    }
    assert_eq!(fs::read(sb.shim_dir().join("git")).unwrap(), fs::read(sb.stage().join("git")).unwrap());
    let config = fs::read_to_string(sb.work.join(".git/teleclaude/config.toml")).unwrap();
    assert!(config.contains("[integrator]\n"), "{config}");
    assert!(config.contains("\nmode = \"shadow\"\n"), "{config}");
    let (shims, bin) = (sb.shim_dir(), sb.bin_dir());
    let path_line = format!("export PATH=\"{}:{}:$PATH\"", shims.display(), bin.display());
    assert!(text.contains(&path_line), "{text}");
    let cron = text
        .lines()
        .find(|l| l.trim_start().starts_with("*/5 * * * * "))
        .unwrap_or_else(|| panic!("no crontab line in:\n{text}"));
    assert!(
        cron.contains(&format!("cd '{}' && PATH={}:{}:", sb.work.display(), shims.display(), bin.display())),
        "{cron}"
    );
    assert!(cron.ends_with(" integrator run --quiet"), "{cron}");
    // The fleet's agent computers: a sync-only line.
    let agent = text
        .lines()
        .find(|l| l.trim_start().starts_with("* * * * * "))
        .unwrap_or_else(|| panic!("no agent crontab line in:\n{text}"));
    assert!(agent.contains(&format!("cd '{}' && PATH=", sb.work.display())), "{agent}");
    assert!(agent.ends_with(" integrator sync --quiet"), "{agent}");
    assert!(text.contains("\nself-test: ok\n"), "{text}");
    assert!(!text.contains("already installed"), "{text}");
    // Beside the shims: the shadow exec-path whose git is the shim, the hooks dir, and
    // origin as a guarded remote (README "Nested git", "Guarded remotes").
    let shadow = sb.shim_dir().join("git-exec-path");
    assert_eq!(fs::read_link(shadow.join("git")).unwrap(), Path::new("../git"));
    assert!(parse_hook_block(&fs::read_to_string(sb.shim_dir().join("hooks/pre-push")).unwrap()).is_some());
    let registry = fs::read_to_string(sb.shim_dir().join("guarded-remotes")).unwrap();
    let origin = fs::canonicalize(&sb.origin).unwrap();
    let common = fs::canonicalize(sb.work.join(".git")).unwrap();
    assert_eq!(
        registry,
        format!("file://{}\t{}\n", origin.to_str().unwrap().trim_end_matches(".git"), common.display())
    );
}

#[test]
fn second_install_changes_nothing_and_says_already_installed() {
    let sb = Sandbox::new();
    sb.install();
    let hooks = snapshot(&sb.hooks_dir());
    let bin = snapshot(&sb.bin_dir());
    let shims = snapshot(&sb.shim_dir());
    let state = snapshot(&sb.work.join(".git/teleclaude"));
    let out = sb.install();
    assert!(stdout(&out).contains("already installed"), "{}", show(&out));
    assert!(!stdout(&out).contains("\nwrote "), "{}", show(&out));
    assert_eq!(snapshot(&sb.hooks_dir()), hooks);
    assert_eq!(snapshot(&sb.bin_dir()), bin);
    assert_eq!(snapshot(&sb.shim_dir()), shims);
    assert_eq!(snapshot(&sb.work.join(".git/teleclaude")), state);
}

#[test]
fn foreign_hook_is_kept_as_local_and_restored_by_uninstall() {
    let sb = Sandbox::new();
    let hooks = sb.hooks_dir();
    let foreign = "#!/bin/sh\n# the team's own checks\nexit 0\n";
    write_exec(&hooks.join("pre-push"), foreign);
    let before = snapshot(&hooks);
    sb.install();
    assert_eq!(fs::read_to_string(hooks.join("pre-push.local")).unwrap(), foreign);
    assert!(parse_hook_block(&fs::read_to_string(hooks.join("pre-push")).unwrap()).is_some());
    // A re-install never moves our own hook over the preserved one.
    sb.install();
    assert_eq!(fs::read_to_string(hooks.join("pre-push.local")).unwrap(), foreign);

    let out = sb.install_sh(&sb.work, &["--uninstall"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(snapshot(&hooks), before, "hooks dir not restored byte for byte");
    for p in [
        sb.bin_dir().join("integrator"),
        sb.bin_dir().join("pre-push"),
        sb.shim_dir().join("git"),
        sb.shim_dir().join("gh"),
        sb.shim_dir().join("git-exec-path"),
        sb.shim_dir().join("hooks"),
        sb.shim_dir().join("guarded-remotes"),
    ] {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    // State and config are data: they stay.
    assert!(sb.work.join(".git/teleclaude/config.toml").is_file());
}

#[test]
fn uninstall_finds_custom_dirs_from_the_hook_and_purge_deletes_state() {
    let sb = Sandbox::new();
    sb.install();
    let hooks_before = fs::read_dir(sb.hooks_dir()).unwrap().count();
    // No --bin-dir/--shim-dir: uninstall reads them back from the hook block.
    let out = sb.cmd("bash", &sb.work).args([INSTALL_SH, "--uninstall", "--purge"]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(!sb.hooks_dir().join("pre-push").exists());
    assert_eq!(fs::read_dir(sb.hooks_dir()).unwrap().count(), hooks_before - 1);
    assert!(!sb.bin_dir().join("pre-push").exists(), "{}", show(&out));
    assert!(!sb.shim_dir().join("git").exists(), "{}", show(&out));
    assert!(!sb.work.join(".git/teleclaude").exists());
    let again = sb.install_sh(&sb.work, &["--uninstall"]);
    assert!(stdout(&again).contains("nothing to remove"), "{}", show(&again));
}

#[test]
fn hook_fails_closed_when_the_pre_push_binary_is_missing() {
    let sb = Sandbox::new();
    sb.install();
    fs::remove_file(sb.bin_dir().join("pre-push")).unwrap();
    let hook = sb.hooks_dir().join("pre-push");

    let direct = sb.cmd(&hook, &sb.work).args(["origin", sb.origin.to_str().unwrap()]).output().unwrap();
    assert_eq!(direct.status.code(), Some(1), "{}", show(&direct));
    assert!(stderr(&direct).contains("missing or not executable"), "{}", show(&direct));

    sb.git(&sb.work, &["commit", "-q", "--allow-empty", "-m", "feature work"]);
    let pushed = push(&sb, &sb.work, "feature");
    assert!(!pushed.status.success(), "push went through:\n{}", show(&pushed));
    assert!(stderr(&pushed).contains("pre-push guard"), "{}", show(&pushed));
    assert_eq!(sb.origin_ref("feature"), None);

    // Not executable is as bad as missing.
    sb.install();
    let bin = sb.bin_dir().join("pre-push");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o644)).unwrap();
    let pushed = push(&sb, &sb.work, "feature");
    assert!(!pushed.status.success(), "{}", show(&pushed));
    assert_eq!(sb.origin_ref("feature"), None);
}

#[test]
fn linked_worktrees_share_the_guarded_hooks_dir() {
    let sb = Sandbox::new();
    let wt = sb.root.join("wt");
    sb.git(&sb.work, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
    // REPO defaults to the repository of the current directory, a linked worktree here.
    let out = sb.install_sh(&wt, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let hooks = sb.hooks_dir();
    assert!(hooks.join("pre-push").is_file());
    let wt_hooks = sb.git(&wt, &["rev-parse", "--path-format=absolute", "--git-path", "hooks"]);
    assert_eq!(Path::new(wt_hooks.trim()), hooks);
    // The cron line runs from the main working tree, which outlives linked worktrees.
    assert!(stdout(&out).contains(&format!("cd '{}' &&", sb.work.display())), "{}", show(&out));

    // The push from the linked worktree runs the hook: with its binary gone it is refused.
    fs::remove_file(sb.bin_dir().join("pre-push")).unwrap();
    sb.git(&wt, &["commit", "-q", "--allow-empty", "-m", "in the worktree"]);
    let pushed = push(&sb, &wt, "feature");
    assert!(!pushed.status.success(), "{}", show(&pushed));
    assert!(stderr(&pushed).contains("pre-push guard"), "{}", show(&pushed));
    assert_eq!(sb.origin_ref("feature"), None);
}

#[test]
fn core_hooks_path_is_refused_unless_followed() {
    let sb = Sandbox::new();
    let custom = sb.root.join("shared-hooks");
    fs::create_dir_all(&custom).unwrap();
    sb.git(&sb.work, &["config", "core.hooksPath", custom.to_str().unwrap()]);

    let out = sb.install_sh(&sb.work, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("core.hooksPath is set"), "{}", show(&out));
    assert!(stderr(&out).contains("--follow-hooks-path"), "{}", show(&out));
    assert!(!custom.join("pre-push").exists());
    assert!(!sb.work.join(".git/hooks/pre-push").exists());
    assert!(!sb.bin_dir().exists(), "refused, yet installed binaries");

    let out = sb.install_sh(&sb.work, &["--follow-hooks-path"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(parse_hook_block(&fs::read_to_string(custom.join("pre-push")).unwrap()).is_some());
    assert!(!sb.work.join(".git/hooks/pre-push").exists());
}

#[test]
fn default_config_is_written_once_and_never_overwritten() {
    let sb = Sandbox::new();
    let config = sb.work.join(".git/teleclaude/config.toml");
    sb.install();
    let mine = "[integrator]\nmode = \"off\"\nremote = \"upstream\"\n";
    fs::write(&config, mine).unwrap();
    sb.install();
    assert_eq!(fs::read_to_string(&config).unwrap(), mine);
    let out = sb.install_sh(&sb.work, &["--uninstall"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(fs::read_to_string(&config).unwrap(), mine);
}

#[test]
fn bad_flags_are_usage_errors() {
    let sb = Sandbox::new();
    for (args, says) in [
        (&["--bogus"][..], "unknown option '--bogus'"),
        (&["--bin-dir"][..], "--bin-dir needs a directory"),
        (&["--purge"][..], "--purge only goes with --uninstall"),
        (&["one", "two"][..], "unexpected argument 'two'"),
    ] {
        let out = sb.cmd("bash", &sb.work).arg(INSTALL_SH).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", show(&out));
        assert!(stderr(&out).contains(says), "{args:?}\n{}", show(&out));
    }
    let not_a_repo = sb.install_sh(&sb.root, &[]);
    assert_eq!(not_a_repo.status.code(), Some(2), "{}", show(&not_a_repo));
    assert!(stderr(&not_a_repo).contains("is not inside a git repository"));
    let help = sb.cmd("bash", &sb.work).args([INSTALL_SH, "--help"]).output().unwrap();
    assert!(help.status.success() && stdout(&help).starts_with("usage: ./install.sh"));
}

#[test]
fn windows_is_refused() {
    let sb = Sandbox::new();
    let fake = sb.root.join("fake-bin");
    write_exec(&fake.join("uname"), "#!/bin/sh\necho MINGW64_NT-10.0\n");
    let path = format!("{}:{}", fake.display(), sb.path.to_str().unwrap());
    let out = sb.cmd("bash", &sb.work).arg(INSTALL_SH).env("PATH", path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("Windows"), "{}", show(&out));
    assert!(!sb.work.join(".git/hooks/pre-push").exists());
}

/// A from-dir of stand-in binaries: `pre-push` exits with `hook_exit`, `integrator` echoes
/// its argv.
fn fake_build(sb: &Sandbox, dir: &Path, hook_exit: i32) {
    write_exec(&dir.join("integrator"), "#!/bin/sh\necho \"integrator called with: $*\"\n");
    write_exec(&dir.join("pre-push"), &format!("#!/bin/sh\necho 'guard says no' >&2\nexit {hook_exit}\n"));
    for name in ["git", "gh"] {
        crate::support::copy_executable(&sb.stage().join(name), &dir.join(name));
    }
}

#[test]
fn failing_self_test_fails_the_install() {
    let sb = Sandbox::new();
    let from = sb.root.join("broken-build");
    fake_build(&sb, &from, 3);
    let out = sb
        .cmd("bash", &sb.work)
        .args([INSTALL_SH, "--bin-dir", sb.bin_dir().to_str().unwrap(), "--shim-dir", sb.shim_dir().to_str().unwrap()])
        .env("TELECLAUDE_INSTALL_FROM", &from)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("self-test: the installed hook"), "{}", show(&out));
    assert!(stderr(&out).contains("exited 3"), "{}", show(&out));
    assert!(!stdout(&out).contains("self-test: ok"), "{}", show(&out));
}

#[test]
fn demo_runs_the_built_integrator_demo() {
    let sb = Sandbox::new();
    let from = sb.root.join("build");
    fake_build(&sb, &from, 0);
    let out =
        sb.cmd("bash", &sb.root).args([INSTALL_SH, "--demo"]).env("TELECLAUDE_INSTALL_FROM", &from).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(stdout(&out), "integrator called with: demo\n");
    assert!(!sb.bin_dir().exists() && !sb.hooks_dir().join("pre-push").exists(), "--demo installed something");
}

#[test]
fn fresh_release_binaries_are_used_without_building() {
    let sb = Sandbox::new();
    // CARGO_TARGET_DIR/release holds binaries newer than every source: no cargo needed
    // (the one named is not there).
    let target = sb.root.join("target");
    fake_build(&sb, &target.join("release"), 0);
    let run = || {
        sb.cmd("bash", &sb.work)
            .args([
                INSTALL_SH,
                "--bin-dir",
                sb.bin_dir().to_str().unwrap(),
                "--shim-dir",
                sb.shim_dir().to_str().unwrap(),
            ])
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO", sb.root.join("no-such-cargo"))
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", show(&out));
    assert!(!stdout(&out).contains("building"), "{}", show(&out));
    assert_eq!(
        fs::read(sb.bin_dir().join("integrator")).unwrap(),
        fs::read(target.join("release/integrator")).unwrap()
    );

    // A missing binary needs a build, and without cargo that is a clear error.
    fs::remove_file(target.join("release/gh")).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("cargo is needed"), "{}", show(&out));
    assert!(stderr(&out).contains("no-such-cargo"), "{}", show(&out));
}

/// git changed under the shims (here: a program the shadow exec-path lacks, as after an
/// upgrade that adds one): install refreshes the links instead of saying "already installed".
#[test]
fn a_reinstall_refreshes_a_stale_shadow_exec_path() {
    let sb = Sandbox::new();
    sb.install();
    let shadow = sb.shim_dir().join("git-exec-path");
    fs::remove_file(shadow.join("git-sh-setup")).unwrap();
    let out = sb.install();
    assert!(!stdout(&out).contains("already installed"), "{}", show(&out));
    assert!(stdout(&out).contains(&format!("wrote {}", shadow.display())), "{}", show(&out));
    assert!(fs::symlink_metadata(shadow.join("git-sh-setup")).is_ok());
    assert!(stdout(&sb.install()).contains("already installed"));
}
