//! A property test of the git shim against git's own resolution: generated config sources
//! for `core.hooksPath` (repository config, an include, `GIT_CONFIG_GLOBAL`, `HOME`,
//! `-c`, `GIT_CONFIG_PARAMETERS` with padding, `GIT_CONFIG_COUNT` of any size) and alias
//! chains of any depth (cycles included). The oracle is the real git run with the same
//! argv and environment: whether it pushed and whether our `pre-push` ran (it records a
//! `branch.pushed` event for the pushed branch).

use crate::guard_prepush::setup;
use crate::support::guards::{stderr, GuardSandbox as Sandbox};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Debug)]
enum Source {
    None,
    RepoConfig,
    RepoInclude,
    GlobalFile,
    Home,
    DashC,
    Params,
    Count(usize),
}

impl Source {
    /// Set on the command line or through `GIT_CONFIG_*`: refused whatever its value.
    fn is_command_scope(&self) -> bool {
        matches!(self, Source::DashC | Source::Params | Source::Count(_))
    }
}

#[derive(Clone, Debug)]
struct Case {
    source: Source,
    /// Whether the hooks path leads to the guard's hooks dir (else an empty dir).
    to_guard: bool,
    depth: usize,
    cycle: bool,
    no_verify: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let source = prop_oneof![
        Just(Source::None),
        Just(Source::RepoConfig),
        Just(Source::RepoInclude),
        Just(Source::GlobalFile),
        Just(Source::Home),
        Just(Source::DashC),
        Just(Source::Params),
        (0usize..40).prop_map(Source::Count),
    ];
    (source, any::<bool>(), 0usize..20, prop::bool::weighted(0.15), prop::bool::weighted(0.3))
        .prop_map(|(source, to_guard, depth, cycle, no_verify)| Case { source, to_guard, depth, cycle, no_verify })
}

/// What one run did: pushed (and whether our hook ran), or failed without pushing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Pushed { hook_ran: bool },
    Failed,
    Refused,
}

struct World {
    sb: Sandbox,
    wt: PathBuf,
    empty: PathBuf,
    n: std::cell::Cell<usize>,
}

impl World {
    fn hooks_dir(&self, to_guard: bool) -> PathBuf {
        if to_guard {
            self.sb.work.join(".git/hooks")
        } else {
            self.empty.clone()
        }
    }

    /// Prepare the case: config written, aliases defined; the argv and env to run with.
    fn prepare(&self, c: &Case, branch: &str) -> (Vec<String>, Vec<(String, String)>, bool) {
        let sb = &self.sb;
        let _ = sb.git_out(&self.wt, &["config", "--unset-all", "core.hooksPath"]);
        let _ = sb.git_out(&self.wt, &["config", "--unset-all", "include.path"]);
        let _ = sb.git_out(&self.wt, &["config", "--remove-section", "alias"]);
        let dir = self.hooks_dir(c.to_guard).display().to_string();
        let file = sb.dir().join("oracle.gitconfig");
        std::fs::write(&file, format!("[core]\n\thooksPath = {dir}\n")).unwrap();
        let home = sb.dir().join("oracle-home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::copy(&file, home.join(".gitconfig")).unwrap();
        let mut argv: Vec<String> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut keep_global = true;
        match &c.source {
            Source::None => {}
            Source::RepoConfig => {
                sb.git(&self.wt, &["config", "core.hooksPath", &dir]);
            }
            Source::RepoInclude => {
                sb.git(&self.wt, &["config", "include.path", file.to_str().unwrap()]);
            }
            Source::GlobalFile => env.push(("GIT_CONFIG_GLOBAL".into(), file.display().to_string())),
            Source::Home => {
                keep_global = false;
                env.push(("HOME".into(), home.display().to_string()));
            }
            Source::DashC => argv.extend(["-c".to_string(), format!("core.hooksPath={dir}")]),
            Source::Params => env.push(("GIT_CONFIG_PARAMETERS".into(), format!("'  core.hooksPath={dir}'"))),
            Source::Count(n) => {
                for i in 0..*n {
                    env.push((format!("GIT_CONFIG_KEY_{i}"), "user.oracle".into()));
                    env.push((format!("GIT_CONFIG_VALUE_{i}"), "x".into()));
                }
                env.push((format!("GIT_CONFIG_KEY_{n}"), "core.hooksPath".into()));
                env.push((format!("GIT_CONFIG_VALUE_{n}"), dir.clone()));
                env.push(("GIT_CONFIG_COUNT".into(), (n + 1).to_string()));
            }
        }
        let push = if c.no_verify { "push --no-verify" } else { "push" };
        for i in 0..c.depth {
            let next = if i + 1 == c.depth {
                if c.cycle {
                    "o0".to_string()
                } else {
                    push.to_string()
                }
            } else {
                format!("o{}", i + 1)
            };
            sb.git(&self.wt, &["config", &format!("alias.o{i}"), &next]);
        }
        argv.push(if c.depth == 0 { "push".into() } else { "o0".into() });
        if c.depth == 0 && c.no_verify {
            argv.push("--no-verify".into());
        }
        argv.extend(["-q".to_string(), "origin".into(), format!("HEAD:refs/heads/{branch}")]);
        (argv, env, keep_global)
    }

    fn run(&self, program: &Path, c: &Case, through_shim: bool) -> (Outcome, String) {
        self.n.set(self.n.get() + 1);
        let branch = format!("oracle-{}", self.n.get());
        let (argv, env, keep_global) = self.prepare(c, &branch);
        let mut cmd: Command = if through_shim { self.sb.shim_git(&self.wt) } else { self.sb.cmd(program, &self.wt) };
        if !keep_global {
            cmd.env_remove("GIT_CONFIG_GLOBAL");
        }
        let out = cmd.args(&argv).envs(env).output().unwrap();
        let err = stderr(&out);
        let pushed = self.sb.origin_ref(&branch).is_some();
        let hook_ran = self.sb.read_state("events.jsonl").contains(&format!("\"{branch}\""));
        let outcome = match (pushed, out.status.code()) {
            (true, _) => Outcome::Pushed { hook_ran },
            (false, Some(1)) if err.contains("MAIN_GUARDRAIL_BLOCKED") => Outcome::Refused,
            _ => Outcome::Failed,
        };
        (outcome, format!("{argv:?}: {err}"))
    }
}

#[test]
fn the_shim_decides_as_git_resolves() {
    let (sb, wt, _) = setup();
    let empty = sb.dir().join("oracle-empty-hooks");
    std::fs::create_dir_all(&empty).unwrap();
    let real = sb.real_git.clone();
    let world = World { sb, wt, empty, n: std::cell::Cell::new(0) };
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&case(), |c| {
            let (truth, why_truth) = world.run(&real, &c, false);
            let (shim, why_shim) = world.run(&real, &c, true);
            let why = format!("case {c:?}\ngit: {why_truth}\nshim: {why_shim}");
            if truth == Outcome::Failed {
                // git itself refuses (an alias loop): the shim may refuse first; nothing moves.
                prop_assert!(matches!(shim, Outcome::Failed | Outcome::Refused), "{}", why);
                return Ok(());
            }
            let bypassed = truth == Outcome::Pushed { hook_ran: false };
            let expected = if bypassed || c.source.is_command_scope() { Outcome::Refused } else { truth };
            prop_assert_eq!(shim, expected, "{}", why);
            Ok(())
        })
        .unwrap();
}
