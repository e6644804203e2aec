//! Config overrides given on the command line or through the environment, and which of
//! them could disable the hook, redirect a push or rename a command.

/// The key of a `key=value` (or `key` alone) config override, lower-cased as git does for
/// section and key (the subsection's case is kept by git, but we compare prefixes only).
/// Surrounding whitespace is trimmed, as git trims the key of a `'key=value'` parameter.
pub(super) fn config_key(kv: &str) -> String {
    kv.split_once('=').map_or(kv, |(k, _)| k).trim().to_ascii_lowercase()
}

/// Config keys that could disable the hook, redirect the push or rename a command.
pub fn is_sensitive_config_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "core.hookspath" || ["hook.", "remote.", "url.", "push.", "alias."].iter().any(|p| key.starts_with(p))
}

/// Config keys set through the environment: `GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_<n>` (any
/// count: the variables are walked, not the numbers) and `GIT_CONFIG_PARAMETERS` (what `-c`
/// exports to child gits). Keys are trimmed and lower-cased: a key git would reject makes
/// git fail, so reading it as the key it resembles only errs on the side of refusing.
pub fn env_config_keys(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut numbered = Vec::new();
    let mut count = None;
    let mut params = None;
    for (k, v) in vars {
        if k == "GIT_CONFIG_COUNT" {
            count = v.trim().parse::<u64>().ok();
        } else if k == "GIT_CONFIG_PARAMETERS" {
            params = Some(v);
        } else if let Some(n) = k.strip_prefix("GIT_CONFIG_KEY_").and_then(|n| n.parse::<u64>().ok()) {
            numbered.push((n, v.trim().to_ascii_lowercase()));
        }
    }
    numbered.sort();
    let mut keys: Vec<String> =
        numbered.into_iter().filter(|(n, _)| count.is_some_and(|c| *n < c)).map(|(_, k)| k).collect();
    if let Some(p) = params {
        keys.extend(parameter_keys(&p));
    }
    keys
}

/// Keys of `GIT_CONFIG_PARAMETERS`: `'key=value'` (old form) or `'key'='value'` words.
fn parameter_keys(s: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(word) = sq_word(&mut chars) else {
            break;
        };
        if chars.peek() == Some(&'=') {
            chars.next();
            let _ = sq_word(&mut chars);
            keys.push(word.trim().to_ascii_lowercase());
        } else {
            keys.push(config_key(&word));
        }
    }
    keys
}

/// One shell single-quoted word, with `'\''` joins; None at the end or on bad input.
fn sq_word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    loop {
        match chars.peek() {
            Some('\'') => {
                chars.next();
                any = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            Some('\\') => {
                chars.next();
                out.extend(chars.next());
                any = true;
            }
            _ => break,
        }
    }
    any.then_some(out)
}
