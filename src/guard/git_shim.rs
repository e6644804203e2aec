//! The `git` shim: refuses what could move a protected branch around the hook, and the
//! agent policy's destructive commands; everything else `exec`s the real git unchanged.
//! The pass-through path classifies argv only: no subprocess, no file read (two `stat`s
//! decide whether git gets the shadow exec-path, [`exec_path`]). A push from a repository
//! without the guard is routed through our `pre-push` when guarded remotes are registered
//! ([`destination`]).

use super::alias_chain::{self, Resolved};
use super::git_argv::{self, AgentVerdict, Invocation};
use super::shim::{self, Real};
use super::{destination, effective, exec_path, Context, Refusal};
use crate::config::DEFAULT_AGENT_BLOCKED;
use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The marker the agent policy looks at when `guard.agent_env` is left at its default.
const DEFAULT_AGENT_ENV: &str = "TELECLAUDE_SESSION_ID";

/// Commands that push (and run the pre-push hook) themselves.
const PUSHES: &[&str] = &["push", "subtree"];
/// Commands that push without the hook: refused outright.
const PUSHES_WITHOUT_HOOK: &[&str] = &["send-pack", "http-push"];
/// git's curl remote helpers: for a push they run `git send-pack --stateless-rpc`, which
/// passes the shim, so only git's own transport may start them ([`run_by_git`]).
const HTTP_HELPERS: &[&str] = &["remote-http", "remote-https", "remote-ftp", "remote-ftps"];
/// Builtins that run other commands, which may push with the overrides they inherit.
const RUNS_COMMANDS: &[&str] = &["rebase", "bisect", "grep", "submodule", "difftool"];

/// The shim's entry point: `argv` is the full argv. Returns only on refusal or failure.
pub fn run(argv: Vec<OsString>) -> Error {
    match decide(&argv) {
        Ok(go) => {
            let mut set: Vec<(&str, &OsStr)> = go.env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
            if let Some(shadow) = &go.shadow {
                set.push((exec_path::ENV, shadow.as_os_str()));
            }
            go.real.exec(&go.argv, &set)
        }
        Err(e) => e,
    }
}

/// What the shim execs: the real git, its argv, what it adds to the environment.
struct Go {
    real: Real,
    argv: Vec<OsString>,
    /// The shadow exec-path git's children are to find the shim in ([`exec_path`]).
    shadow: Option<PathBuf>,
    env: Vec<(&'static str, OsString)>,
}

impl Go {
    fn new(real: Real, argv: Vec<OsString>) -> Go {
        let shadow = real.own_dir.as_deref().and_then(|own| exec_path::active(own, &real.meta));
        Go { real, argv, shadow, env: Vec::new() }
    }
}

/// `git-push ARGS` (a builtin's dashed form, which the shadow exec-path links to the
/// shim) as `git push ARGS`; any other argv as it is.
fn undash(argv: &[OsString]) -> Option<Vec<OsString>> {
    let name = Path::new(argv.first()?).file_name()?.to_str()?;
    let cmd = name.strip_prefix("git-")?;
    Some([OsString::from("git"), cmd.into()].into_iter().chain(argv[1..].iter().cloned()).collect())
}

fn decide(argv: &[OsString]) -> Result<Go> {
    if let Some(undashed) = undash(argv) {
        return decide(&undashed);
    }
    shim::check_depth("git")?;
    let args: Vec<String> = argv.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let inv = git_argv::parse(&args);
    if inv.command.is_none() || is_pass_through(&inv) {
        return Ok(Go::new(shim::find_real("git")?, argv.to_vec()));
    }
    let mut go = Go::new(shim::find_real("git")?, argv.to_vec());
    let resolved = alias_chain::resolve(&go.real, inv)?;
    let Some(cmd) = resolved.inv.command.clone() else {
        return Ok(go);
    };
    let main_at_stake = can_push(&cmd);
    let ctx = match load_context(&resolved.inv) {
        Ok(ctx) => ctx,
        // Nothing but the agent policy could apply, and no agent marker is set: run git.
        Err(e) if !main_at_stake && !default_marker_set() => {
            eprintln!("git: warning: {}", e.sentence());
            return Ok(go);
        }
        Err(e) => return Err(e),
    };
    let mut refusals = exec_path_refusal(&go, &resolved).into_iter().collect::<Vec<_>>();
    let mut eff = None;
    if main_at_stake {
        let (found, asked) = push_refusals(&go.real, &ctx, &resolved)?;
        refusals.extend(found);
        eff = asked;
    }
    if ctx.is_agent() {
        refusals.extend(agent_refusal(&go.real, &ctx, &resolved)?);
    }
    if !refusals.is_empty() && !ctx.integrator_authorised() {
        return Err(super::refuse(&ctx, argv, &refusals));
    }
    if cmd == "revert" {
        strip_confirmed(&mut go.argv, &args);
    }
    if let (Some(eff), "push") = (&eff, cmd.as_str()) {
        let no_verify = git_argv::analyse_push(&resolved.inv.args).no_verify;
        route_to_destination_guard(&mut go, &ctx, eff, no_verify)?;
    }
    Ok(go)
}

/// `git --exec-path=DIR` sends git's children to DIR for `git`: refused while the shadow
/// exec-path is in use, unless DIR is the shadow.
fn exec_path_refusal(go: &Go, r: &Resolved) -> Option<Refusal> {
    let (Some(shadow), Some(dir)) = (&go.shadow, &r.inv.exec_path) else {
        return None;
    };
    if Path::new(dir) == shadow.as_path() {
        return None;
    }
    Some(Refusal::main(
        format!(
            "`git --exec-path={dir}` would let the commands git runs (hooks, `rebase -x`, …) find a git \
             without the guard"
        ),
        None,
    ))
}

/// A push from a repository without the guard: when guarded remotes are registered beside
/// the shim, git runs our `pre-push` for it, which refuses protected lines to those URLs
/// (README "Guarded remotes"). `--no-verify` would skip that hook, so a routed push refuses
/// it whatever this repository's own `guard.allow_no_verify` says.
fn route_to_destination_guard(go: &mut Go, ctx: &Context, eff: &effective::Effective, no_verify: bool) -> Result<()> {
    let Some(loc) = ctx.loc.as_ref().filter(|l| !effective::is_guarded(l)) else {
        return Ok(());
    };
    let own = go.real.own_dir.clone().or_else(|| std::env::current_exe().ok()?.parent().map(Path::to_path_buf));
    let Some(home) = own.map(|o| exec_path::shim_home(&o)) else {
        return Ok(());
    };
    let registry = home.join(destination::FILE);
    if destination::read(&registry).is_empty() {
        return Ok(());
    }
    // Not recorded: a state dir written here would make this repository count as guarded.
    let refuse = |rule: String| Error::Refused(super::refusal_message(&[Refusal::main(rule, None)]));
    let hooks = home.join(destination::HOOKS);
    if !effective::leads_to_guard(&hooks) {
        let rule = format!(
            "guarded remotes are registered in {}, but {}/pre-push, which checks a push against them, \
             is missing or broken",
            registry.display(),
            hooks.display()
        );
        return Err(refuse(rule));
    }
    if no_verify {
        let rule = format!(
            "`git push --no-verify` would skip the check against the guarded remotes registered in {}; \
             from a repository without the guard it is refused, whatever its guard.allow_no_verify says",
            registry.display()
        );
        return Err(refuse(rule));
    }
    let hooks_path: OsString = format!("core.hooksPath={}", hooks.display()).into();
    go.argv.splice(1..1, ["-c".into(), hooks_path]);
    go.env.push((destination::REGISTRY_ENV, registry.into_os_string()));
    go.env.push((destination::CHAIN_ENV, effective::hooks_dir(eff.hooks_path(), loc).into_os_string()));
    Ok(())
}

/// The environment as text (a variable that is not UTF-8 is read lossily, never a panic).
fn lossy_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
}

fn default_marker_set() -> bool {
    std::env::var_os(DEFAULT_AGENT_ENV).is_some_and(|v| !v.is_empty())
}

/// Can `cmd` push, directly or through what it runs? Anything that is not a builtin (a
/// git-* program, an unresolved word) is assumed to.
fn can_push(cmd: &str) -> bool {
    PUSHES.contains(&cmd)
        || PUSHES_WITHOUT_HOOK.contains(&cmd)
        || RUNS_COMMANDS.contains(&cmd)
        || !git_argv::is_builtin(cmd)
}

/// Sensitive config overrides from `-c`/`--config-env` (`keys`) and `GIT_CONFIG_*`.
fn sensitive_overrides(keys: &[String]) -> Vec<String> {
    let env_keys = git_argv::env_config_keys(lossy_env());
    let mut out: Vec<String> =
        keys.iter().chain(env_keys.iter()).filter(|k| git_argv::is_sensitive_config_key(k)).cloned().collect();
    out.dedup();
    out
}

/// Can this command line run without any check? A builtin that cannot push, that the
/// default agent policy allows as written, with no agent marker — and, for a builtin that
/// runs other commands, no override they would inherit. Pure: argv and environment only.
fn is_pass_through(inv: &Invocation) -> bool {
    let Some(cmd) = inv.command.as_deref() else {
        return true;
    };
    // git's HTTP remote helper pushing for a `git push` that already ran pre-push: as it
    // is, send-pack cannot reach a server (README "Pushes over HTTP").
    if cmd == "send-pack" && inv.globals.is_empty() && git_argv::is_http_helper_send_pack(&inv.args) {
        return true;
    }
    // `revert` always goes the long way: its `--confirmed` is removed before git runs.
    if !git_argv::is_builtin(cmd) || PUSHES.contains(&cmd) || PUSHES_WITHOUT_HOOK.contains(&cmd) || cmd == "revert" {
        return false;
    }
    if inv.exec_path.is_some() || RUNS_COMMANDS.contains(&cmd) && !sensitive_overrides(&inv.config_keys).is_empty() {
        return false;
    }
    git_argv::agent_verdict(cmd, &inv.args, DEFAULT_AGENT_BLOCKED) == AgentVerdict::Allow && !default_marker_set()
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
/// `send-pack`, which never runs the hook. For `push` and `subtree` git is asked once for
/// its effective configuration ([`effective`]): the hooks it resolves must be ours.
fn push_refusals(real: &Real, ctx: &Context, r: &Resolved) -> Result<(Vec<Refusal>, Option<effective::Effective>)> {
    let cmd = r.inv.command.as_deref().unwrap_or_default();
    let main_refusal = |rule: String| Refusal::main(rule, None);
    if PUSHES_WITHOUT_HOOK.contains(&cmd) {
        return Ok((vec![main_refusal(format!("`git {cmd}` pushes without the pre-push hook and is refused"))], None));
    }
    let mut out = Vec::new();
    if HTTP_HELPERS.contains(&cmd) && !run_by_git(real) {
        out.push(main_refusal(format!(
            "`git {cmd}` run by hand pushes what its stdin asks without the pre-push hook; \
             git runs it itself for `git push`/`git fetch`"
        )));
    }
    let mut overridden = sensitive_overrides(&r.config_keys);
    let p = git_argv::analyse_push(&r.inv.args);
    if cmd == "push" {
        out.extend(push_flag_refusals(ctx, &p).into_iter().map(main_refusal));
    }
    let mut asked = None;
    if PUSHES.contains(&cmd) {
        let eff = effective::ask(real, &r.inv.globals)?;
        for key in eff.command_overrides() {
            if !overridden.contains(&key) {
                overridden.push(key);
            }
        }
        if let Some(rule) = hooks_refusal(ctx, &eff) {
            out.push(main_refusal(rule));
        }
        let mirror = eff.mirrors().into_iter().find(|n| p.repo.as_deref().is_none_or(|want| want == n));
        if let (Some(name), false, "push") = (mirror, p.mirror, cmd) {
            out.push(main_refusal(format!(
                "remote `{name}` is a mirror (remote.{name}.mirror): pushing to it overwrites protected branches"
            )));
        }
        asked = Some(eff);
    }
    if !overridden.is_empty() {
        out.push(main_refusal(format!(
            "`git {cmd}` with a command-line or GIT_CONFIG_* override of {} could bypass the guard",
            overridden.join(", ")
        )));
    }
    Ok((out, asked))
}

/// Was this shim started by the real git it execs (git's transport starting a remote
/// helper)? Its parent's `/proc/<pid>/exe` is that file. Without `/proc` it cannot be
/// told, and is assumed (README "Pushes over HTTP").
fn run_by_git(real: &Real) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = std::os::unix::process::parent_id();
    match std::fs::metadata(format!("/proc/{parent}/exe")) {
        Ok(m) => m.dev() == real.meta.dev() && m.ino() == real.meta.ino(),
        Err(_) => std::fs::metadata("/proc/self/exe").is_err(),
    }
}

/// `--no-verify`, `--mirror`, `--receive-pack`/`--exec`.
fn push_flag_refusals(ctx: &Context, p: &git_argv::Push) -> Vec<String> {
    let mut out = Vec::new();
    if p.no_verify && !ctx.cfg.guard.allow_no_verify {
        out.push("`git push --no-verify` (or an abbreviation) would skip the pre-push guard".to_string());
    }
    if p.mirror {
        out.push("`git push --mirror` overwrites every ref of the remote, protected branches included".to_string());
    }
    if p.receive_pack {
        out.push("`git push --receive-pack`/`--exec` runs another program on the remote side".to_string());
    }
    out
}

/// In a guarded repository (state dir present, or our hook in the default hooks dir), the
/// hooks directory git resolves must hold our `pre-push`.
fn hooks_refusal(ctx: &Context, eff: &effective::Effective) -> Option<String> {
    let loc = ctx.loc.as_ref()?;
    let dir = effective::hooks_dir(eff.hooks_path(), loc);
    if !effective::is_guarded(loc) || effective::leads_to_guard(&dir) {
        return None;
    }
    Some(format!(
        "git would run the hooks in {} (core.hooksPath as git resolves it), which do not lead to the \
         pre-push guard; unset core.hooksPath or re-run install.sh with --follow-hooks-path",
        dir.display()
    ))
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
