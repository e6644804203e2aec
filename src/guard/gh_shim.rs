//! The `gh` shim: refuses merges into, and API writes to, protected branches unless the
//! integrator runs it; everything else `exec`s the real gh, which runs exactly once.

use super::gh_alias;
use super::gh_argv::{self, Stake};
use super::shim::{self, Real};
use super::{Context, Refusal};
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// The shim's entry point: `argv` is the full argv. Returns only on refusal or failure.
pub fn run(argv: Vec<OsString>) -> Error {
    match decide(&argv) {
        Ok(real) => real.exec(&argv, &[]),
        Err(e) => e,
    }
}

fn decide(argv: &[OsString]) -> Result<Real> {
    let real = shim::find_real("gh")?;
    let args: Vec<String> = argv.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let args = expand_alias(&real, args)?;
    let read_file = |f: &str| (f != "-").then(|| std::fs::read_to_string(f).ok()).flatten();
    let stake = gh_argv::classify(&args, &read_file);
    if stake == Stake::None {
        return Ok(real);
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("no current directory", e))?;
    let git_dir = std::env::var_os("GIT_DIR").map(PathBuf::from);
    let ctx = Context::load(&cwd, git_dir.as_deref())?;
    match refusal(&real, &ctx, stake)? {
        Some(r) if !ctx.integrator_authorised() => Err(super::refuse(&ctx, argv, &[r])),
        _ => Ok(real),
    }
}

/// A first word that is no gh command may be an alias: expand it through the real gh's
/// `gh alias list`. A list that cannot be read refuses (the alias could hide a merge).
fn expand_alias(real: &Real, args: Vec<String>) -> Result<Vec<String>> {
    let Some(word) = gh_alias::candidate(&args) else {
        return Ok(args);
    };
    let list = real.lookup(&["alias", "list"])?;
    if !list.success {
        return Err(Error::Refused(
            Refusal::main(
                format!("`gh {word}` may be an alias, and `gh alias list` could not be read to check it"),
                None,
            )
            .message(),
        ));
    }
    Ok(gh_alias::lookup(&list.stdout, word).and_then(|e| gh_alias::expand(&e, &args[1..])).unwrap_or(args))
}

fn refusal(real: &Real, ctx: &Context, stake: Stake) -> Result<Option<Refusal>> {
    let protected_or_default = |b: &Option<String>| b.as_ref().is_none_or(|b| ctx.is_protected(b));
    Ok(match stake {
        Stake::None => None,
        Stake::Always(rule) => Some(Refusal::main(rule, None)),
        Stake::Branch { branch, rule } => {
            protected_or_default(&branch).then(|| Refusal::main(rule, branch.map(|b| format!("refs/heads/{b}"))))
        }
        Stake::PrBase { selector, repo, rule } => match pr_base(real, selector.as_deref(), repo.as_deref())? {
            Some(base) if !ctx.is_protected(&base) => None,
            Some(base) => Some(Refusal::main(format!("{rule} (base `{base}`)"), Some(format!("refs/heads/{base}")))),
            None => Some(Refusal::main(format!("{rule}: the pull request's base branch could not be looked up"), None)),
        },
    })
}

/// The PR's base branch, asked of the real gh; None when the lookup fails.
fn pr_base(real: &Real, selector: Option<&str>, repo: Option<&str>) -> Result<Option<String>> {
    let mut q: Vec<&str> = vec!["pr", "view"];
    q.extend(selector);
    if let Some(r) = repo {
        q.extend(["-R", r]);
    }
    q.extend(["--json", "baseRefName", "-q", ".baseRefName"]);
    let out = real.lookup(&q)?;
    let base = out.stdout.trim();
    Ok((out.success && !base.is_empty()).then(|| base.to_string()))
}
