//! Row 7 of the guards (README "Nested git"): git puts its exec-path first on `PATH` for
//! the commands it runs, so without the shadow exec-path the `git` that `rebase -x`,
//! `bisect run`, a hook or a `!` alias runs is the real one. With it (install.sh builds it
//! through `integrator shims`) that `git` is the shim, for agents and everyone else.

use crate::support::guards::{ok, stderr, GuardSandbox as Sandbox};
use std::path::Path;

/// A guarded sandbox (hook installed, shim support built) with one commit on a feature
/// branch checked out in `work`; returns origin's main before anything ran.
pub(crate) fn guarded() -> (Sandbox, String) {
    let sb = Sandbox::new();
    sb.install_hook();
    sb.install_shim_support();
    sb.git(&sb.work, &["checkout", "-q", "-b", "feature"]);
    sb.commit(&sb.work, "f.txt", "f\n", "feature work");
    let main = sb.origin_ref("main").unwrap();
    (sb, main)
}

#[test]
fn a_push_run_by_rebase_exec_is_guarded_for_everyone() {
    let (sb, main) = guarded();
    let out = sb
        .shim_git(&sb.work)
        .args(["rebase", "-x", "git push --no-verify origin HEAD:main", "HEAD~1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "rebase went through:\n{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-verify"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // The dashed form, which git's exec-path also holds.
    sb.git(&sb.work, &["rebase", "--abort"]);
    let out = sb
        .shim_git(&sb.work)
        .args(["rebase", "-x", "git-push --no-verify origin HEAD:main", "HEAD~1"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // The refusal came from the shim inside git, recorded like any other.
    let log = std::fs::read_to_string(sb.state().join("guardrails.jsonl")).unwrap();
    assert!(log.contains(r#""argv":["git","push","--no-verify","origin","HEAD:main"]"#), "{log}");
}

#[test]
fn a_push_in_a_hook_or_bisect_run_is_guarded() {
    let (sb, main) = guarded();
    // A post-commit hook that pushes main, triggered by an ordinary commit.
    let hooks = sb.work.join(".git/hooks");
    crate::support::guards::write_exec(
        &hooks.join("post-commit"),
        "#!/bin/sh\ngit push --no-verify origin HEAD:main\necho \"hook push exit $?\" >&2\n",
    );
    sb.write(&sb.work, "g.txt", "g\n");
    sb.git(&sb.work, &["add", "g.txt"]);
    let out = sb.shim_git(&sb.work).args(["commit", "-q", "-m", "g"]).output().unwrap();
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hook push exit 1"), "{}", stderr(&out));
    std::fs::remove_file(hooks.join("post-commit")).unwrap();
    // `bisect run` with a script that pushes.
    let bad = sb.rev(&sb.work, "HEAD");
    let out = sb.shim_git(&sb.work).args(["bisect", "start", &bad, "HEAD~2"]).output().unwrap();
    ok(out);
    let out = sb
        .shim_git(&sb.work)
        .args(["bisect", "run", "sh", "-c", "git push --no-verify origin HEAD:main; exit 0"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
}

#[test]
fn another_exec_path_cannot_take_the_shim_out_of_git() {
    let (sb, main) = guarded();
    let real_exec = sb.git(&sb.root, &["--exec-path"]);
    let real_exec = real_exec.trim();
    // In the environment: the shim puts its shadow back.
    let out = sb
        .shim_git(&sb.work)
        .env("GIT_EXEC_PATH", real_exec)
        .args(["rebase", "-x", "git push --no-verify origin HEAD:main", "HEAD~1"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    // On the command line, where git would prefer it to the environment: refused.
    let out = sb
        .shim_git(&sb.work)
        .arg(format!("--exec-path={real_exec}"))
        .args(["rebase", "-x", "git push --no-verify origin HEAD:main", "HEAD~1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED: `git --exec-path="), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Any command, not only those that run commands: `commit` runs hooks, which run git.
    let head = sb.rev(&sb.work, "HEAD");
    let commit = [&format!("--exec-path={real_exec}"), "commit", "-q", "--allow-empty", "-m", "x"];
    let out = sb.shim_git(&sb.work).args(commit).output().unwrap();
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED: `git --exec-path="), "{}", stderr(&out));
    assert_eq!(sb.rev(&sb.work, "HEAD"), head, "the commit ran");
    // Near miss: asking for the exec-path is fine, and names the shadow.
    let out = ok(sb.shim_git(&sb.work).arg("--exec-path").output().unwrap());
    assert_eq!(out.trim(), sb.shadow().to_str().unwrap());
}

/// Read the shadow's links: name → target.
fn link(dir: &Path, name: &str) -> String {
    std::fs::read_link(dir.join(name)).unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_shadow_mirrors_the_real_exec_path_is_refreshed_and_checked_by_doctor() {
    let sb = Sandbox::new();
    sb.install_hook();
    // As install.sh records it, so that doctor finds the shim dir.
    let hook = sb.work.join(".git/hooks/pre-push");
    let text = std::fs::read_to_string(&hook).unwrap();
    let begin = teleclaude_integrator::parse::HOOK_BEGIN;
    let text = text.replace(begin, &format!("{begin}\n# shims: {}", sb.shims.display()));
    std::fs::write(&hook, text).unwrap();
    let first = sb.install_shim_support();
    assert!(first.contains("git-exec-path"), "{first}");
    let shadow = sb.shadow();
    let real_exec = sb.git(&sb.root, &["--exec-path"]);
    let real_exec = std::fs::canonicalize(real_exec.trim()).unwrap();
    assert_eq!(link(&shadow, "git"), "../git");
    // A builtin's dashed form is the shim too; every other program is the real one.
    assert_eq!(link(&shadow, "git-push"), "../git");
    assert_eq!(link(&shadow, "git-sh-setup"), real_exec.join("git-sh-setup").to_string_lossy());
    // Again: nothing to do, nothing printed.
    assert_eq!(sb.install_shim_support(), "");
    let doctor = |sb: &Sandbox| {
        let out = sb.command(crate::support::bin("integrator"), &sb.work).arg("doctor").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(doctor(&sb).contains("ok   exec-path: "), "{}", doctor(&sb));
    // Built for another git (the file was replaced): `.real-git` names another file on the
    // same device, in the real git's own directory. The shim does not use the shadow.
    use std::os::unix::fs::MetadataExt;
    let git_file = std::fs::canonicalize(&sb.real_git).unwrap();
    let git_ino = std::fs::metadata(&git_file).unwrap().ino();
    let other = std::fs::read_dir(git_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.ino() != git_ino))
        .expect("another file beside the real git");
    let built_for = std::fs::read_link(shadow.join(".real-git")).unwrap();
    std::fs::remove_file(shadow.join(".real-git")).unwrap();
    std::os::unix::fs::symlink(&other, shadow.join(".real-git")).unwrap();
    let out = ok(sb.shim_git(&sb.work).arg("--exec-path").output().unwrap());
    assert_eq!(Path::new(out.trim()), real_exec.as_path(), "a shadow built for {} was used", other.display());
    std::fs::remove_file(shadow.join(".real-git")).unwrap();
    std::os::unix::fs::symlink(built_for, shadow.join(".real-git")).unwrap();
    // git moved (an upgrade into a new versioned dir): the old links dangle. The shim stops
    // using the shadow (git keeps working), doctor fails with the fix.
    std::fs::remove_file(shadow.join(".exec-path")).unwrap();
    std::os::unix::fs::symlink(sb.root.join("gone/libexec/git-core"), shadow.join(".exec-path")).unwrap();
    let out = ok(sb.shim_git(&sb.work).arg("--exec-path").output().unwrap());
    assert_eq!(Path::new(out.trim()), real_exec.as_path(), "a stale shadow must not be used");
    let report = doctor(&sb);
    assert!(report.contains("FAIL exec-path: ") && report.contains("is stale"), "{report}");
    // It names what differs, not what still matches.
    assert!(report.contains("built for another git: .exec-path") && !report.contains(".real-git"), "{report}");
    assert!(report.contains(&format!("fix: integrator shims --shim-dir {}", sb.shims.display())), "{report}");
    // Missing altogether.
    std::fs::remove_dir_all(&shadow).unwrap();
    assert!(doctor(&sb).contains("FAIL exec-path: ") && doctor(&sb).contains("is missing"));
    // The fix puts it back.
    assert!(sb.install_shim_support().contains("git-exec-path"));
    assert!(doctor(&sb).contains("ok   exec-path: "));
    let out = ok(sb.shim_git(&sb.work).arg("--exec-path").output().unwrap());
    assert_eq!(out.trim(), shadow.to_str().unwrap());
}
