//! A pure classifier of `git` command lines: global options resolved, the command word
//! found, `push` flags analysed the way git's option parser reads them (any unambiguous
//! prefix of a long option), the agent policy's verdict on destructive commands.
//! No I/O here: the shim asks the real git only for what argv cannot tell (aliases, remotes).

/// Every command git runs before it considers an alias (`git --list-cmds=main`, 2.47):
/// builtins and the git-* programs of the exec path. An alias never hides one of these.
const KNOWN_COMMANDS: &[&str] = &[
    "add",
    "am",
    "annotate",
    "apply",
    "archimport",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bugreport",
    "bundle",
    "cat-file",
    "check-attr",
    "check-ignore",
    "check-mailmap",
    "check-ref-format",
    "checkout",
    "checkout--worker",
    "checkout-index",
    "cherry",
    "cherry-pick",
    "citool",
    "clean",
    "clone",
    "column",
    "commit",
    "commit-graph",
    "commit-tree",
    "config",
    "count-objects",
    "credential",
    "credential-cache",
    "credential-cache--daemon",
    "credential-store",
    "cvsexportcommit",
    "cvsimport",
    "cvsserver",
    "daemon",
    "describe",
    "diagnose",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "difftool",
    "difftool--helper",
    "fast-export",
    "fast-import",
    "fetch",
    "fetch-pack",
    "filter-branch",
    "fmt-merge-msg",
    "for-each-ref",
    "for-each-repo",
    "format-patch",
    "fsck",
    "fsck-objects",
    "fsmonitor--daemon",
    "gc",
    "get-tar-commit-id",
    "grep",
    "gui",
    "hash-object",
    "help",
    "hook",
    "http-backend",
    "http-fetch",
    "http-push",
    "imap-send",
    "index-pack",
    "init",
    "init-db",
    "instaweb",
    "interpret-trailers",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "mailinfo",
    "mailsplit",
    "maintenance",
    "merge",
    "merge-base",
    "merge-file",
    "merge-index",
    "merge-octopus",
    "merge-one-file",
    "merge-ours",
    "merge-recursive",
    "merge-recursive-ours",
    "merge-recursive-theirs",
    "merge-resolve",
    "merge-subtree",
    "merge-tree",
    "mergetool",
    "mktag",
    "mktree",
    "multi-pack-index",
    "mv",
    "name-rev",
    "notes",
    "p4",
    "pack-objects",
    "pack-redundant",
    "pack-refs",
    "patch-id",
    "pickaxe",
    "prune",
    "prune-packed",
    "pull",
    "push",
    "quiltimport",
    "range-diff",
    "read-tree",
    "rebase",
    "receive-pack",
    "reflog",
    "refs",
    "remote",
    "remote-ext",
    "remote-fd",
    "remote-ftp",
    "remote-ftps",
    "remote-http",
    "remote-https",
    "repack",
    "replace",
    "replay",
    "request-pull",
    "rerere",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "send-email",
    "send-pack",
    "sh-i18n--envsubst",
    "shell",
    "shortlog",
    "show",
    "show-branch",
    "show-index",
    "show-ref",
    "sparse-checkout",
    "stage",
    "stash",
    "status",
    "stripspace",
    "submodule",
    "submodule--helper",
    "svn",
    "switch",
    "symbolic-ref",
    "tag",
    "unpack-file",
    "unpack-objects",
    "update-index",
    "update-ref",
    "update-server-info",
    "upload-archive",
    "upload-archive--writer",
    "upload-pack",
    "var",
    "verify-commit",
    "verify-pack",
    "verify-tag",
    "version",
    "web--browse",
    "whatchanged",
    "worktree",
    "write-tree",
];

/// Is `name` a command git runs itself (so it can never be an alias)?
pub fn is_known_command(name: &str) -> bool {
    KNOWN_COMMANDS.binary_search(&name).is_ok()
}

/// A command line with its global options resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The global options exactly as given (to run `git config` the same way).
    pub globals: Vec<String>,
    /// The command word, if any (`None` for `git --version`, `git -C x`, …).
    pub command: Option<String>,
    /// Index of the command word in the parsed slice.
    pub command_index: usize,
    /// The arguments after the command word.
    pub args: Vec<String>,
    /// Config keys set by `-c key=value` and `--config-env key=ENV`, lower-cased.
    pub config_keys: Vec<String>,
    /// `-C` directories, in order.
    pub chdirs: Vec<String>,
    /// `--git-dir`, if given.
    pub git_dir: Option<String>,
}

/// Global options that take a value, as `--opt value` or `--opt=value`.
const GLOBAL_WITH_VALUE: &[&str] =
    &["--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix", "--attr-source"];

/// Resolve git's global options (git.c `handle_options`) and find the command word.
pub fn parse(argv: &[String]) -> Invocation {
    let mut inv = Invocation::default();
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        if !a.starts_with('-') {
            break;
        }
        match a {
            "--version" | "-v" => {
                inv.command = Some("version".into());
                inv.command_index = i;
                inv.args = argv[i + 1..].to_vec();
                inv.globals = argv[..i].to_vec();
                return inv;
            }
            "--help" | "-h" => {
                inv.command = Some("help".into());
                inv.command_index = i;
                inv.args = argv[i + 1..].to_vec();
                inv.globals = argv[..i].to_vec();
                return inv;
            }
            "-C" | "-c" | "--shallow-file" => {
                let Some(v) = argv.get(i + 1) else {
                    i = argv.len();
                    break;
                };
                match a {
                    "-C" => inv.chdirs.push(v.clone()),
                    "-c" => inv.config_keys.push(config_key(v)),
                    _ => {}
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        if let Some(opt) = GLOBAL_WITH_VALUE.iter().find(|o| a == **o || a.starts_with(&format!("{o}="))) {
            let value = match a.split_once('=') {
                Some((_, v)) => v.to_string(),
                None => {
                    let Some(v) = argv.get(i + 1) else {
                        i = argv.len();
                        break;
                    };
                    i += 1;
                    v.clone()
                }
            };
            match *opt {
                "--config-env" => inv.config_keys.push(config_key(&value)),
                "--git-dir" => inv.git_dir = Some(value),
                _ => {}
            }
        }
        // Flags without a value (`-p`, `--no-pager`, `--bare`, `--exec-path[=dir]`, …) and
        // options git will reject: either way they name no command.
        i += 1;
    }
    inv.globals = argv[..i.min(argv.len())].to_vec();
    if i < argv.len() {
        inv.command = Some(argv[i].clone());
        inv.command_index = i;
        inv.args = argv[i + 1..].to_vec();
    }
    inv
}

/// The key of a `key=value` (or `key` alone) config override, lower-cased as git does for
/// section and key (the subsection's case is kept by git, but we compare prefixes only).
fn config_key(kv: &str) -> String {
    kv.split_once('=').map_or(kv, |(k, _)| k).to_ascii_lowercase()
}

/// Config keys that could disable the hook, redirect the push or rename a command.
pub fn is_sensitive_config_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "core.hookspath" || ["hook.", "remote.", "url.", "push.", "alias."].iter().any(|p| key.starts_with(p))
}

/// Config keys set through the environment: `GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_<n>` and
/// `GIT_CONFIG_PARAMETERS` (what `-c` exports to child gits).
pub fn env_config_keys(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut keys = Vec::new();
    let count = get("GIT_CONFIG_COUNT").and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(0);
    for n in 0..count.min(10_000) {
        if let Some(k) = get(&format!("GIT_CONFIG_KEY_{n}")) {
            keys.push(k.to_ascii_lowercase());
        }
    }
    if let Some(p) = get("GIT_CONFIG_PARAMETERS") {
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
            keys.push(word.to_ascii_lowercase());
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

/// Split an alias value into words as git's `split_cmdline` does (quotes and backslashes).
pub fn split_alias(value: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (q, '\\') if q != Some('\'') => {
                cur.push(chars.next()?);
                in_word = true;
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The long options of `git push` (and their `no-` forms) as its option parser knows them.
const PUSH_LONG: &[(&str, bool)] = &[
    ("all", false),
    ("atomic", false),
    ("branches", false),
    ("delete", false),
    ("dry-run", false),
    ("exec", true),
    ("follow-tags", false),
    ("force", false),
    ("force-if-includes", false),
    ("force-with-lease", false),
    ("ipv4", false),
    ("ipv6", false),
    ("mirror", false),
    ("no-atomic", false),
    ("no-all", false),
    ("no-branches", false),
    ("no-delete", false),
    ("no-dry-run", false),
    ("no-exec", false),
    ("no-follow-tags", false),
    ("no-force", false),
    ("no-force-if-includes", false),
    ("no-force-with-lease", false),
    ("no-mirror", false),
    ("no-porcelain", false),
    ("no-progress", false),
    ("no-prune", false),
    ("no-push-option", false),
    ("no-quiet", false),
    ("no-receive-pack", false),
    ("no-recurse-submodules", false),
    ("no-repo", false),
    ("no-set-upstream", false),
    ("no-signed", false),
    ("no-tags", false),
    ("no-thin", false),
    ("no-verbose", false),
    ("no-verify", false),
    ("porcelain", false),
    ("progress", false),
    ("prune", false),
    ("push-option", true),
    ("quiet", false),
    ("receive-pack", true),
    ("recurse-submodules", true),
    ("repo", true),
    ("set-upstream", false),
    ("signed", false),
    ("tags", false),
    ("thin", false),
    ("verbose", false),
    ("verify", false),
];

/// What a `git push` command line asks for, as far as the guard cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Push {
    /// `--no-verify` or any abbreviation git could read as it: the hook would not run.
    pub no_verify: bool,
    pub mirror: bool,
    /// `--receive-pack` / `--exec`: another program on the remote side.
    pub receive_pack: bool,
    /// The repository named (`--repo` or the first positional argument).
    pub repo: Option<String>,
}

/// The long options `name` (without `--` and `=value`) may mean: the exact one, else
/// every option it is a prefix of (git refuses ambiguous prefixes; we assume the worst).
fn long_candidates(name: &str) -> Vec<(&'static str, bool)> {
    if let Some(exact) = PUSH_LONG.iter().find(|(o, _)| *o == name) {
        return vec![*exact];
    }
    if name.is_empty() {
        return Vec::new();
    }
    PUSH_LONG.iter().filter(|(o, _)| o.starts_with(name)).copied().collect()
}

/// Analyse the arguments after `push`.
pub fn analyse_push(args: &[String]) -> Push {
    let mut p = Push::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let cands = long_candidates(name);
            let names: Vec<&str> = cands.iter().map(|(n, _)| *n).collect();
            p.no_verify |= names.contains(&"no-verify");
            p.mirror |= names.contains(&"mirror");
            p.receive_pack |= names.contains(&"receive-pack") || names.contains(&"exec");
            let takes_value = cands.len() == 1 && cands[0].1;
            let value = match value {
                Some(v) => Some(v),
                None if takes_value => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
                None => None,
            };
            if names == ["repo"] {
                p.repo = value;
            }
        } else if a.len() > 1 && a.starts_with('-') {
            // Bundled short flags; `-o` takes the rest of the word or the next argument.
            if let Some(pos) = a[1..].find('o') {
                if pos + 2 == a.len() {
                    i += 1;
                }
            }
        } else {
            positional.push(a.to_string());
        }
    }
    if p.repo.is_none() {
        p.repo = positional.first().cloned();
    }
    p
}

/// The agent policy's verdict on one command (`command` resolved through aliases).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentVerdict {
    Allow,
    /// Refused; the rule.
    Refuse(String),
    /// `git checkout <name>`: a branch switch only if `name` is a commit or a remote branch
    /// git would create a local branch from; a path otherwise.
    AllowIfRevision(String),
}

/// Options of `git checkout` that switch branches without discarding anything.
const CHECKOUT_SAFE: &[&str] = &[
    "-q",
    "--quiet",
    "--detach",
    "-t",
    "--track",
    "--no-track",
    "--guess",
    "--no-guess",
    "--progress",
    "--no-progress",
    "--ignore-other-worktrees",
    "-l",
];
const CHECKOUT_NEW_BRANCH: &[&str] = &["-b", "-B", "--orphan"];

/// Apply the destructive-command policy to `command args` (only called for agents).
pub fn agent_verdict(command: &str, args: &[String], blocked: &[String]) -> AgentVerdict {
    if !blocked.iter().any(|b| b == command) {
        return AgentVerdict::Allow;
    }
    let refuse = |rule: &str| AgentVerdict::Refuse(format!("`git {command}` {rule}"));
    match command {
        "stash" => match args.first().map(String::as_str) {
            Some("list" | "show") => AgentVerdict::Allow,
            _ => refuse("can drop or hide uncommitted work"),
        },
        "clean" => {
            let dry = args
                .iter()
                .any(|a| a == "--dry-run" || (a.starts_with('-') && !a.starts_with("--") && a.contains('n')));
            if dry {
                AgentVerdict::Allow
            } else {
                refuse("deletes untracked files")
            }
        }
        "reset" => {
            let hard = args.iter().take_while(|a| *a != "--").any(|a| {
                let name = a.strip_prefix("--").unwrap_or("");
                !name.is_empty() && ["hard", "merge", "keep"].iter().any(|o| o.starts_with(name))
            });
            if hard {
                refuse("with --hard, --merge or --keep discards uncommitted work")
            } else {
                AgentVerdict::Allow
            }
        }
        "revert" => {
            if confirmed_index(args).is_some() {
                AgentVerdict::Allow
            } else {
                refuse("needs --confirmed (it is removed before git runs)")
            }
        }
        "checkout" => checkout_verdict(args),
        _ => refuse("is blocked by guard.agent_blocked"),
    }
}

fn checkout_verdict(args: &[String]) -> AgentVerdict {
    let refuse = AgentVerdict::Refuse(
        "`git checkout` of paths, `.`, or with --force/--patch/--merge/--ours/--theirs \
         discards uncommitted work"
            .into(),
    );
    let mut new_branch = false;
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if CHECKOUT_NEW_BRANCH.contains(&a) {
            new_branch = true;
            i += 1; // the branch name
        } else if CHECKOUT_SAFE.contains(&a) || a.starts_with("--track=") {
            continue;
        } else if a.starts_with('-') && a != "-" {
            return refuse;
        } else {
            positional.push(a);
        }
    }
    match (new_branch, positional.as_slice()) {
        (true, [] | [_]) | (false, []) => AgentVerdict::Allow,
        (false, ["-"]) => AgentVerdict::Allow,
        (false, [name]) => AgentVerdict::AllowIfRevision(name.to_string()),
        _ => refuse,
    }
}

/// Where `--confirmed` is among a revert's arguments (before any `--`).
pub fn confirmed_index(args: &[String]) -> Option<usize> {
    args.iter().take_while(|a| *a != "--").position(|a| a == "--confirmed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn known_commands_are_sorted_for_binary_search() {
        assert!(KNOWN_COMMANDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_known_command("rev-parse") && !is_known_command("pushit"));
    }

    #[test]
    fn global_options_are_resolved() {
        let i = parse(&v("-C sub -c core.hooksPath=/dev/null --git-dir=x --no-pager -p push origin"));
        assert_eq!(i.command.as_deref(), Some("push"));
        assert_eq!(i.args, v("origin"));
        assert_eq!(i.config_keys, vec!["core.hookspath"]);
        assert_eq!(i.chdirs, vec!["sub"]);
        assert_eq!(i.git_dir.as_deref(), Some("x"));
        let i = parse(&v("--config-env remote.origin.url=U --work-tree w --namespace n stash"));
        assert_eq!(i.command.as_deref(), Some("stash"));
        assert_eq!(i.config_keys, vec!["remote.origin.url"]);
        assert_eq!(parse(&v("--version")).command.as_deref(), Some("version"));
        assert_eq!(parse(&v("-C")).command, None);
        assert_eq!(parse(&v("--bare --literal-pathspecs status")).command.as_deref(), Some("status"));
    }

    #[test]
    fn push_flags_with_abbreviations() {
        for a in ["--no-verify", "--no-verif", "--no-v", "--no-ver", "--n"] {
            assert!(analyse_push(&v(&format!("{a} origin main"))).no_verify, "{a}");
        }
        for a in ["--verify", "--verbose", "--ver", "-n", "--dry-run"] {
            assert!(!analyse_push(&v(&format!("{a} origin main"))).no_verify, "{a}");
        }
        assert!(analyse_push(&v("--mirror origin")).mirror);
        assert!(analyse_push(&v("--mir origin")).mirror);
        assert!(analyse_push(&v("--receive-pack=x origin")).receive_pack);
        assert!(analyse_push(&v("--exec x origin")).receive_pack);
        assert!(analyse_push(&v("--rece x origin")).receive_pack);
        assert_eq!(analyse_push(&v("--repo backup main")).repo.as_deref(), Some("backup"));
        assert_eq!(analyse_push(&v("-o ci.skip -f mirror main")).repo.as_deref(), Some("mirror"));
        assert_eq!(analyse_push(&v("-- --mirror")).repo.as_deref(), Some("--mirror"));
        assert!(!analyse_push(&v("-- --mirror")).mirror);
    }

    #[test]
    fn config_overrides_from_env() {
        let env = |k: &str| match k {
            "GIT_CONFIG_COUNT" => Some("2".to_string()),
            "GIT_CONFIG_KEY_0" => Some("user.name".to_string()),
            "GIT_CONFIG_KEY_1" => Some("core.hooksPath".to_string()),
            "GIT_CONFIG_PARAMETERS" => Some("'alias.p'='push' 'remote.origin.url=x' 'it'\\''s'='1'".to_string()),
            _ => None,
        };
        let keys = env_config_keys(env);
        assert_eq!(keys, vec!["user.name", "core.hookspath", "alias.p", "remote.origin.url", "it's"]);
        assert!(keys.iter().any(|k| is_sensitive_config_key(k)));
        assert!(!is_sensitive_config_key("user.name"));
        assert!(!is_sensitive_config_key("core.editor"));
        assert!(is_sensitive_config_key("url.x.insteadOf"));
    }

    #[test]
    fn alias_values_split_like_git() {
        assert_eq!(split_alias("push --no-verify origin").unwrap(), v("push --no-verify origin"));
        assert_eq!(split_alias("commit -m 'a b' \"c d\" e\\ f").unwrap(), vec!["commit", "-m", "a b", "c d", "e f"]);
        assert!(split_alias("x 'open").is_none());
    }

    #[test]
    fn agent_policy() {
        let blocked: Vec<String> = crate::config::DEFAULT_AGENT_BLOCKED.iter().map(|s| s.to_string()).collect();
        let verdict = |c: &str, a: &str| agent_verdict(c, &v(a), &blocked);
        for (c, a) in [
            ("stash", ""),
            ("stash", "pop"),
            ("stash", "drop"),
            ("restore", "f"),
            ("clean", "-fd"),
            ("reset", "--hard"),
            ("reset", "--ha HEAD~1"),
            ("reset", "--merge"),
            ("reset", "--keep"),
            ("revert", "HEAD"),
            ("checkout", "-- f"),
            ("checkout", "HEAD -- f"),
            ("checkout", "-f main"),
            ("checkout", "--force main"),
            ("checkout", "-p"),
            ("checkout", "main f"),
            ("checkout", "--ours f"),
        ] {
            assert!(matches!(verdict(c, a), AgentVerdict::Refuse(_)), "{c} {a}");
        }
        for (c, a) in [
            ("stash", "list"),
            ("clean", "-n"),
            ("reset", "HEAD~1"),
            ("reset", "--soft HEAD~1"),
            ("revert", "--confirmed HEAD"),
            ("checkout", "-b x"),
            ("checkout", "-B x origin/main"),
            ("checkout", ""),
            ("checkout", "-"),
            ("switch", "x"),
            ("status", ""),
        ] {
            assert_eq!(verdict(c, a), AgentVerdict::Allow, "{c} {a}");
        }
        assert_eq!(verdict("checkout", "main"), AgentVerdict::AllowIfRevision("main".into()));
        assert_eq!(verdict("checkout", "."), AgentVerdict::AllowIfRevision(".".into()));
        assert_eq!(
            agent_verdict("rebase", &[], &["rebase".into()]),
            AgentVerdict::Refuse("`git rebase` is blocked by guard.agent_blocked".into())
        );
    }

    /// Fuzz finding `git_argv` crash-2e81e2fe: `-h` (like `--help`, `-v`, `--version`)
    /// after other dashes names the `help` command, and the index points at the flag.
    #[test]
    fn help_and_version_flags_name_their_command() {
        let argv: Vec<String> = ["-", "-", "-", "-", "-h", "-", "-zk-zk"].map(String::from).to_vec();
        let inv = parse(&argv);
        assert_eq!(inv.command.as_deref(), Some("help"));
        assert_eq!(inv.command_index, 4);
        assert_eq!(inv.args, ["-", "-zk-zk"]);
        let inv = parse(&["--version".to_string()]);
        assert_eq!((inv.command.as_deref(), inv.command_index), (Some("version"), 0));
    }

    proptest! {
        #[test]
        fn any_no_verify_abbreviation_is_seen(n in 4usize..=9, pre in "[a-z][a-z-]{0,7}") {
            let flag = format!("--{}", &"no-verify"[..n]);
            let args = vec!["origin".to_string(), format!("--{pre}"), flag.clone(), "main".into()];
            // `--pre` may swallow the next argument only when it takes a value; then git
            // would not read `flag` as an option either.
            let p = analyse_push(&args);
            let swallowed = long_candidates(&pre).len() == 1 && long_candidates(&pre)[0].1;
            prop_assert!(p.no_verify || swallowed, "{:?}", args);
        }

        #[test]
        fn parse_never_panics(args in proptest::collection::vec("[-a-zA-Z=.]{0,12}", 0..8)) {
            let inv = parse(&args);
            if let (Some(c), Some(word)) = (&inv.command, args.get(inv.command_index)) {
                if !word.starts_with('-') {
                    prop_assert_eq!(word, c);
                }
            }
            let _ = analyse_push(&args);
            let _ = split_alias(&args.join(" "));
        }
    }
}
