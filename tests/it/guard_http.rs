//! Pushes over smart HTTP through the shims with the shadow exec-path in use: git's HTTP
//! remote helper runs `git send-pack --stateless-rpc` as its child, and that `git` is the
//! shim (README "Nested git", "Pushes over HTTP"). A real `git http-backend` serves origin.

use crate::support::guards::{ok, stderr, GuardSandbox as Sandbox};
use crate::support::http::HttpGit;

/// The guarded sandbox of the nested-git tests (a commit on `feature`), origin served over
/// HTTP; and origin's main before anything ran.
fn guarded() -> (Sandbox, HttpGit, String) {
    let (sb, main) = crate::guard_nested::guarded();
    let http = HttpGit::start(&sb);
    (sb, http, main)
}

#[test]
fn a_feature_branch_pushes_over_http_and_main_stays_refused() {
    let (sb, http, main) = guarded();
    let head = sb.rev(&sb.work, "HEAD");
    let out = sb.shim_git(&sb.work).args(["push", &http.url(), "feature"]).output().unwrap();
    ok(out);
    assert_eq!(sb.origin_ref("feature").as_deref(), Some(head.as_str()), "feature not on the server");
    // The same by an agent, through a configured remote, and fetched back over HTTP.
    sb.git(&sb.work, &["remote", "add", "web", &http.url()]);
    sb.commit(&sb.work, "g.txt", "g\n", "more work");
    let agent = |args: &[&str]| sb.shim_git(&sb.work).env("TELECLAUDE_SESSION_ID", "agent-1").args(args).output();
    ok(agent(&["push", "-q", "web", "feature"]).unwrap());
    assert_eq!(sb.origin_ref("feature"), Some(sb.rev(&sb.work, "HEAD")));
    ok(agent(&["fetch", "-q", "web"]).unwrap());
    // main: refused by our pre-push, nothing moved.
    let out = agent(&["push", "web", "HEAD:main"]).unwrap();
    assert!(!out.status.success(), "push to main went through:\n{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
}

#[test]
fn send_pack_by_hand_does_not_reach_main() {
    let (sb, http, main) = guarded();
    // git's helper form, run by hand: it talks on stdio only, so it moves nothing.
    let out = sb
        .shim_git(&sb.work)
        .env("TELECLAUDE_SESSION_ID", "agent-1")
        .args(["send-pack", "--stateless-rpc", "--helper-status", "--stdin", &http.url()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
    // Any other form is refused as before: here it would connect to the server itself.
    for extra in ["--no-stateless-rpc", "--receive-pack=git-receive-pack", "--"] {
        let out = sb
            .shim_git(&sb.work)
            .args(["send-pack", "--stateless-rpc", "--helper-status", "--stdin", extra, &http.url()])
            .arg("HEAD:refs/heads/main")
            .output()
            .unwrap();
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED: `git send-pack`"), "{extra}: {}", stderr(&out));
    }
    // git's HTTP helper driven by hand (it would run that send-pack and POST its request):
    // refused, only git's own transport starts it.
    let mut child = sb
        .shim_git(&sb.work)
        .args(["remote-http", "origin", &http.url()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The shim may refuse before reading stdin: a broken pipe is fine.
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"push HEAD:refs/heads/main\n\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED: `git remote-http` run by hand"), "{}", stderr(&out));
    assert_eq!(sb.origin_ref("main").unwrap(), main, "main moved");
}
