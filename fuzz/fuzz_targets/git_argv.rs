//! The git shim's argv classifier: never panics, and never lets a spelled-out
//! `--no-verify`, `--mirror`, `--receive-pack` or `--exec` of a push go unseen.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teleclaude_integrator::parse::{
    agent_verdict, analyse_push, confirmed_index, env_config_keys, is_sensitive_config_key, parse, split_alias,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // NUL separates argv words (as in /proc/<pid>/cmdline).
    let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
    let inv = parse(&argv);
    if let Some(cmd) = &inv.command {
        // `--version`/`-v` and `--help`/`-h` name their command; otherwise it is the word.
        let word = argv[inv.command_index].as_str();
        let named = match word {
            "--version" | "-v" => "version",
            "--help" | "-h" => "help",
            w => w,
        };
        assert_eq!(named, cmd);
        assert_eq!(inv.args, argv[inv.command_index + 1..].to_vec());
    }
    let push = analyse_push(&inv.args);
    // A spelled-out option before any `--`, not the value of the word before it (a
    // positional word or the first one), must be seen: the guard refuses on these.
    let args = &inv.args;
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    for i in 0..end {
        if i > 0 && args[i - 1].starts_with('-') {
            continue;
        }
        let a = args[i].as_str();
        let named = |o: &str| a == o || a.strip_prefix(o).is_some_and(|r| r.starts_with('='));
        if a == "--no-verify" {
            assert!(push.no_verify, "{args:?}");
        }
        if a == "--mirror" {
            assert!(push.mirror, "{args:?}");
        }
        if named("--receive-pack") || named("--exec") {
            assert!(push.receive_pack, "{args:?}");
        }
    }
    let blocked: Vec<String> = ["stash", "restore", "clean", "checkout", "reset", "revert"].map(String::from).to_vec();
    if let Some(cmd) = &inv.command {
        let _ = agent_verdict(cmd, &inv.args, &blocked);
    }
    let _ = confirmed_index(&inv.args);
    for k in &inv.config_keys {
        let _ = is_sensitive_config_key(k);
    }
    let _ = split_alias(&text);
    let _ = env_config_keys(|k| match k {
        "GIT_CONFIG_PARAMETERS" => Some(text.to_string()),
        "GIT_CONFIG_COUNT" => Some("2".into()),
        _ => argv.first().cloned(),
    });
});
