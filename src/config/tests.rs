use super::*;
use proptest::prelude::*;
use toml::{Table, Value};

#[test]
fn layers_overlay_and_unknown_keys_fail() {
    let mut c = Config::default();
    c.apply_text("[integrator]\nmode = \"shadow\"\n").unwrap();
    assert_eq!(c.integrator.mode, Mode::Shadow);
    assert_eq!(c.integrator.main, "main");
    let err = c.apply_text("[integrator]\nmoed = \"shadow\"\n").unwrap_err();
    assert!(err.contains("moed"), "{err}");
    let err = c.apply_text("[integrator]\nmode = \"fast\"\n").unwrap_err();
    assert!(err.contains("fast") || err.contains("variant"), "{err}");
    let err = c.apply_text("[cutover]\nparity_threshold = 2.0\n").unwrap_err();
    assert!(err.contains("cutover.parity_threshold"), "{err}");
}

#[test]
fn env_overrides_only_mode_and_controls() {
    let mut c = Config::default();
    c.apply_env(|k| match k {
        "TELECLAUDE_INTEGRATOR_MODE" => Some("cutover".into()),
        "TELECLAUDE_INTEGRATOR_CUTOVER_ENABLED" => Some("1".into()),
        "TELECLAUDE_INTEGRATOR_PARITY_EVIDENCE" => Some("accepted".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.integrator.mode, Mode::Cutover);
    assert!(c.cutover.enabled);
    assert_eq!(c.cutover.parity_evidence, ParityEvidence::Accepted);
    assert!(c.apply_env(|_| Some("bogus".into())).is_err());
}

#[test]
fn the_built_in_configuration_is_the_defaults_table() {
    let c = Config::default();
    let table: toml::Table = toml::from_str(DEFAULTS).unwrap();
    assert_eq!(toml::Table::try_from(&c).unwrap(), table);
    assert_eq!(c.guard.agent_blocked, DEFAULT_AGENT_BLOCKED, "DEFAULT_AGENT_BLOCKED and defaults.toml differ");
    assert_eq!(c.check(), Ok(()));
}

#[test]
fn a_file_changes_only_the_keys_it_sets() {
    let mut c = Config::default();
    c.apply_text("[integrator]\nmode = \"shadow\"\n[guard]\nprotected = [\"main\", \"release\"]\n").unwrap();
    c.apply_text("[integrator]\nverify = \"make test\"\n[guard]\nprotected = [\"trunk\"]\n").unwrap();
    c.apply_text("cutover.enabled = true\nintegrator = { grace_secs = 5 }\n").unwrap();
    let mut want = Config::default();
    want.integrator.mode = Mode::Shadow;
    want.integrator.verify = "make test".into();
    want.integrator.grace_secs = 5;
    want.guard.protected = vec!["trunk".into()];
    want.cutover.enabled = true;
    assert_eq!(c, want);
    c.apply_text("").unwrap();
    assert_eq!(c, want);
}

#[test]
fn a_bad_key_or_value_is_shown_where_it_stands_in_the_file() {
    let mut c = Config::default();
    c.apply_text("[integrator]\nmode = \"shadow\"\n").unwrap();
    let err = c.apply_text("[integrator]\nverify = \"x\"\nmoed = 1\n").unwrap_err();
    let fields = "`main`, `remote`, `mode`, `trigger`, `merge`, `lease_ttl_secs`, `grace_secs`, \
                  `max_push_retries`, `verify`, `verify_in_shadow`, `bookkeeping`, `after_push`, \
                  `delete_merged_branches`, `verify_timeout_secs`, `verify_parallel`, `signing_key`, `author`, `cleanup_worktrees`, `status_html`";
    let want = format!(
        "TOML parse error at line 3, column 1\n    |\n  3 | moed = 1\n    | ^^^^\n  \
         unknown field `moed`, expected one of {fields}"
    );
    assert_eq!(err, want);
    let err = c.apply_text("[guard]\nagent_env = \"A\"\n[cutover]\nenabled = \"yes\"\n").unwrap_err();
    let want = "TOML parse error at line 4, column 11\n    |\n  4 | enabled = \"yes\"\n    |           ^^^^^\n  \
                invalid type: string \"yes\", expected a boolean";
    assert_eq!(err, want);
    let err = c.apply_text("integrator = 5\n").unwrap_err();
    assert!(err.ends_with("invalid type: integer `5`, expected struct IntegratorLayer"), "{err}");
    assert_eq!(c.integrator.mode, Mode::Shadow, "a file in error changes nothing");
}

/// Every `section.key` of the defaults table with its default, and one that is not a key.
fn keys() -> Vec<(String, String, Value)> {
    let defaults: Table = toml::from_str(DEFAULTS).unwrap();
    let mut keys = vec![("integrator".to_string(), "moed".to_string(), Value::Boolean(true))];
    for (section, table) in &defaults {
        keys.extend(table.as_table().unwrap().iter().map(|(k, v)| (section.clone(), k.clone(), v.clone())));
    }
    keys
}

/// A value of the same type as `default` (most of the time), or of another.
fn a_value(default: &Value, pick: usize, other_type: bool) -> String {
    let words = ["\"main\"", "\"shadow\"", "\"squash\"", "\"event\"", "\"accepted\"", "\"\"", "\"a b\"", "\"off\""];
    let pools: [&[&str]; 5] = [
        &words,
        &["0", "3", "4", "120"],
        &["0.0", "0.5", "2.0"],
        &["true", "false"],
        &["[]", "[\"trunk\", \"dev\"]", "[1]"],
    ];
    let kind = match default {
        Value::String(_) => 0,
        Value::Integer(_) => 1,
        Value::Float(_) => 2,
        Value::Boolean(_) => 3,
        _ => 4,
    };
    let pool = pools[if other_type { (kind + 1 + pick % 4) % 5 } else { kind }];
    pool[pick % pool.len()].to_string()
}

/// `a` with every key `b` sets replaced by `b`'s value, section by section.
fn merged(mut a: Table, b: &Table) -> Table {
    for (section, keys) in b {
        let into = a.get_mut(section).and_then(Value::as_table_mut).unwrap();
        into.extend(keys.as_table().unwrap().clone());
    }
    a
}

/// `t` with every integer as a float, as an integer given for a float key reads.
fn floats(t: Table) -> Table {
    let float = |v| match v {
        Value::Integer(i) => Value::Float(i as f64),
        Value::Table(t) => Value::Table(floats(t)),
        v => v,
    };
    t.into_iter().map(|(k, v)| (k, float(v))).collect()
}

proptest! {
    #[test]
    fn a_file_sets_its_keys_and_keeps_the_others(
        sets in proptest::collection::vec((proptest::sample::select(keys()), 0..100usize, proptest::bool::weighted(0.1)), 0..6)
    ) {
        let mut sections = std::collections::BTreeMap::<String, String>::new();
        for ((section, key, default), pick, other_type) in &sets {
            let body = sections.entry(section.clone()).or_default();
            if !body.starts_with(&format!("{key} =")) && !body.contains(&format!("\n{key} =")) {
                body.push_str(&format!("{key} = {}\n", a_value(default, *pick, *other_type)));
            }
        }
        let text: String = sections.iter().map(|(s, body)| format!("[{s}]\n{body}")).collect();
        let mut c = Config::default();
        c.apply_text("[integrator]\nmode = \"shadow\"\n").unwrap();
        let before = Table::try_from(&c).unwrap();
        match c.apply_text(&text) {
            Ok(()) => {
                let file: Table = toml::from_str(&text).unwrap();
                prop_assert_eq!(floats(Table::try_from(&c).unwrap()), floats(merged(before, &file)), "{}", text);
            }
            Err(e) => {
                prop_assert!(e.contains("TOML parse error") || e.contains("key `"), "{text}: {e}");
                prop_assert!(!e.contains("missing field"), "{text}: {e}");
            }
        }
    }
}
