//! The `git-shim` and `gh-shim` checks: the first `git` / `gh` on PATH is a teleclaude
//! shim, and behind it on PATH there is a real program that is not a shim.

use super::{install_command, sh_quote, Finding, Installed};
use crate::shim_marker::{is_executable, is_shim, on_path, USUAL_BIN_DIRS};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub(crate) fn check(path_var: &OsStr, installed: &Installed, root: &Path) -> Vec<Finding> {
    let mut out: Vec<Finding> = ["git", "gh"].iter().map(|name| check_one(name, path_var, installed, root)).collect();
    out.extend(check_exec_path(path_var, installed));
    out
}

/// `exec-path`: the shadow exec-path beside the git shim mirrors the real git on PATH, so
/// git's children (hooks, `rebase -x`, …) run the shim. Only where a git shim is installed.
fn check_exec_path(path_var: &OsStr, installed: &Installed) -> Option<Finding> {
    use crate::guard::exec_path::{self, Status};
    let dir = &installed.shim_dir;
    if !is_shim(&dir.join("git")) {
        return None;
    }
    let real = crate::shim_marker::real_program("git", path_var)?;
    let shadow = dir.join(exec_path::DIR);
    let fix = format!("integrator shims --shim-dir {}", sh_quote(dir));
    Some(match exec_path::check(dir, &real) {
        Ok(Status::Fresh) => Finding::pass(
            "exec-path",
            format!("{} mirrors {}'s exec-path; its git is the shim", shadow.display(), real.display()),
        ),
        Ok(Status::Missing) => Finding::fail(
            "exec-path",
            format!(
                "{} is missing: git's children (hooks, `rebase -x`, `bisect run`, aliases) run the real git, unguarded",
                shadow.display()
            ),
            fix,
        ),
        Ok(Status::Stale(why)) => Finding::fail(
            "exec-path",
            format!("{} is stale ({why}): refresh it after a git upgrade", shadow.display()),
            fix,
        ),
        Err(e) => Finding::fail("exec-path", e.sentence(), fix),
    })
}

fn check_one(name: &str, path_var: &OsStr, installed: &Installed, root: &Path) -> Finding {
    let check = format!("{name}-shim");
    let hits = on_path(name, path_var);
    let shim_dir = &installed.shim_dir;
    let put_first = format!("export PATH=\"{}:$PATH\"", shim_dir.display());
    let Some(first) = hits.first() else {
        let fix = if is_shim(&shim_dir.join(name)) { put_first } else { install_command(root, installed) };
        return Finding::fail(&check, format!("no {name} on PATH at all"), fix);
    };
    if !is_shim(first) {
        let fix = if is_shim(&shim_dir.join(name)) {
            put_first
        } else {
            // The shim is not where install.sh puts it: reinstall, then put it first.
            format!("{} && {put_first}", install_command(root, installed))
        };
        return Finding::fail(
            &check,
            format!("the first {name} on PATH is {}, not the teleclaude shim: {name} runs unguarded", first.display()),
            fix,
        );
    }
    match hits[1..].iter().find(|p| !is_shim(p)) {
        Some(real) => Finding::pass(
            &check,
            format!(
                "{} is the shim; it runs the real {name} {}",
                first.display(),
                real.display()
            ),
        ),
        None if name == "gh" => Finding::pass(
            &check,
            format!(
                "note: {} is the shim but there is no real gh on PATH after it: the gh shim is idle",
                first.display()
            ),
        ),
        None => Finding::fail(
            &check,
            format!(
                "{} is the shim but every {name} after it on PATH is a shim too: it resolves to itself and {name} cannot run",
                first.display()
            ),
            real_program_fix(name),
        ),
    }
}

/// Append the directory of a real program to PATH (after the shims), or say to install it.
fn real_program_fix(name: &str) -> String {
    let real: Option<PathBuf> =
        USUAL_BIN_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| is_executable(p) && !is_shim(p));
    match real.as_deref().and_then(Path::parent) {
        Some(dir) => format!("export PATH=\"$PATH:{}\"", sh_quote(dir)),
        None => format!("install {name} and add its directory to the end of PATH"),
    }
}
