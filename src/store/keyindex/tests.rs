use super::*;

fn line(key: &str) -> String {
    format!("{{\"v\":1,\"key\":\"{key}\"}}\n")
}

fn has(dir: &Path, key: &str) -> bool {
    let log = dir.join("events.jsonl");
    let idx = KeyIndex::open(&dir.join("events.keys"), &log).unwrap();
    idx.contains(&File::open(&log).unwrap(), key).unwrap()
}

#[test]
fn finds_keys_and_follows_appends_by_other_writers() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("events.jsonl");
    std::fs::write(&log, line("a") + &line("b") + "not json\n").unwrap();
    assert!(has(d.path(), "a") && has(d.path(), "b"));
    assert!(!has(d.path(), "c"));
    // A line appended without the index (an older writer) is folded on the next open.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(&line("c"));
    std::fs::write(&log, &text).unwrap();
    assert!(has(d.path(), "c"));
}

#[test]
fn grows_past_its_initial_size() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("events.jsonl");
    let text: String = (0..3000).map(|i| line(&format!("k{i}"))).collect();
    std::fs::write(&log, text).unwrap();
    let idx = KeyIndex::open(&d.path().join("events.keys"), &log).unwrap();
    assert!(idx.slots >= 6000);
    let f = File::open(&log).unwrap();
    assert!((0..3000).all(|i| idx.contains(&f, &format!("k{i}")).unwrap()));
    assert!(!idx.contains(&f, "k3000").unwrap());
}

#[test]
fn extend_indexes_appended_lines() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("events.jsonl");
    std::fs::write(&log, line("a")).unwrap();
    let idx = KeyIndex::open(&d.path().join("events.keys"), &log).unwrap();
    let start = std::fs::metadata(&log).unwrap().len();
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(&line("new"));
    std::fs::write(&log, &text).unwrap();
    let idx = idx.extend(&log, &[("new", start)], text.len() as u64).unwrap();
    assert_eq!(idx.covered(), text.len() as u64);
    drop(idx);
    assert!(has(d.path(), "new"));
}

#[test]
fn a_truncated_or_replaced_log_rebuilds_the_index() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("events.jsonl");
    std::fs::write(&log, line("a") + &line("b")).unwrap();
    assert!(has(d.path(), "b"));
    // Truncated in place: the index covers more than the log holds.
    std::fs::write(&log, line("a")).unwrap();
    assert!(!has(d.path(), "b"));
    assert!(has(d.path(), "a"));
    // Rewritten in place to the same length with other content.
    std::fs::write(&log, line("x")).unwrap();
    assert!(!has(d.path(), "a"));
    assert!(has(d.path(), "x"));
    // Replaced by another file (rename over it).
    let other = d.path().join("other.jsonl");
    std::fs::write(&other, line("y") + &line("z")).unwrap();
    std::fs::rename(&other, &log).unwrap();
    assert!(!has(d.path(), "x"));
    assert!(has(d.path(), "z"));
}

#[test]
fn a_damaged_index_is_rebuilt_and_collisions_are_confirmed() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("events.jsonl");
    std::fs::write(&log, line("a")).unwrap();
    assert!(has(d.path(), "a"));
    std::fs::write(d.path().join("events.keys"), b"garbage").unwrap();
    assert!(has(d.path(), "a"));
    // A slot whose hash matches but whose line holds another key is not a hit.
    let mut idx = KeyIndex::open(&d.path().join("events.keys"), &log).unwrap();
    for i in 0..idx.slots {
        idx.set_slot(i, 0, 0);
        idx.map.bytes_mut()[HEADER + i as usize * SLOT + 8..HEADER + (i as usize + 1) * SLOT].fill(0);
    }
    let h = hash("b");
    idx.set_slot(h & (idx.slots - 1), h, 0);
    let f = File::open(&log).unwrap();
    assert!(!idx.contains(&f, "b").unwrap());
    assert!(!idx.contains(&f, "a").unwrap(), "the table was emptied by hand");
}
