//! "Ask git, don't re-implement it": before a push the shim asks the real git — once, with
//! the same global options and environment — for the configuration that decides whether
//! our `pre-push` will run: `core.hooksPath` as git resolves it (includes,
//! `GIT_CONFIG_GLOBAL`, `HOME`, `XDG_CONFIG_HOME`, `-c`, `GIT_CONFIG_*` with any count),
//! every command-line override of a key that could bypass the guard, and mirror remotes.
//! That one `git config` is the only extra git process a push pays.

use super::git_argv::is_sensitive_config_key;
use super::shim::Real;
use crate::error::Result;
use crate::repo::Location;
use std::path::{Path, PathBuf};

/// The keys the question asks about (git's `--get-regexp` matches lower-cased names).
const KEYS: &str = r"^(core\.hookspath|hook\..*|remote\..*|url\..*|push\..*|alias\..*)$";

/// One entry of git's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `command` for `-c`, `--config-env` and `GIT_CONFIG_*`; else `system`, `global`, …
    pub scope: String,
    pub key: String,
    pub value: Option<String>,
}

/// The effective configuration that matters to a push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effective {
    pub entries: Vec<Entry>,
}

/// Ask the real git (same global options, same environment) for [`KEYS`].
pub(crate) fn ask(real: &Real, globals: &[String]) -> Result<Effective> {
    let mut q: Vec<String> = globals.to_vec();
    q.extend(["config", "-z", "--show-scope", "--get-regexp", KEYS].map(String::from));
    Ok(parse(&real.lookup(&q)?.stdout))
}

/// Parse `git config -z --show-scope --get-regexp` output: `scope NUL key [LF value] NUL`.
pub(crate) fn parse(out: &str) -> Effective {
    let mut fields = out.split('\0');
    let mut entries = Vec::new();
    while let (Some(scope), Some(kv)) = (fields.next(), fields.next()) {
        let (key, value) = match kv.split_once('\n') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (kv, None),
        };
        entries.push(Entry { scope: scope.to_string(), key: key.to_ascii_lowercase(), value });
    }
    Effective { entries }
}

impl Effective {
    /// Keys set on the command line or through `GIT_CONFIG_*` that could bypass the guard.
    pub(crate) fn command_overrides(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.scope == "command" && is_sensitive_config_key(&e.key))
            .map(|e| e.key.clone())
            .collect();
        keys.dedup();
        keys
    }

    /// The effective `core.hooksPath` (the last value wins, as in git).
    pub(crate) fn hooks_path(&self) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.key == "core.hookspath").and_then(|e| e.value.as_deref())
    }

    /// Remotes configured as mirrors (`remote.<name>.mirror` true).
    pub(crate) fn mirrors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.entries {
            let Some(name) = e.key.strip_prefix("remote.").and_then(|k| k.strip_suffix(".mirror")) else {
                continue;
            };
            let on = e
                .value
                .as_deref()
                .is_none_or(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"));
            out.retain(|n| n != name);
            if on {
                out.push(name.to_string());
            }
        }
        out
    }
}

/// The hooks directory git will use: `core.hooksPath` (`~/` expanded, relative to the
/// working tree's top, or the git dir when bare), else `<common-dir>/hooks`.
pub(crate) fn hooks_dir(hooks_path: Option<&str>, loc: &Location) -> PathBuf {
    let Some(v) = hooks_path else {
        return loc.common_dir.join("hooks");
    };
    if let Some(rest) = v.strip_prefix("~/") {
        return PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(rest);
    }
    let base = worktree_top(loc).unwrap_or_else(|| loc.git_dir.clone());
    base.join(v)
}

/// The top of the working tree `loc` belongs to (None when bare).
fn worktree_top(loc: &Location) -> Option<PathBuf> {
    if loc.is_main_checkout() {
        return loc.main_worktree();
    }
    // A linked worktree's git dir names its `.git` file in `gitdir`.
    let text = std::fs::read_to_string(loc.git_dir.join("gitdir")).ok()?;
    Path::new(text.trim()).parent().map(Path::to_path_buf)
}

/// Is the repository guarded by its own install: state dir present, or our hook in
/// `<common-dir>/hooks`?
pub(crate) fn is_guarded(loc: &Location) -> bool {
    loc.state().root().is_dir() || leads_to_guard(&hooks_dir(None, loc))
}

/// Does `dir/pre-push` lead to our guard: an executable hook holding install.sh's block,
/// which execs an existing, executable `pre-push`?
pub(crate) fn leads_to_guard(dir: &Path) -> bool {
    let hook = dir.join("pre-push");
    if !crate::shim_marker::is_executable(&hook) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(&hook) else {
        return false;
    };
    crate::hook_block::parse_hook_block(&text).is_some_and(|b| crate::shim_marker::is_executable(&b.target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scoped_entries_and_decides() {
        let out = "local\0core.hookspath\n/a\0command\0core.hookspath\n/b\0local\0remote.m.mirror\0\
                   local\0remote.n.mirror\nfalse\0command\0user.name\nx\0command\0alias.p\npush\0";
        let e = parse(out);
        assert_eq!(e.hooks_path(), Some("/b"));
        assert_eq!(e.mirrors(), vec!["m".to_string()]);
        assert_eq!(e.command_overrides(), vec!["core.hookspath".to_string(), "alias.p".to_string()]);
        assert_eq!(parse(""), Effective::default());
    }
}
