//! `integrator doctor`'s `github-rules` check: for a remote on GitHub it asks the real
//! `gh` (here a script the test puts on PATH that prints responses shaped as GitHub's REST
//! documentation shows them, tests/data/github) whether only the integrator can update
//! main. No network: the script is the only gh.

use crate::support::{write_exec, Sandbox, CUTOVER};
use serde_json::Value;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/github");

/// A sandbox whose origin is `https://github.com/acme/widgets.git` (nothing is fetched).
fn on_github() -> Sandbox {
    let sb = Sandbox::new();
    sb.git(&sb.work, &["remote", "set-url", "origin", "https://github.com/acme/widgets.git"]);
    sb
}

/// A `gh` that answers `gh api ENDPOINT` from `answers` (endpoint → data file, or None:
/// a 404 body and exit 1), logs its argv, and fails as an unauthenticated gh with `auth`.
fn fake_gh(sb: &Sandbox, answers: &[(&str, Option<&str>)], auth: bool) -> PathBuf {
    let dir = sb.root.join("fake-gh");
    std::fs::create_dir_all(&dir).unwrap();
    let mut script = format!("#!/bin/sh\necho \"$*\" >> {}/calls.log\n", dir.display());
    if !auth {
        script.push_str("echo 'To get started with GitHub CLI, please run:  gh auth login' >&2\nexit 4\n");
    }
    script.push_str("case \"$*\" in\n");
    for (endpoint, file) in answers {
        match file {
            Some(f) => script.push_str(&format!("  'api {endpoint}') cat {DATA}/{f} ;;\n")),
            None => script.push_str(&format!(
                "  'api {endpoint}') cat {DATA}/not-protected.json; echo 'gh: Branch not protected (HTTP 404)' >&2; exit 1 ;;\n"
            )),
        }
    }
    script.push_str("  *) echo \"unexpected: $*\" >&2; exit 2 ;;\nesac\n");
    write_exec(&dir.join("gh"), &script);
    dir
}

/// The `github-rules` finding of `integrator doctor --json` with `dir` first on PATH.
fn finding(sb: &Sandbox, dir: Option<&Path>) -> Value {
    let mut path: Vec<PathBuf> = dir.into_iter().map(Path::to_path_buf).collect();
    path.extend(std::env::split_paths(&sb.path));
    let out = sb.integrator().env("PATH", std::env::join_paths(path).unwrap()).args(["doctor", "--json"]).output();
    let json: Value = serde_json::from_slice(&out.unwrap().stdout).unwrap();
    let found: Vec<&Value> =
        json["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "github-rules").collect();
    assert_eq!(found.len(), 1, "{json:#}");
    found[0].clone()
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// A sandbox on GitHub whose gh answers the branch's rules from the file `rules` and one
/// more endpoint under `repos/acme/widgets/`; the `github-rules` finding of its doctor.
fn asked(rules: &str, then: (&str, Option<&str>)) -> (Sandbox, PathBuf, Value) {
    let sb = on_github();
    let endpoint = format!("repos/acme/widgets/{}", then.0);
    let gh = fake_gh(&sb, &[("repos/acme/widgets/rules/branches/main", Some(rules)), (&endpoint, then.1)], true);
    let f = finding(&sb, Some(&gh));
    (sb, gh, f)
}

#[test]
fn a_ruleset_that_only_the_integrator_bypasses_passes() {
    let (_sb, gh, f) = asked("rules-update.json", ("rulesets/42", Some("ruleset-42.json")));
    assert_eq!(f["ok"], true, "{f}");
    let message = f["message"].as_str().unwrap();
    assert!(message.starts_with("acme/widgets: rulesets restrict updates and deletion of main"), "{message}");
    assert!(message.contains("Integration 987654 (always, ruleset 42)"), "{message}");
    assert_eq!(calls(&gh), "api repos/acme/widgets/rules/branches/main\napi repos/acme/widgets/rulesets/42\n");
}

#[test]
fn classic_protection_is_read_when_no_ruleset_restricts_updates() {
    let protection = ("branches/main/protection", Some("protection-restricted.json"));
    let (_sb, _gh, f) = asked("rules-pull-request.json", protection);
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(
        f["message"],
        "acme/widgets: branch protection: only user integrator-bot can push to main; signed commits required"
    );
}

#[test]
fn an_open_main_warns_before_cutover_and_fails_after() {
    let (sb, gh, f) = asked("rules-pull-request.json", ("branches/main/protection", None));
    assert_eq!(f["ok"], true, "{f}");
    assert!(
        f["message"].as_str().unwrap().starts_with("warning: acme/widgets: no ruleset and no branch protection"),
        "{f}"
    );
    sb.config(CUTOVER);
    let f = finding(&sb, Some(&gh));
    assert_eq!(f["ok"], false, "{f}");
    assert!(f["message"].as_str().unwrap().contains("anyone with write access can push it"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("https://github.com/acme/widgets/settings/rules/new"), "{f}");
}

#[test]
fn a_gh_that_is_not_logged_in_or_missing_is_a_warning() {
    let sb = on_github();
    let gh = fake_gh(&sb, &[], false);
    let f = finding(&sb, Some(&gh));
    assert_eq!(f["ok"], true, "{f}");
    let message = f["message"].as_str().unwrap();
    assert!(message.starts_with("warning: `gh api repos/acme/widgets/rules/branches/main` failed"), "{message}");
    assert!(message.contains("gh auth status"), "{message}");
    if let Some(real) =
        ["/usr/bin/gh", "/usr/local/bin/gh", "/opt/homebrew/bin/gh", "/bin/gh"].iter().find(|p| Path::new(p).exists())
    {
        crate::support::cannot_run(&format!("{real} is installed, so doctor would find a gh"));
        return;
    }
    let f = finding(&sb, None);
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(f["message"], "warning: gh is not installed: who may update main on GitHub was not checked");
}

#[test]
fn a_remote_elsewhere_is_not_asked_about() {
    let sb = Sandbox::new();
    let gh = fake_gh(&sb, &[], true);
    let mut doctor = sb.integrator();
    doctor.env("PATH", format!("{}:{}", gh.display(), sb.path.to_str().unwrap())).args(["doctor", "--json"]);
    let json: Value = serde_json::from_slice(&doctor.output().unwrap().stdout).unwrap();
    assert!(json["findings"].as_array().unwrap().iter().all(|f| f["check"] != "github-rules"), "{json:#}");
    assert_eq!(calls(&gh), "");
}
