use super::commands::BUILTINS;
use super::push::long_candidates;
use super::*;
use proptest::prelude::*;

fn v(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn builtins_are_sorted_for_binary_search() {
    assert!(BUILTINS.windows(2).all(|w| w[0] < w[1]));
    assert!(is_builtin("rev-parse") && !is_builtin("pushit"));
    // Programs that may be missing are not trusted: an alias can stand in for them.
    for maybe_missing in ["svn", "p4", "gui", "citool", "send-email", "subtree", "replay"] {
        assert!(!is_builtin(maybe_missing), "{maybe_missing}");
    }
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
    // A long option's value, given as the next word, is no repository.
    assert_eq!(analyse_push(&v("--push-option ci.skip origin main")).repo.as_deref(), Some("origin"));
    assert_eq!(analyse_push(&v("--receive-pack x origin")).repo.as_deref(), Some("origin"));
    assert_eq!(analyse_push(&v("- main")).repo.as_deref(), Some("-"), "a lone dash is a word");
    assert_eq!(analyse_push(&v("-o ci.skip -f mirror main")).repo.as_deref(), Some("mirror"));
    assert_eq!(analyse_push(&v("-- --mirror")).repo.as_deref(), Some("--mirror"));
    assert!(!analyse_push(&v("-- --mirror")).mirror);
}

#[test]
fn config_overrides_from_env() {
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let keys = env_config_keys(env(&[
        ("GIT_CONFIG_KEY_1", "core.hooksPath"),
        ("GIT_CONFIG_COUNT", "2"),
        ("GIT_CONFIG_KEY_0", "user.name"),
        ("GIT_CONFIG_KEY_2", "alias.beyond-the-count"),
        ("GIT_CONFIG_PARAMETERS", "'alias.p'='push' 'remote.origin.url=x' 'it'\\''s'='1' ' core.hooksPath=D'"),
    ]));
    assert_eq!(keys, vec!["user.name", "core.hookspath", "alias.p", "remote.origin.url", "it's", "core.hookspath"]);
    assert!(keys.iter().any(|k| is_sensitive_config_key(k)));
    assert!(!is_sensitive_config_key("user.name"));
    assert!(!is_sensitive_config_key("core.editor"));
    assert!(is_sensitive_config_key("url.x.insteadOf"));
    // Any count: the 10,001st key counts as much as the first.
    let mut many: Vec<(String, String)> =
        (0..10_000).map(|n| (format!("GIT_CONFIG_KEY_{n}"), "user.x".into())).collect();
    many.push(("GIT_CONFIG_KEY_10000".into(), " core.hooksPath ".into()));
    many.push(("GIT_CONFIG_COUNT".into(), "10001".into()));
    assert_eq!(env_config_keys(many).last().map(String::as_str), Some("core.hookspath"));
    let spaced = vec!["-c".to_string(), " core.hooksPath=x".into(), "push".into()];
    assert_eq!(parse(&spaced).config_keys, vec!["core.hookspath"]);
}

#[test]
fn alias_values_split_like_git() {
    assert_eq!(split_alias("push --no-verify origin").unwrap(), v("push --no-verify origin"));
    assert_eq!(split_alias("commit -m 'a b' \"c d\" e\\ f").unwrap(), vec!["commit", "-m", "a b", "c d", "e f"]);
    assert!(split_alias("x 'open").is_none());
    // Inside single quotes a backslash is a backslash (git: `--format='a\b'` keeps it).
    assert_eq!(split_alias(r"x 'a\b' c\ d").unwrap(), vec!["x", r"a\b", "c d"]);
}

#[test]
fn agent_policy() {
    let blocked: Vec<String> = crate::config::DEFAULT_AGENT_BLOCKED.iter().map(|s| s.to_string()).collect();
    let verdict = |c: &str, a: &str| agent_verdict(c, &v(a), &blocked);
    // Each refusal names its own rule, not the catch-all: a rule that vanished would
    // still refuse, under the wrong reason.
    for (c, a, rule) in [
        ("stash", "", "can drop or hide uncommitted work"),
        ("stash", "pop", "can drop or hide uncommitted work"),
        ("stash", "drop", "can drop or hide uncommitted work"),
        ("restore", "f", "is blocked by guard.agent_blocked"),
        ("clean", "-fd", "deletes untracked files"),
        ("reset", "--hard", "discards uncommitted work"),
        ("reset", "--ha HEAD~1", "discards uncommitted work"),
        ("reset", "--merge", "discards uncommitted work"),
        ("reset", "--keep", "discards uncommitted work"),
        ("revert", "HEAD", "needs --confirmed"),
        ("checkout", "-- f", "discards uncommitted work"),
        ("checkout", "HEAD -- f", "discards uncommitted work"),
        ("checkout", "-f main", "discards uncommitted work"),
        ("checkout", "--force main", "discards uncommitted work"),
        ("checkout", "-p", "discards uncommitted work"),
        ("checkout", "main f", "discards uncommitted work"),
        ("checkout", "--ours f", "discards uncommitted work"),
        ("filter-branch", "--tree-filter true", "`(any filter)` runs commands"),
    ] {
        match verdict(c, a) {
            AgentVerdict::Refuse(why) => assert!(why.contains(rule), "{c} {a}: {why}"),
            other => panic!("{c} {a}: {other:?}"),
        }
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
    // Pathspec magic (`:(glob)x`, `:!x`) is paths; a lone `:` is left for git to resolve.
    assert_eq!(verdict("checkout", ":"), AgentVerdict::AllowIfRevision(":".into()));
    for magic in [":(glob)x", ":!x", ":/x"] {
        assert!(matches!(verdict("checkout", magic), AgentVerdict::Refuse(_)), "{magic}");
    }
    assert_eq!(
        agent_verdict("gc", &[], &["gc"]),
        AgentVerdict::Refuse("`git gc` is blocked by guard.agent_blocked".into())
    );
}

/// A command listed in `guard.agent_blocked` that has a destructive form is refused only
/// in that form: its other forms pass, and the destructive form names its rule.
#[test]
fn agent_policy_refuses_only_the_destructive_form() {
    for (c, harmless, destructive, rule) in [
        ("rebase", "main", "-x make main", "`--exec` runs commands"),
        ("rebase", "-i main", "--exec=make main", "`--exec` runs commands"),
        ("bisect", "start", "run make", "`run` runs commands"),
        ("submodule", "update --init", "foreach make", "`foreach` runs commands"),
        ("grep", "-e x", "-O x", "`--open-files-in-pager` runs commands"),
        ("switch", "-c x", "--discard-changes x", "discards uncommitted work"),
        ("read-tree", "-u HEAD", "-u --reset HEAD", "overwrites the working tree"),
        ("checkout-index", "-a", "-f -a", "overwrites files"),
        ("worktree", "remove w", "remove --force w", "deletes a worktree"),
        ("clean", "-n", "-fdx", "deletes untracked files"),
    ] {
        assert_eq!(agent_verdict(c, &v(harmless), &[c]), AgentVerdict::Allow, "{c} {harmless}");
        match agent_verdict(c, &v(destructive), &[c]) {
            AgentVerdict::Refuse(why) => assert!(why.contains(rule), "{c} {destructive}: {why}"),
            other => panic!("{c} {destructive}: {other:?}"),
        }
    }
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

#[test]
fn only_the_http_helpers_own_send_pack_form_is_recognised() {
    let helper = |s: &str| is_http_helper_send_pack(&v(s));
    assert!(helper("--stateless-rpc --helper-status --thin --no-progress http://h/r.git --stdin"));
    assert!(helper(
        "--stateless-rpc --helper-status --quiet --push-option=x --progress https://h/r --force-if-includes --stdin"
    ));
    assert!(helper("--stateless-rpc --helper-status --force-with-lease=refs/heads/a:abc u --stdin"));
    // Negated, another receive-pack, no --stdin, options first out of order, two positionals.
    assert!(!helper("--stateless-rpc --helper-status --no-stateless-rpc u --stdin"));
    assert!(!helper("--stateless-rpc --helper-status --receive-pack=x u --stdin"));
    assert!(!helper("--stateless-rpc --helper-status u"));
    assert!(!helper("--helper-status --stateless-rpc u --stdin"));
    assert!(!helper("--stateless-rpc --helper-status u main --stdin"));
    assert!(!helper("--stateless-rpc --helper-status -- u --stdin"));
    // Either of the two leading options missing.
    assert!(!helper("--quiet --helper-status u --stdin"));
    assert!(!helper("--stateless-rpc --quiet u --stdin"));
}
