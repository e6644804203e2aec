//! The `pre-push` hook: `<hook> <remote-name> <url>`, one line per ref on stdin
//! (`<local ref> SP <local sha> SP <remote ref> SP <remote sha>`). Refuses any update of a
//! protected branch unless authorised; records `branch.pushed` for the other branches;
//! chains a preserved foreign hook (`pre-push.local`). Fails closed on internal errors.

use super::hook_input::{fail_closed, is_object_name, normalise_url, parse_updates, Update};
use super::{effective, gitconfig, Context, Refusal};
use crate::error::Result;
use crate::events::printable;
use crate::repo::Location;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What the main checkout looks like, for the old delivery path's exception.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MainCheckout {
    /// The branch `HEAD` is on (None when detached).
    pub head_branch: Option<String>,
    /// Local `refs/heads/<main>`.
    pub main_sha: Option<String>,
}

/// Is `u` the old delivery path: the main checkout pushing its local `<main>` to `<main>`?
pub(crate) fn is_canonical_main_push(u: &Update, main: &str, checkout: &MainCheckout) -> bool {
    let main_ref = format!("refs/heads/{main}");
    let local_side_is_main =
        u.local_ref == main_ref || (u.local_ref == "HEAD" && checkout.head_branch.as_deref() == Some(main));
    u.remote_ref == main_ref
        && local_side_is_main
        && !u.is_delete()
        && checkout.main_sha.as_deref() == Some(u.local_sha.as_str())
}

/// Read `HEAD` and local `<main>` without running git (loose ref, then packed-refs).
pub(crate) fn read_main_checkout(loc: &Location, main: &str) -> MainCheckout {
    let head = std::fs::read_to_string(loc.git_dir.join("HEAD")).unwrap_or_default();
    let head_branch = head.trim().strip_prefix("ref: refs/heads/").map(str::to_string);
    let name = format!("refs/heads/{main}");
    let loose = std::fs::read_to_string(loc.common_dir.join(&name))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| is_object_name(s));
    let main_sha = loose.or_else(|| {
        let packed = std::fs::read_to_string(loc.common_dir.join("packed-refs")).ok()?;
        packed.lines().filter_map(|l| l.split_once(' ')).find(|(_, r)| *r == name).map(|(sha, _)| sha.to_string())
    });
    MainCheckout { head_branch, main_sha }
}

/// The hook's stdin whole (git writes the ref lines and closes it).
fn read_stdin() -> Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)
        .map_err(|e| fail_closed(format!("cannot read stdin: {e}")))?;
    Ok(input)
}

/// The hook's entry point: `argv` is the hook's full argv (program name first).
pub fn run(argv: Vec<OsString>) -> Result<()> {
    let input = read_stdin()?;
    if argv.get(1).is_some_and(|a| a == SELF_TEST) && argv.len() == 2 {
        return self_test();
    }
    let remote_arg = match &argv[..] {
        [_, name, _url, ..] => name.to_string_lossy().into_owned(),
        _ => return Err(fail_closed("expected `pre-push <remote-name> <url>` (git passes them)".into())),
    };
    let updates = parse_updates(&input).map_err(fail_closed)?;
    let cwd = std::env::current_dir().map_err(|e| fail_closed(format!("no cwd: {e}")))?;
    let git_dir = std::env::var_os("GIT_DIR").map(PathBuf::from);
    if let Some(registry) = std::env::var_os(super::destination::REGISTRY_ENV).filter(|r| !r.is_empty()) {
        // The shim routed a push from a repository without the guard here (README
        // "Guarded remotes"); a guarded repository keeps its own, stricter policy.
        // Guarded as the shim decides it: state dir present, or our hook installed.
        let guarded = crate::repo::discover_native(&cwd, git_dir.as_deref()).is_some_and(|l| effective::is_guarded(&l));
        if !guarded {
            return super::destination::run(&argv, &input, Path::new(&registry), &cwd);
        }
    }
    let ctx = Context::load(&cwd, git_dir.as_deref()).map_err(|e| fail_closed(e.sentence()))?;
    let Some(loc) = ctx.loc.clone() else {
        return Err(fail_closed(format!("{} is not inside a git repository", cwd.display())));
    };

    let refusals = protected_refusals(&ctx, &loc, &updates);
    if !refusals.is_empty() {
        return Err(super::refuse(&ctx, &argv, &refusals));
    }

    let state = loc.state();
    let remote = remote_name(&loc, &ctx.cwd, &remote_arg);
    let pusher = ctx.who();
    let mut events = Vec::new();
    let mut pushed = Vec::new();
    for u in &updates {
        match u.remote_branch() {
            Some(b) if !u.is_delete() && !ctx.is_protected(b) => {
                events.push(crate::events::branch_pushed(b, &u.local_sha, &remote, &pusher).map_err(|e| {
                    fail_closed(format!("cannot record the push of {}: {}", printable(b), e.sentence()))
                })?);
                pushed.push((b.to_string(), u.local_sha.to_ascii_lowercase()));
            }
            _ => {}
        }
    }
    // One batch: one lock, one write and one fsync however many branches are pushed.
    if !events.is_empty() {
        crate::events::record(&state, events)
            .map_err(|e| fail_closed(format!("cannot record the push: {}", e.sentence())))?;
    }
    run_foreign_hook(&loc, &ctx.cwd, &argv[1..], &input)?;
    trigger_after_push(&ctx, &loc, &pushed);
    if !pushed.is_empty() {
        trigger_sync(&ctx, &loc, &state);
    }
    Ok(())
}

/// `pre-push --self-test` (install.sh, after writing the hook): the hook file reaches this
/// binary and the guard can load its repository and config. An argv git never passes, so
/// nothing is recorded and the preserved foreign hook is not run: the self-test has no
/// side effect git itself would not cause.
const SELF_TEST: &str = "--self-test";

fn self_test() -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| fail_closed(format!("no cwd: {e}")))?;
    let git_dir = std::env::var_os("GIT_DIR").map(PathBuf::from);
    let ctx = Context::load(&cwd, git_dir.as_deref()).map_err(|e| fail_closed(e.sentence()))?;
    match ctx.loc {
        Some(_) => Ok(()),
        None => Err(fail_closed(format!("{} is not inside a git repository", cwd.display()))),
    }
}

/// The fleet's background sync after recording pushes: never fails the push.
fn trigger_sync(ctx: &Context, loc: &Location, state: &crate::store::StateDir) {
    let home = loc.main_worktree().filter(|p| p.is_dir()).unwrap_or_else(|| ctx.cwd.clone());
    let started =
        std::env::current_exe().map_err(|e| crate::error::Error::io("cannot locate pre-push", e)).and_then(|exe| {
            crate::fleet::trigger::after_event(state, &home, &ctx.cfg, &crate::handoff::integrator_beside(&exe))
        });
    if let Err(e) = started {
        eprintln!("pre-push: warning: could not start the background sync: {}", e.sentence());
    }
}

/// Event-driven handoff (`trigger = "event"`): never fails the push.
fn trigger_after_push(ctx: &Context, loc: &Location, pushed: &[(String, String)]) {
    let started =
        std::env::current_exe().map_err(|e| crate::error::Error::io("cannot locate pre-push", e)).and_then(|exe| {
            let integrator = crate::handoff::integrator_beside(&exe);
            crate::handoff::after_push(
                loc,
                &ctx.cwd,
                &ctx.cfg,
                pushed,
                &integrator,
                std::os::unix::process::parent_id(),
            )
        });
    if let Err(e) = started {
        eprintln!("pre-push: warning: could not start the event-triggered run: {}", e.sentence());
    }
}

/// One refusal per protected line the pusher may not make.
fn protected_refusals(ctx: &Context, loc: &Location, updates: &[Update]) -> Vec<Refusal> {
    let at_stake: Vec<&Update> =
        updates.iter().filter(|u| u.remote_branch().is_some_and(|b| ctx.is_protected(b))).collect();
    if at_stake.is_empty() || ctx.integrator_authorised() {
        return Vec::new();
    }
    let main = &ctx.cfg.integrator.main;
    let canonical_allowed = ctx.cfg.guard.allow_canonical_main_push && loc.is_main_checkout() && ctx.before_cutover();
    let checkout = if canonical_allowed { read_main_checkout(loc, main) } else { MainCheckout::default() };
    at_stake
        .into_iter()
        .filter(|u| !(canonical_allowed && is_canonical_main_push(u, main, &checkout)))
        .map(|u| {
            let what = if u.is_delete() { "delete" } else { "update" };
            Refusal::main(
                format!(
                    "pushes that {what} protected branch {} are refused; only the integrator moves it",
                    u.remote_ref
                ),
                Some(u.remote_ref.clone()),
            )
        })
        .collect()
}

/// The remote's name: git passes a URL as the name when the push named no remote; then
/// the configured remote whose URL or push URL normalises to it, else the URL itself.
pub(crate) fn remote_name(loc: &Location, cwd: &Path, arg: &str) -> String {
    let config = gitconfig::read(&loc.common_dir.join("config"));
    let remotes = config.iter().filter(|e| e.section == "remote");
    if remotes.clone().any(|e| e.subsection.as_deref() == Some(arg)) {
        return arg.to_string();
    }
    let wanted = normalise_url(arg, cwd);
    remotes
        .filter(|e| e.key == "url" || e.key == "pushurl")
        .find(|e| normalise_url(&e.value, cwd) == wanted)
        .and_then(|e| e.subsection.clone())
        .unwrap_or_else(|| arg.to_string())
}

/// The hooks dir: `core.hooksPath` from the repository config, else `<common>/hooks`.
fn hooks_dir(loc: &Location, cwd: &Path) -> PathBuf {
    let config = gitconfig::read(&loc.common_dir.join("config"));
    match gitconfig::get(&config, "core", "hookspath") {
        Some(p) if !p.is_empty() => cwd.join(p),
        _ => loc.common_dir.join("hooks"),
    }
}

/// Run `pre-push.local` (a foreign hook preserved by install.sh) with the same argv and
/// stdin bytes; its failure fails the push.
fn run_foreign_hook(loc: &Location, cwd: &Path, args: &[OsString], input: &[u8]) -> Result<()> {
    super::hook_input::run_chained_hook(&hooks_dir(loc, cwd).join("pre-push.local"), args, input, "the preserved hook")
}

#[cfg(test)]
mod tests {
    use super::super::hook_input::test_lines::{line, A, Z};
    use super::*;

    #[test]
    fn canonical_push_needs_main_on_both_sides_and_the_local_sha() {
        let checkout = MainCheckout { head_branch: Some("main".into()), main_sha: Some(A.into()) };
        let ok = |l: &str, ls: &str, r: &str| is_canonical_main_push(&line(l, ls, r, Z), "main", &checkout);
        assert!(ok("refs/heads/main", A, "refs/heads/main"));
        assert!(ok("HEAD", A, "refs/heads/main"));
        assert!(!ok("refs/heads/feature", A, "refs/heads/main"));
        assert!(!ok("refs/heads/main", &"2".repeat(40), "refs/heads/main"));
        assert!(!ok("(delete)", Z, "refs/heads/main"));
        assert!(!ok("refs/heads/main", A, "refs/heads/release"));
        let detached = MainCheckout { head_branch: None, main_sha: Some(A.into()) };
        assert!(!is_canonical_main_push(&line("HEAD", A, "refs/heads/main", Z), "main", &detached));
    }
}
