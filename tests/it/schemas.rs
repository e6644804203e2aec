//! The JSON Schemas in `state-schema/`: every sample is accepted or rejected as its name
//! says, and the state files and `--json` outputs the binaries really write match them.

use crate::support::{bin, Sandbox};
use jsonschema::{Draft, JSONSchema};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("state-schema")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every schema of `state-schema/`, compiled, by name (`queue` for `queue.schema.json`).
pub(crate) struct Schemas {
    compiled: BTreeMap<String, JSONSchema>,
}

impl Schemas {
    pub(crate) fn load() -> Schemas {
        let mut docs = BTreeMap::new();
        for entry in std::fs::read_dir(schema_dir()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(name) = file.strip_suffix(".schema.json") {
                docs.insert(name.to_string(), read_json(&path));
            }
        }
        let mut options = JSONSchema::options();
        options.with_draft(Draft::Draft7).should_validate_formats(true);
        // Cross-file `$ref`s resolve through their `$id`s, never through the network.
        for (name, doc) in &docs {
            let id = doc["$id"].as_str().unwrap_or_else(|| panic!("{name}.schema.json has no $id"));
            assert_eq!(id, format!("https://teleclaude.dev/state-schema/{name}.schema.json"), "$id of {name}");
            options.with_document(id.to_string(), doc.clone());
        }
        let compiled = docs
            .iter()
            .map(|(name, doc)| {
                let schema = options
                    .compile(doc)
                    .unwrap_or_else(|e| panic!("{name}.schema.json is not a valid draft-07 schema: {e}"));
                (name.clone(), schema)
            })
            .collect();
        Schemas { compiled }
    }

    /// Every violation of `instance` against schema `name`, readable: where in the
    /// instance, what is wrong, and which schema rule says so.
    pub(crate) fn violations(&self, name: &str, instance: &Value) -> Vec<String> {
        let schema = self.compiled.get(name).unwrap_or_else(|| panic!("no schema {name}.schema.json"));
        match schema.validate(instance) {
            Ok(()) => Vec::new(),
            Err(errors) => {
                errors.map(|e| format!("at `{}`: {e} (schema rule `{}`)", e.instance_path, e.schema_path)).collect()
            }
        }
    }
}

/// Validates real documents and collects every failure, so one run shows them all.
struct Checker {
    schemas: Schemas,
    failures: Vec<String>,
    checked: BTreeMap<String, usize>,
}

impl Checker {
    fn new() -> Checker {
        Checker { schemas: Schemas::load(), failures: Vec::new(), checked: BTreeMap::new() }
    }

    fn check(&mut self, schema: &str, what: &str, instance: &Value) {
        *self.checked.entry(schema.to_string()).or_default() += 1;
        let v = self.schemas.violations(schema, instance);
        if !v.is_empty() {
            self.failures.push(format!(
                "{what} does not match {schema}.schema.json:\n    {}\n  document: {}",
                v.join("\n    "),
                serde_json::to_string(instance).unwrap()
            ));
        }
    }

    /// Validate a `--json` output of the integrator.
    fn output(&mut self, sb: &Sandbox, schema: &str, args: &[&str]) -> Value {
        let out = sb.ok(args);
        let value: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`integrator {}` is not JSON: {e}\n{out}", args.join(" ")));
        self.check(schema, &format!("`integrator {}`", args.join(" ")), &value);
        value
    }

    /// Validate the `--json` output of a command that exits with `code`.
    fn output_exiting(&mut self, sb: &Sandbox, schema: &str, args: &[&str], code: i32) -> Value {
        let (got, out, err) = sb.run(args);
        assert_eq!(got, code, "`integrator {}` exited {got}\n{out}{err}", args.join(" "));
        let value: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`integrator {}` is not JSON: {e}\n{out}", args.join(" ")));
        self.check(schema, &format!("`integrator {}`", args.join(" ")), &value);
        value
    }

    /// Validate a JSON state file.
    fn file(&mut self, sb: &Sandbox, schema: &str, file: &str) -> Value {
        let value = read_json(&sb.state().join(file));
        self.check(schema, file, &value);
        value
    }

    /// Validate every line of a JSONL state file; returns the lines.
    fn lines(&mut self, sb: &Sandbox, schema: &str, file: &str) -> Vec<Value> {
        let text = sb.read_state(file);
        assert!(text.ends_with('\n'), "{file} is empty or does not end in a newline: {text:?}");
        let mut values = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file} line {} is not JSON: {e}", n + 1));
            self.check(schema, &format!("{file} line {}", n + 1), &value);
            values.push(value);
        }
        values
    }

    /// The configuration file, read as TOML and checked as JSON.
    fn config(&mut self, sb: &Sandbox) {
        let text = sb.read_state("config.toml");
        let value: toml::Value = toml::from_str(&text).expect("config.toml is TOML");
        let value = serde_json::to_value(value).unwrap();
        self.check("config", "config.toml", &value);
    }

    /// Fail with every collected violation, and unless every schema named in `expect` was used.
    fn finish(self, expect: &[&str]) {
        let unchecked: Vec<&&str> = expect.iter().filter(|s| !self.checked.contains_key(**s)).collect();
        assert!(unchecked.is_empty(), "never checked against {unchecked:?}");
        if !self.failures.is_empty() {
            panic!("{} document(s) do not match their schema:\n\n{}", self.failures.len(), self.failures.join("\n\n"));
        }
    }
}

#[test]
fn every_sample_is_accepted_or_rejected_as_labelled() {
    let schemas = Schemas::load();
    let samples = schema_dir().join("samples");
    let mut problems = Vec::new();
    let mut covered = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&samples).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let (mut valid, mut invalid) = (0, 0);
        for file in files {
            let label = file.file_name().unwrap().to_string_lossy().into_owned();
            let violations = schemas.violations(&name, &read_json(&file));
            if label.starts_with("valid-") {
                valid += 1;
                if !violations.is_empty() {
                    problems.push(format!("{name}/{label} should be valid:\n    {}", violations.join("\n    ")));
                }
            } else if label.starts_with("invalid-") {
                invalid += 1;
                if violations.is_empty() {
                    problems.push(format!("{name}/{label} should be rejected but is accepted"));
                }
            } else {
                problems.push(format!("{name}/{label}: sample names start with valid- or invalid-"));
            }
        }
        if valid == 0 || invalid == 0 {
            problems.push(format!("{name}: needs at least one valid and one invalid sample ({valid}, {invalid})"));
        }
        covered.push(name);
    }
    for name in schemas.compiled.keys().filter(|n| *n != "common") {
        if !covered.contains(name) {
            problems.push(format!("{name}.schema.json has no samples/{name}/"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_schema_has_a_line_in_the_readme() {
    let readme = std::fs::read_to_string(schema_dir().join("README.md")).unwrap();
    for name in Schemas::load().compiled.keys() {
        assert!(readme.contains(&format!("`{name}.schema.json`")), "README.md does not describe {name}.schema.json");
    }
}

use crate::support::CUTOVER;

/// The pre-push hook, run in `work` as git would run it, pushing `sha` to main: refused.
fn refused_push_to_main(sb: &Sandbox, sha: &str) {
    let url = sb.origin.to_str().unwrap();
    let mut child = sb
        .cmd(bin("pre-push"), &sb.work)
        .args(["origin", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!("refs/heads/x {sha} refs/heads/main {}\n", "0".repeat(40));
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the hook let a push to main through: {err}");
    assert!(err.contains("MAIN_GUARDRAIL_BLOCKED"), "{err}");
}

#[test]
fn what_a_cutover_run_writes_and_prints_matches_the_schemas() {
    let sb = Sandbox::new();
    let mut c = Checker::new();
    // Before anything happened: the outputs of a fresh repository.
    c.output(&sb, "status", &["status", "--json"]);
    c.output(&sb, "lease-output", &["lease", "--json"]);
    c.output(&sb, "run", &["run", "--json"]);

    sb.config(CUTOVER);
    let good = sb.branch("good", "good.txt", "good\n");
    let bad = sb.branch("bad", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    sb.ready("good-slug", "good", &good, "2026-01-01T10:00:00Z");
    sb.ready("bad-slug", "bad", &bad, "2026-01-01T12:00:00+01:00");
    // A candidate that is not ready: only its deployment.started was recorded.
    let waiting = sb.branch("waiting", "waiting.txt", "w\n");
    sb.ok(&["emit", "deployment-started", "--slug", "waiting", "--branch", "waiting", "--sha", &waiting]);

    let run = c.output(&sb, "run", &["run", "--json"]);
    let outcomes: Vec<&str> =
        run["processed"].as_array().unwrap().iter().map(|p| p["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["integrated", "blocked"], "{run:#}");
    sb.ok(&["notifications", "seen", "bad-slug"]);
    refused_push_to_main(&sb, &good);

    let events = c.lines(&sb, "event", "events.jsonl");
    let outcome_lines = c.lines(&sb, "outcome", "outcomes.jsonl");
    let refusals = c.lines(&sb, "guardrail", "guardrails.jsonl");
    let queue_file = c.file(&sb, "queue", "queue.json");
    let archived = c.lines(&sb, "queue-archive", "queue.archive.jsonl");
    c.file(&sb, "lease", "lease.json");
    c.file(&sb, "checkpoint", "checkpoint.json");
    c.config(&sb);
    let status = c.output(&sb, "status", &["status", "--json"]);
    c.output(&sb, "status", &["status", "--json", "--all"]);
    c.output(&sb, "queue-output", &["queue", "--json"]);
    let queue = c.output(&sb, "queue-output", &["queue", "--json", "--all"]);
    c.output(&sb, "notifications", &["notifications", "--json"]);
    c.output(&sb, "notifications", &["notifications", "--json", "--all"]);
    c.output(&sb, "parity", &["parity", "--json"]);
    c.output(&sb, "cutover", &["cutover", "--json"]);
    c.output(&sb, "lease-output", &["lease", "--json"]);
    c.output(&sb, "log", &["log", "--json"]);
    c.output(&sb, "log", &["log", "--json", "--slug", "bad-slug"]);
    let followups = c.output(&sb, "followups", &["followups", "--json"]);
    // Nothing is installed in the sandbox: the doctor reports failures, each with its fix.
    let doctor = c.output_exiting(&sb, "doctor", &["doctor", "--json"], 1);
    assert_eq!(doctor["ok"], false, "{doctor:#}");
    // A second run with nothing left to do.
    c.output(&sb, "run", &["run", "--json"]);

    // The scenario produced what the schemas are meant to cover.
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in [
        "domain.software-development.review.approved",
        "domain.software-development.branch.pushed",
        "domain.software-development.deployment.started",
        "domain.software-development.deployment.completed",
        "domain.software-development.deployment.failed",
        "integration.started",
        "integration.merge.succeeded",
        "integration.merge.conflicted",
        "integration.candidate.blocked",
        "integration.notification.seen",
        "integration.completed",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in events.jsonl: {kinds:?}");
    }
    let recorded: Vec<&str> = outcome_lines.iter().map(|o| o["outcome"].as_str().unwrap()).collect();
    assert_eq!(recorded, ["integrated", "blocked"]);
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["marker"], "MAIN_GUARDRAIL_BLOCKED");
    let states: Vec<&str> =
        status["candidates"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"NOT_READY"), "{status:#}");
    assert_eq!(queue["items"].as_array().unwrap().len(), 2);
    // The landed slug is resolved: its item moved to the archive, and is counted there.
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["slug"], "good-slug");
    assert_eq!(queue_file["archived"]["integrated"], 1, "{queue_file:#}");
    assert_eq!(queue_file["items"].as_array().unwrap().len(), 1);
    assert_eq!(followups["followups"].as_array().unwrap().len(), 1);
    c.finish(&[
        "event",
        "outcome",
        "guardrail",
        "queue",
        "queue-archive",
        "lease",
        "checkpoint",
        "config",
        "status",
        "queue-output",
        "notifications",
        "parity",
        "cutover",
        "lease-output",
        "log",
        "followups",
        "run",
        "doctor",
    ]);
}

#[test]
fn what_a_shadow_run_writes_matches_the_schemas() {
    let sb = Sandbox::new();
    sb.config("[integrator]\nmode = \"shadow\"\n");
    let mut c = Checker::new();
    let clean = sb.branch("clean", "clean.txt", "clean\n");
    let conflicting = sb.branch("conflicting", "shared.txt", "theirs\n");
    let main = sb.land_on_main("shared.txt", "ours\n");
    sb.ready("clean-slug", "clean", &clean, "2026-01-01T10:00:00Z");
    sb.ready("conflict-slug", "conflicting", &conflicting, "2026-01-01T11:00:00Z");
    c.output(&sb, "run", &["run", "--json"]);
    // The old path lands the clean candidate; a newer candidate supersedes the conflicting one.
    let scratch = sb.root.join("scratch-shared.txt");
    sb.git(&scratch, &["fetch", "-q", "origin"]);
    sb.git(&scratch, &["merge", "-q", "--no-edit", &clean]);
    sb.git(&scratch, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let fixed = sb.branch("conflicting-2", "other.txt", "fixed\n");
    sb.ready("conflict-slug", "conflicting-2", &fixed, "2026-01-01T12:00:00Z");
    c.output(&sb, "run", &["run", "--json"]);

    let outcomes = c.lines(&sb, "outcome", "outcomes.jsonl");
    c.lines(&sb, "event", "events.jsonl");
    c.file(&sb, "queue", "queue.json");
    c.lines(&sb, "queue-archive", "queue.archive.jsonl");
    c.file(&sb, "checkpoint", "checkpoint.json");
    c.file(&sb, "lease", "lease.json");
    c.config(&sb);
    c.output(&sb, "status", &["status", "--json", "--all"]);
    let facts = c.file(&sb, "git-facts", "git-facts.json");
    assert_eq!(facts["pairs"].as_array().map(Vec::len), Some(2), "{facts:#}");
    c.output(&sb, "queue-output", &["queue", "--json", "--all"]);
    let parity = c.output(&sb, "parity", &["parity", "--json"]);

    let decisions: Vec<&str> = outcomes.iter().map(|o| o["outcome"].as_str().unwrap()).collect();
    for d in ["would_integrate", "would_block", "superseded"] {
        assert!(decisions.contains(&d), "no {d} in outcomes.jsonl: {decisions:?}");
    }
    assert!(outcomes.iter().all(|o| o["mode"] == "shadow"));
    assert_eq!(outcomes[0]["main_sha"], main.as_str());
    assert_eq!(parity["samples"], 2, "{parity:#}");
    c.finish(&[
        "outcome",
        "event",
        "queue",
        "queue-archive",
        "checkpoint",
        "lease",
        "config",
        "status",
        "git-facts",
        "queue-output",
        "parity",
        "run",
    ]);
}
