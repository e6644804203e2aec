//! Aliases resolved as git resolves them: a builtin wins (only if the real git really has
//! it: `git --list-cmds=builtins`), then an alias — of any depth, with `-c` in its value
//! applying to what follows, a cycle stopping the walk (git then refuses on its own).

use super::git_argv::{self, Invocation};
use super::shim::Real;
use crate::error::Result;

/// The command after alias expansion, and what the user wrote.
pub(crate) struct Resolved {
    pub inv: Invocation,
    /// The first alias name, when the command word was an alias.
    pub alias: Option<String>,
    /// A `!` alias (shell command): cannot be analysed.
    pub shell_alias: bool,
    /// Config keys set by `-c` anywhere in the chain.
    pub config_keys: Vec<String>,
}

/// Follow the command word through `alias.*`, asking the real git with the chain's global
/// options (so `-c alias.x=…` counts, also inside an alias).
pub(crate) fn resolve(real: &Real, mut inv: Invocation) -> Result<Resolved> {
    let mut alias = None;
    let mut config_keys = inv.config_keys.clone();
    let mut seen: Vec<String> = Vec::new();
    let mut builtins: Option<Vec<String>> = None;
    while let Some(cmd) = inv.command.clone() {
        if git_argv::is_builtin(&cmd) || seen.contains(&cmd) {
            break;
        }
        let mut q: Vec<String> = inv.globals.clone();
        q.extend(["config".into(), "--get".into(), format!("alias.{cmd}")]);
        let found = real.lookup(&q)?;
        if !found.success || real_builtins(real, &mut builtins)?.contains(&cmd) {
            break;
        }
        seen.push(cmd.clone());
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

/// The real git's builtins, asked once per resolution and only when an alias competes.
fn real_builtins<'a>(real: &Real, cache: &'a mut Option<Vec<String>>) -> Result<&'a Vec<String>> {
    if cache.is_none() {
        let out = real.lookup(&["--list-cmds=builtins"])?;
        *cache = Some(out.stdout.lines().map(str::to_string).collect());
    }
    Ok(cache.get_or_insert_with(Vec::new))
}
