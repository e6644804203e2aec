//! README's Quick start, run line by line as a newcomer in a container would: `$USER`
//! unset, `HOME` a fresh empty directory. The lines are read from README.md itself, so
//! the doc and this test cannot drift apart.

use crate::support::Sandbox;
use std::path::Path;

/// The commands of the first ```sh block under "## Quick start", one per line.
fn quick_start_lines(readme: &str) -> Vec<String> {
    let section = readme.split("\n## Quick start\n").nth(1).expect("README has a Quick start section");
    let section = section.split("\n## ").next().unwrap();
    let block = section.split("```sh\n").nth(1).expect("Quick start has a ```sh block");
    let block = block.split("\n```").next().unwrap();
    block.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).map(String::from).collect()
}

#[test]
fn readme_quick_start_works_without_user_and_with_an_empty_home() {
    let sb = Sandbox::new();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("README.md")).unwrap();
    let lines = quick_start_lines(&readme);
    assert!(lines.len() >= 8, "{lines:?}");
    assert!(lines[0].starts_with("./install.sh /path/to/repo"), "install comes first: {lines:?}");
    let home = sb.root.join("fresh-home");
    std::fs::create_dir(&home).unwrap();
    // One shell, so `export` and `cd` carry over as they do for a person; each line is
    // echoed first and the first failing one stops the script and is named.
    let mut script = String::from("set -euo pipefail\ntrap 'echo \"QUICKSTART FAILED: $BASH_COMMAND\" >&2' ERR\n");
    for line in &lines {
        let line = line.replace("/path/to/repo", &sb.work.to_string_lossy());
        script.push_str(&format!("echo \"\\$ \"{}\n{line}\n", shell_words(&line)));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(manifest)
        .env_clear()
        .env("PATH", &sb.path)
        .env("HOME", &home)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        // Built by this test run: install.sh copies these instead of a release build.
        .env("TELECLAUDE_INSTALL_FROM", sb.stage())
        // A fresh HOME has no git identity; the newcomer's own commit needs one.
        .env("GIT_AUTHOR_NAME", "New User")
        .env("GIT_AUTHOR_EMAIL", "new@example.com")
        .env("GIT_COMMITTER_NAME", "New User")
        .env("GIT_COMMITTER_EMAIL", "new@example.com")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- quick start stdout\n{stdout}--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "the quick start failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("sandbox deleted (run `integrator demo --keep`"), "{stdout}");
    assert!(stdout.contains("READY"), "{stdout}");
    let outcomes = crate::support::jsonl(&sb.state().join("outcomes.jsonl"));
    assert!(
        outcomes
            .iter()
            .any(|o| o["key"].as_str().is_some_and(|k| k.starts_with("login-form:"))
                && o["outcome"] == "would_integrate"),
        "{outcomes:?}"
    );
    assert!(home.join(".teleclaude/bin/integrator").exists(), "installed under the fresh HOME");
}

/// `s` as one single-quoted shell word.
fn shell_words(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
