//! The `git` shim: refuses what could move a protected branch around the hook, and the
//! agent policy's destructive commands; everything else `exec`s the real git unchanged.
//! The pass-through path classifies argv only: no subprocess, no file read.

use super::git_argv::{self, AgentVerdict, Invocation};
use super::shim::{self, Real};
use super::{Context, Refusal};
use crate::config::DEFAULT_AGENT_BLOCKED;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// The marker the agent policy looks at when `guard.agent_env` is left at its default.
const DEFAULT_AGENT_ENV: &str = "TELECLAUDE_SESSION_ID";
/// Aliases of aliases are followed this far (git itself detects loops).
const MAX_ALIAS_DEPTH: usize = 16;

/// The shim's entry point: `argv` is the full argv. Returns only on refusal or failure.
pub fn run(argv: Vec<OsString>) -> Error {
    match decide(&argv) {
        Ok((real, argv)) => real.exec(&argv),
        Err(e) => e,
    }
}

/// The command after alias expansion, and what the user wrote.
struct Resolved {
    inv: Invocation,
    /// The first alias name, when the command word was an alias.
    alias: Option<String>,
    /// A `!` alias (shell command): cannot be analysed.
    shell_alias: bool,
    /// Config keys set by `-c` anywhere in the chain.
    config_keys: Vec<String>,
}

fn decide(argv: &[OsString]) -> Result<(Real, Vec<OsString>)> {
    shim::check_depth("git")?;
    let args: Vec<String> = argv.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let inv = git_argv::parse(&args);
    let Some(cmd) = inv.command.as_deref() else {
        return Ok((shim::find_real("git")?, argv.to_vec()));
    };
    if is_pass_through(cmd) {
        return Ok((shim::find_real("git")?, argv.to_vec()));
    }
    let real = shim::find_real("git")?;
    let resolved = resolve_aliases(&real, inv)?;
    let Some(cmd) = resolved.inv.command.clone() else {
        return Ok((real, argv.to_vec()));
    };
    let main_at_stake = cmd == "push" || cmd == "send-pack";
    let ctx = match load_context(&resolved.inv) {
        Ok(ctx) => ctx,
        // Nothing but the agent policy could apply, and no agent marker is set: run git.
        Err(e) if !main_at_stake && !default_marker_set() => {
            eprintln!("git: warning: {}", e.sentence());
            return Ok((real, argv.to_vec()));
        }
        Err(e) => return Err(e),
    };
    let mut refusals = Vec::new();
    if main_at_stake {
        refusals.extend(push_refusals(&real, &ctx, &resolved)?);
    }
    if ctx.is_agent() {
        refusals.extend(agent_refusal(&real, &ctx, &resolved)?);
    }
    if !refusals.is_empty() && !ctx.integrator_authorised() {
        return Err(super::refuse(&ctx, argv, &refusals));
    }
    let mut exec_argv = argv.to_vec();
    if cmd == "revert" {
        strip_confirmed(&mut exec_argv, &args);
    }
    Ok((real, exec_argv))
}

fn default_marker_set() -> bool {
    std::env::var_os(DEFAULT_AGENT_ENV).is_some_and(|v| !v.is_empty())
}

/// Can this command word run without any check? A builtin that is neither a push nor one
/// of the default agent-blocked commands, when the default agent marker is unset.
fn is_pass_through(cmd: &str) -> bool {
    git_argv::is_known_command(cmd)
        && !matches!(cmd, "push" | "send-pack")
        && !DEFAULT_AGENT_BLOCKED.contains(&cmd)
        && !default_marker_set()
}

/// Follow non-builtin command words through `alias.*` (asking the real git with the same
/// global options, so `-c alias.x=…` counts) until a builtin, a shell alias or no alias.
fn resolve_aliases(real: &Real, mut inv: Invocation) -> Result<Resolved> {
    let mut alias = None;
    let mut config_keys = inv.config_keys.clone();
    for _ in 0..MAX_ALIAS_DEPTH {
        let Some(cmd) = inv.command.clone() else {
            break;
        };
        if git_argv::is_known_command(&cmd) {
            break;
        }
        let mut q: Vec<String> = inv.globals.clone();
        q.extend(["config".into(), "--get".into(), format!("alias.{cmd}")]);
        let found = real.lookup(&q)?;
        if !found.success {
            break;
        }
        alias.get_or_insert(cmd.clone());
        let value = found.stdout.trim_end_matches('\n');
        if value.starts_with('!') {
            return Ok(Resolved { inv, alias, shell_alias: true, config_keys });
        }
        let Some(mut words) = git_argv::split_alias(value) else {
            break;
        };
        words.extend(inv.args.iter().cloned());
        let mut next = git_argv::parse(&words);
        config_keys.extend(next.config_keys.iter().cloned());
        // The alias runs with the user's global options (its own come after them).
        let mut globals = inv.globals.clone();
        globals.append(&mut next.globals);
        next.globals = globals;
        next.chdirs = [inv.chdirs.clone(), next.chdirs].concat();
        next.git_dir = next.git_dir.or(inv.git_dir.clone());
        inv = next;
    }
    Ok(Resolved { inv, alias, shell_alias: false, config_keys })
}

/// The repository the command runs in (after `-C` and `--git-dir`) and its policy.
fn load_context(inv: &Invocation) -> Result<Context> {
    let mut cwd = std::env::current_dir().map_err(|e| Error::io("no current directory", e))?;
    for d in &inv.chdirs {
        cwd = cwd.join(d);
    }
    let git_dir = inv.git_dir.as_ref().map(PathBuf::from).or_else(|| std::env::var_os("GIT_DIR").map(PathBuf::from));
    Context::load(&cwd, git_dir.as_deref()).map_err(|e| {
        Error::failed_hint(
            format!("refusing to run git: the guard could not read its policy: {}", e.sentence()),
            "fix the configuration file named above (`integrator doctor` checks it)",
        )
    })
}

/// The push rules: hook bypasses, mirrors, config overrides, other receive-pack; and
/// `send-pack`, which never runs the hook.
fn push_refusals(real: &Real, ctx: &Context, r: &Resolved) -> Result<Vec<Refusal>> {
    let mut out = Vec::new();
    let main_refusal = |rule: &str| Refusal::main(rule.to_string(), None);
    if r.inv.command.as_deref() == Some("send-pack") {
        out.push(main_refusal("`git send-pack` pushes without the pre-push hook and is refused"));
        return Ok(out);
    }
    let p = git_argv::analyse_push(&r.inv.args);
    if p.no_verify && !ctx.cfg.guard.allow_no_verify {
        out.push(main_refusal("`git push --no-verify` (or an abbreviation) would skip the pre-push guard"));
    }
    if p.mirror {
        out.push(main_refusal("`git push --mirror` overwrites every ref of the remote, protected branches included"));
    }
    if p.receive_pack {
        out.push(main_refusal("`git push --receive-pack`/`--exec` runs another program on the remote side"));
    }
    let env_keys = git_argv::env_config_keys(|k| std::env::var(k).ok());
    let overridden: Vec<&String> =
        r.config_keys.iter().chain(env_keys.iter()).filter(|k| git_argv::is_sensitive_config_key(k)).collect();
    if !overridden.is_empty() {
        let keys: Vec<&str> = overridden.iter().map(|k| k.as_str()).collect();
        out.push(main_refusal(&format!(
            "`git push` with a command-line or GIT_CONFIG_* override of {} could bypass the guard",
            keys.join(", ")
        )));
    }
    if !p.mirror {
        if let Some(name) = mirror_remote(real, r, p.repo.as_deref())? {
            out.push(main_refusal(&format!(
                "remote `{name}` is a mirror (remote.{name}.mirror): pushing to it overwrites protected branches"
            )));
        }
    }
    Ok(out)
}

/// The mirror remote this push would go to: the named one if it is a mirror; with no
/// remote named, any mirror remote (the default remote could be it).
fn mirror_remote(real: &Real, r: &Resolved, repo: Option<&str>) -> Result<Option<String>> {
    let mut q: Vec<String> = r.inv.globals.clone();
    q.extend(["config".into(), "--bool".into(), "--get-regexp".into(), r"^remote\..*\.mirror$".into()]);
    let found = real.lookup(&q)?;
    Ok(found
        .stdout
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(_, v)| *v == "true")
        .filter_map(|(k, _)| k.strip_prefix("remote.")?.strip_suffix(".mirror"))
        .find(|name| repo.is_none_or(|want| want == *name))
        .map(str::to_string))
}

/// The agent policy (the marker is set): destructive commands and shell aliases.
fn agent_refusal(real: &Real, ctx: &Context, r: &Resolved) -> Result<Option<Refusal>> {
    let guard = &ctx.cfg.guard;
    if r.shell_alias {
        let name = r.alias.clone().unwrap_or_default();
        if guard.agent_allowed_aliases.contains(&name) {
            return Ok(None);
        }
        return Ok(Some(Refusal::agent(
            format!("`git {name}` is a shell (`!`) alias, which the guard cannot check"),
            "run the commands it stands for directly, or list it in guard.agent_allowed_aliases",
        )));
    }
    let Some(cmd) = r.inv.command.as_deref() else {
        return Ok(None);
    };
    let rule = match git_argv::agent_verdict(cmd, &r.inv.args, &guard.agent_blocked) {
        AgentVerdict::Allow => return Ok(None),
        AgentVerdict::Refuse(rule) => rule,
        AgentVerdict::AllowIfRevision(name) => {
            if is_revision(real, r, &name)? {
                return Ok(None);
            }
            format!("`git checkout {name}` would overwrite `{name}` in the working tree")
        }
    };
    Ok(Some(Refusal::agent(
        rule,
        "commit your work on your branch (or ask the user to run this command); \
         `git switch`, `git checkout -b`, and `git revert --confirmed` are allowed",
    )))
}

/// Is `name` something `git checkout name` switches to: a commit, or a remote branch
/// that git would create a local branch from?
fn is_revision(real: &Real, r: &Resolved, name: &str) -> Result<bool> {
    let mut q: Vec<String> = r.inv.globals.clone();
    q.extend([
        "rev-parse".into(),
        "--verify".into(),
        "--quiet".into(),
        "--end-of-options".into(),
        format!("{name}^{{commit}}"),
    ]);
    if real.lookup(&q)?.success {
        return Ok(true);
    }
    let mut q: Vec<String> = r.inv.globals.clone();
    q.extend(["for-each-ref".into(), "--format=%(refname)".into(), format!("refs/remotes/*/{name}")]);
    Ok(!real.lookup(&q)?.stdout.trim().is_empty())
}

/// Remove the user's `--confirmed` (after the command word) before git sees it.
fn strip_confirmed(exec_argv: &mut Vec<OsString>, args: &[String]) {
    let inv = git_argv::parse(args);
    let start = inv.command_index + 1;
    if let Some(i) = git_argv::confirmed_index(args.get(start..).unwrap_or_default()) {
        // +1: exec_argv still holds argv[0].
        exec_argv.remove(start + i + 1);
    }
}
