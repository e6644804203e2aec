//! A small native reader of one git config file: the hook must not run git for an
//! unprotected push, yet needs `core.hooksPath` and the remotes' URLs.

use std::path::Path;

/// One `section.subsection.key = value` entry; section and key lower-cased, the subsection
/// kept as written (git compares it case-sensitively).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub section: String,
    pub subsection: Option<String>,
    pub key: String,
    pub value: String,
}

/// Read `path` (no includes). A missing or unreadable file has no entries.
pub(crate) fn read(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path).map(|t| parse(&t)).unwrap_or_default()
}

/// Parse the text of a git config file, skipping what it cannot understand.
pub(crate) fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut subsection = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else { continue };
            let header = &rest[..end];
            match header.split_once(char::is_whitespace) {
                Some((name, sub)) => {
                    section = name.to_ascii_lowercase();
                    let sub = sub.trim();
                    subsection = Some(
                        sub.strip_prefix('"')
                            .and_then(|s| s.strip_suffix('"'))
                            .unwrap_or(sub)
                            .replace("\\\"", "\"")
                            .replace("\\\\", "\\"),
                    );
                }
                None => match header.split_once('.') {
                    // Deprecated `[section.sub]` form.
                    Some((name, sub)) => {
                        section = name.to_ascii_lowercase();
                        subsection = Some(sub.to_ascii_lowercase());
                    }
                    None => {
                        section = header.to_ascii_lowercase();
                        subsection = None;
                    }
                },
            }
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), value_of(v)),
            None => (line, "true".to_string()),
        };
        out.push(Entry {
            section: section.clone(),
            subsection: subsection.clone(),
            key: key.to_ascii_lowercase(),
            value,
        });
    }
    out
}

/// A value with quotes removed, escapes resolved and trailing comments dropped.
fn value_of(v: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = v.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            },
            '#' | ';' if !quoted => break,
            _ => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// The last value of `section.key` (no subsection), as git's "last one wins".
pub(crate) fn get<'a>(entries: &'a [Entry], section: &str, key: &str) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|e| e.section == section && e.subsection.is_none() && e.key == key)
        .map(|e| e.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_subsections_and_values() {
        let e = parse(
            "[core]\n\tbare = false\n\thooksPath = \"/x/hooks\" # hooks\n\
             [remote \"origin\"]\n\turl = ../origin.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n\
             [remote \"Up\"]\n\tpushurl = git@example.com:o/r.git\n",
        );
        assert_eq!(get(&e, "core", "hookspath"), Some("/x/hooks"));
        assert_eq!(get(&e, "core", "bare"), Some("false"));
        let up = e.iter().find(|e| e.key == "pushurl").unwrap();
        assert_eq!(up.subsection.as_deref(), Some("Up"));
        assert_eq!(up.value, "git@example.com:o/r.git");
    }

    /// Comment lines are no entries; inside quotes `#` and `;` are text, outside they end
    /// the value; `\"`, `\\` and `\t` are resolved. The two values are what
    /// `git config --file f core.hooksPath 'a#b;c "q" \x<TAB>t'` (and a url with a fragment)
    /// writes, and what `git config --get` reads back.
    #[test]
    fn comments_quotes_and_escapes_read_as_git_reads_them() {
        let e = parse(
            "# a comment = not a key\n; another = neither\n[core]\n\
             \thooksPath = \"a#b;c \\\"q\\\" \\\\x\\tt\"\n\
             [remote \"o\"]\n\turl = \"http://h/r.git#frag\" # the fork\n",
        );
        let entry = |section: &str, sub: Option<&str>, key: &str, value: &str| Entry {
            section: section.into(),
            subsection: sub.map(String::from),
            key: key.into(),
            value: value.into(),
        };
        assert_eq!(
            e,
            vec![
                entry("core", None, "hookspath", "a#b;c \"q\" \\x\tt"),
                entry("remote", Some("o"), "url", "http://h/r.git#frag"),
            ]
        );
    }
}
