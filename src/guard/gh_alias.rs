//! gh aliases (`gh alias set pm 'pr merge'`) resolved as gh does, so an alias cannot hide
//! a merge: the expansion is read from the real gh's `gh alias list`.

use super::git_argv::split_alias;

/// gh's own top-level commands: a first word that is none of these may be an alias.
const COMMANDS: &[&str] = &[
    "agent-task",
    "alias",
    "api",
    "attestation",
    "auth",
    "browse",
    "cache",
    "codespace",
    "completion",
    "config",
    "copilot",
    "extension",
    "gist",
    "gpg-key",
    "help",
    "issue",
    "label",
    "org",
    "pr",
    "preview",
    "project",
    "release",
    "repo",
    "ruleset",
    "run",
    "search",
    "secret",
    "ssh-key",
    "status",
    "variable",
    "workflow",
];

/// The word that may be an alias: the first argument, when it is no flag and no command.
pub(crate) fn candidate(args: &[String]) -> Option<&str> {
    let first = args.first()?;
    (!first.starts_with('-') && !COMMANDS.contains(&first.as_str())).then_some(first.as_str())
}

/// The expansion of `name` in `gh alias list` output (`name: expansion` lines, the value
/// YAML-quoted when it needs it).
pub(crate) fn lookup(list: &str, name: &str) -> Option<String> {
    list.lines().find_map(|line| {
        let (k, v) = line.split_once(": ")?;
        (k.trim() == name).then(|| unquote(v.trim()))
    })
}

fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return inner.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    v.to_string()
}

/// The command line an alias expands to: `$1`… replaced by the arguments, the ones no
/// placeholder took appended. None for a shell (`!`) alias, whose inner `gh` meets the shim
/// again on PATH, and for an expansion that cannot be split.
pub(crate) fn expand(expansion: &str, rest: &[String]) -> Option<Vec<String>> {
    if expansion.starts_with('!') {
        return None;
    }
    let mut words = split_alias(expansion)?;
    let mut used = vec![false; rest.len()];
    for w in &mut words {
        for (i, a) in rest.iter().enumerate().rev() {
            let placeholder = format!("${}", i + 1);
            if w.contains(&placeholder) {
                *w = w.replace(&placeholder, a);
                used[i] = true;
            }
        }
    }
    words.extend(rest.iter().zip(used).filter(|(_, u)| !u).map(|(a, _)| a.clone()));
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_expand_as_gh_expands_them() {
        let list = "co: pr checkout\npm: pr merge\nmq: 'pr merge $1 --squash'\nsh: '!gh pr merge \"$1\"'\n";
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(candidate(&v("pm 1")), Some("pm"));
        assert_eq!(candidate(&v("pr merge 1")), None);
        assert_eq!(expand(&lookup(list, "pm").unwrap(), &v("1")), Some(v("pr merge 1")));
        assert_eq!(expand(&lookup(list, "mq").unwrap(), &v("7 -R o/r")), Some(v("pr merge 7 --squash -R o/r")));
        assert_eq!(expand(&lookup(list, "sh").unwrap(), &v("1")), None);
        assert_eq!(lookup(list, "nope"), None);
    }
}
