//! `integrator fence`: the server-side `update` hook in the bare origin. An agent's push to
//! main is refused by the server even with `--no-verify` and no shims; a forged trailer
//! without a signature is refused; the integrator's signed merge is accepted.

use crate::support::{bin, Sandbox, CUTOVER};
use std::path::{Path, PathBuf};

/// An ed25519 key pair made by `ssh-keygen` and an allowed-signers file naming it.
fn signing_key(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let key = sb.root.join("integrator_key");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "integrator", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen (openssh-client) is needed for the fence tests");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let signers = sb.root.join("allowed_signers");
    std::fs::write(&signers, format!("integrator@example.com {}", public.trim())).unwrap();
    (key, signers)
}

fn fence(sb: &Sandbox, signers: &Path) -> String {
    let out = sb
        .integrator()
        .args(["fence", sb.origin.to_str().unwrap(), "--allowed-signers", signers.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git push` with the real git, no shims, no hook: only the server can refuse.
fn push(sb: &Sandbox, dir: &Path, args: &[&str]) -> std::process::Output {
    sb.cmd("git", dir).args(["push", "--no-verify"]).args(args).output().unwrap()
}

/// `commit` on origin carries an SSH signature by a key in `signers`.
fn assert_signed(sb: &Sandbox, signers: &Path, commit: &str) {
    let verify = sb
        .cmd("git", &sb.origin)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", commit])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}

/// A sandbox whose origin is fenced; the signing key, the allowed signers, origin's main.
fn fenced() -> (Sandbox, PathBuf, PathBuf, String) {
    let sb = Sandbox::new();
    let (key, signers) = signing_key(&sb);
    assert!(fence(&sb, &signers).contains("fenced"));
    assert!(fence(&sb, &signers).contains("already fenced"));
    let start = sb.origin_ref("main").unwrap();
    (sb, key, signers, start)
}

#[test]
fn the_fence_refuses_agents_and_forgeries() {
    let (sb, _, _, start) = fenced();

    // An agent's push to main: refused by the server, whatever the client skipped.
    sb.commit(&sb.work, "a.txt", "agent\n", "agent work");
    let out = push(&sb, &sb.work, &["origin", "HEAD:main"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("FENCE: refusing refs/heads/main"), "{err}");
    assert_eq!(sb.origin_ref("main").as_deref(), Some(start.as_str()));
    // Feature branches are not fenced.
    assert!(push(&sb, &sb.work, &["origin", "HEAD:refs/heads/agent"]).status.success());

    // A forged merge: our trailers, no signature.
    let forged = sb.git(&sb.work, &["commit-tree", "HEAD^{tree}", "-p", &start, "-p", "HEAD", "-m", &forged_message()]);
    let out = push(&sb, &sb.work, &["origin", &format!("{forged}:refs/heads/main")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("not signed"), "{err}");
    // Signed by a key the fence does not know.
    let other = sb.root.join("other_key");
    let gen =
        std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other).output();
    assert!(gen.unwrap().status.success());
    let signed_other = sb.git(
        &sb.work,
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={}", other.display()),
            "commit-tree",
            "-S",
            "HEAD^{tree}",
            "-p",
            &start,
            "-p",
            "HEAD",
            "-m",
            &forged_message(),
        ],
    );
    let out = push(&sb, &sb.work, &["origin", &format!("{signed_other}:refs/heads/main")]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.origin_ref("main").as_deref(), Some(start.as_str()));
}

#[test]
fn the_fence_accepts_the_integrators_signed_merge_and_nothing_that_rewinds_it() {
    let (sb, key, signers, start) = fenced();
    // The integrator, with integrator.signing_key set: its signed merge is accepted.
    sb.config(
        &CUTOVER.replace("mode = \"cutover\"\n", &format!("mode = \"cutover\"\nsigning_key = \"{}\"\n", key.display())),
    );
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    let out = sb.ok(&["run"]);
    let main = sb.origin_ref("main").unwrap();
    assert_ne!(main, start, "the signed merge did not land: {out}");
    assert!(sb.is_ancestor_of_main(&sha));
    assert_signed(&sb, &signers, &main);
    // Deleting or rewinding main is refused too.
    let out = push(&sb, &sb.work, &["origin", ":main"]);
    assert!(!out.status.success());
    let out = push(&sb, &sb.work, &["-f", "origin", &format!("{start}:refs/heads/main")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a fast-forward"));
    assert_eq!(sb.origin_ref("main").as_deref(), Some(main.as_str()));
}

fn forged_message() -> String {
    "Integrate s9 (agent@abc)\n\nIntegrated-Slug: s9\nIntegrated-Sha: 0000000000000000000000000000000000000000\n".into()
}

#[test]
fn fence_refuses_bad_input_and_a_foreign_update_hook() {
    let sb = Sandbox::new();
    let (_, signers) = signing_key(&sb);
    let run = |args: &[&str]| sb.cmd(bin("integrator"), &sb.work).args(args).output().unwrap();
    let out = run(&["fence", sb.work.to_str().unwrap(), "--allowed-signers", signers.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a non-bare repository");
    let empty = sb.root.join("empty_signers");
    std::fs::write(&empty, "# nobody\n").unwrap();
    let out = run(&["fence", sb.origin.to_str().unwrap(), "--allowed-signers", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.origin.join("hooks/update").exists());
    std::fs::write(sb.origin.join("hooks/update"), "#!/bin/sh\nexit 0\n").unwrap();
    let out = run(&["fence", sb.origin.to_str().unwrap(), "--allowed-signers", signers.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(sb.origin.join("hooks/update")).unwrap(), "#!/bin/sh\nexit 0\n");
}

/// `integrator.author` and `integrator.signing_key` together: the merge carries the
/// configured identity and is still signed, so the fence accepts it.
#[test]
fn a_configured_author_still_signs_its_merges() {
    let (sb, key, signers, start) = fenced();
    let extra = format!(
        "mode = \"cutover\"\nsigning_key = \"{}\"\nauthor = \"Integrator Bot <bot@example.com>\"\n",
        key.display()
    );
    sb.config(&CUTOVER.replace("mode = \"cutover\"\n", &extra));
    let sha = sb.branch("feat", "feat.txt", "feature\n");
    sb.ready("s1", "feat", &sha, "2026-01-01T10:00:00Z");
    let out = sb.ok(&["run"]);
    let main = sb.origin_ref("main").unwrap();
    assert_ne!(main, start, "the fence refused the merge: {out}");
    let who = sb.git(&sb.origin, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(who, "Integrator Bot <bot@example.com>");
    assert_signed(&sb, &signers, &main);
}
