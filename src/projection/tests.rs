use super::*;
use crate::events::{self, lifecycle};
use crate::notification::NotificationState;
use proptest::prelude::*;
use std::io::Write;

#[derive(Clone, Debug)]
enum Op {
    Approve(usize, u64),
    /// branch, sha, remote (0: origin, 1: a second remote)
    Push(usize, usize, usize),
    Start(usize, usize, usize, u8),
    Complete(usize, usize),
    Fail(usize),
    Seen(usize),
    Drop(usize, usize, usize),
    /// A reader (status, run) loads the projection and saves it, archiving.
    Save,
    /// A long-lived process (a run) folds the tail and saves, keeping its projection.
    SaveLive,
    /// A slow process: loads here, and at the next `SaveStale` saves what it loaded
    /// without folding what came since.
    SaveStale,
    /// The snapshot is lost and the next reader replays the log (a new archive).
    Rebuild,
    /// A process killed between appending to the archive and writing the snapshot.
    Crash,
}

const SLUGS: [&str; 3] = ["alpha", "beta", "gamma"];
const BRANCHES: [&str; 3] = ["feat/a", "feat/b", "feat/c"];
const REMOTES: [&str; 2] = ["origin", "fork"];

fn sha(i: usize) -> String {
    format!("{:040x}", i + 1)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..3u64).prop_map(|(s, r)| Op::Approve(s, r)),
        (0..3usize, 0..4usize, 0..2usize).prop_map(|(b, h, r)| Op::Push(b, h, r)),
        (0..3usize, 0..3usize, 0..4usize, 0..6u8).prop_map(|(s, b, h, t)| Op::Start(s, b, h, t)),
        (0..3usize, 0..4usize).prop_map(|(s, h)| Op::Complete(s, h)),
        (0..3usize).prop_map(Op::Fail),
        (0..3usize).prop_map(Op::Seen),
        (0..3usize, 0..3usize, 0..4usize).prop_map(|(s, b, h)| Op::Drop(s, b, h)),
        Just(Op::Save),
        Just(Op::SaveLive),
        Just(Op::SaveStale),
        Just(Op::Rebuild),
        Just(Op::Crash),
    ]
}

fn line(n: usize, op: &Op) -> Option<String> {
    let at = format!("2026-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60);
    let (kind, payload) = match op {
        Op::Approve(s, r) => (events::REVIEW_APPROVED, serde_json::json!({"slug": SLUGS[*s], "review_round": r})),
        Op::Push(b, h, r) => {
            (events::BRANCH_PUSHED, serde_json::json!({"branch": BRANCHES[*b], "sha": sha(*h), "remote": REMOTES[*r]}))
        }
        Op::Start(s, b, h, t) => (
            events::DEPLOYMENT_STARTED,
            serde_json::json!({"slug": SLUGS[*s], "branch": BRANCHES[*b], "sha": sha(*h),
                               "ready_at": format!("2026-01-01T0{t}:00:00Z")}),
        ),
        Op::Complete(s, h) => (
            events::DEPLOYMENT_COMPLETED,
            serde_json::json!({"slug": SLUGS[*s], "sha": sha(*h), "merge_commit": sha(100 + n)}),
        ),
        Op::Fail(s) => (events::DEPLOYMENT_FAILED, serde_json::json!({"slug": SLUGS[*s]})),
        Op::Seen(s) => (lifecycle::NOTIFICATION_SEEN, serde_json::json!({"slug": SLUGS[*s]})),
        Op::Drop(s, b, h) => (
            lifecycle::CANDIDATE_DROPPED,
            serde_json::json!({"slug": SLUGS[*s], "branch": BRANCHES[*b], "sha": sha(*h)}),
        ),
        Op::Save | Op::SaveLive | Op::SaveStale | Op::Rebuild | Op::Crash => return None,
    };
    let env = serde_json::json!({"v": 1, "id": format!("id-{n}"), "type": kind, "at": at, "source": "test",
                                 "key": format!("k{n}"), "level": "workflow", "payload": payload});
    Some(env.to_string())
}

/// What a projection says, independent of the order things were folded or taken back.
/// Candidates as a sorted list, so a candidate folded twice shows.
type Canon = (
    Vec<(String, String, String, String)>,
    BTreeMap<String, u64>,
    BTreeSet<(String, String, String)>,
    BTreeMap<String, String>,
    BTreeMap<String, (String, bool)>,
    BTreeSet<String>,
);

fn canon(p: &Projection) -> Canon {
    let mut started: Vec<_> =
        p.started.iter().map(|s| (s.slug.clone(), s.branch.clone(), s.sha.clone(), s.ready_at.clone())).collect();
    started.sort();
    (
        started,
        p.approvals.clone(),
        p.pushes.clone(),
        p.completed.clone(),
        p.notifications.iter().map(|(k, n)| (k.clone(), (n.state.to_string(), n.seen))).collect(),
        p.dropped.clone(),
    )
}

/// The part of `full` about the slugs `hot` holds, and the pushes its candidates name.
fn restricted(full: &Projection, hot: &Projection) -> Canon {
    let slugs = hot.slugs_in_memory();
    let named = hot.named_candidates();
    let slug_of = |k: &String| key_slug(k).to_string();
    let (st, ap, pu, co, no, dr) = canon(full);
    (
        st.into_iter().filter(|s| slugs.contains(&s.0)).collect(),
        ap.into_iter().filter(|(k, _)| slugs.contains(k)).collect(),
        pu.into_iter().filter(|(_, b, s)| named.contains(&(b.as_str(), s.as_str()))).collect(),
        co.into_iter().filter(|(k, _)| slugs.contains(&slug_of(k))).collect(),
        no.into_iter().filter(|(k, _)| slugs.contains(k)).collect(),
        dr.into_iter().filter(|k| slugs.contains(&slug_of(k))).collect(),
    )
}

fn hot_pushes(p: &Projection) -> BTreeSet<(String, String, String)> {
    let named = p.named_candidates();
    p.pushes.iter().filter(|(_, b, s)| named.contains(&(b.as_str(), s.as_str()))).cloned().collect()
}

proptest! {
    /// Archiving never changes what the fold says: after any sequence of events and
    /// saves, the snapshot plus its tail agrees with a plain fold of the whole log on
    /// every slug it holds, every unresolved slug is held, and with the archive folded
    /// back in it is the whole fold.
    #[test]
    fn archiving_preserves_the_fold(ops in proptest::collection::vec(op(), 1..40)) {
        let (_tmp, dir) = StateDir::temp();
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(dir.events()).unwrap();
        let mut live = Projection::load(&dir).unwrap();
        let mut slow: Option<Projection> = None;
        for (n, op) in ops.iter().enumerate() {
            match (line(n, op), op) {
                (Some(l), _) => writeln!(log, "{l}").unwrap(),
                (None, Op::SaveLive) => {
                    live.catch_up(&dir).unwrap();
                    live.save(&dir).unwrap();
                }
                (None, Op::SaveStale) => match slow.take() {
                    Some(mut p) => p.save(&dir).unwrap(),
                    None => slow = Some(Projection::load(&dir).unwrap()),
                },
                (None, Op::Crash) => {
                    let mut p = Projection::load(&dir).unwrap();
                    let records = p.split();
                    if !records.is_empty() {
                        archive::with_lock(&dir, || archive::write(&dir, p.archive.as_ref(), &records)).unwrap();
                    }
                }
                (None, Op::Rebuild) => {
                    let _ = std::fs::remove_file(dir.projection());
                    Projection::load(&dir).unwrap().save(&dir).unwrap();
                }
                (None, _) => Projection::load(&dir).unwrap().save(&dir).unwrap(),
            }
        }
        let mut reference = Projection { version: SNAPSHOT_VERSION, ..Projection::default() };
        reference.catch_up(&dir).unwrap();
        let hot = Projection::load(&dir).unwrap();
        prop_assert_eq!(restricted(&reference, &hot), canon(&Projection { pushes: hot_pushes(&hot), ..hot.clone() }));
        for (slug, w) in reference.winners() {
            let resolved = reference.is_completed(slug, &w.sha)
                && reference.notifications.get(slug).is_none_or(|n| n.state == NotificationState::Resolved || n.seen);
            prop_assert!(resolved || hot.slugs_in_memory().contains(slug), "unresolved {} must stay in the snapshot", slug);
        }
        live.catch_up(&dir).unwrap();
        prop_assert_eq!(restricted(&reference, &live), canon(&Projection { pushes: hot_pushes(&live), ..live.clone() }));
        prop_assert_eq!(hot.health, reference.health);
        prop_assert_eq!(hot.readiness_events, reference.readiness_events);
        let mut all = hot;
        all.with_archive().unwrap();
        prop_assert_eq!(canon(&all), canon(&reference));
    }
}

fn write_log(dir: &StateDir, ops: &[Op]) {
    let text: String = ops.iter().enumerate().filter_map(|(n, op)| line(n, op)).map(|l| l + "\n").collect();
    std::fs::write(dir.events(), text).unwrap();
}

/// A history of `n` slugs, each approved, pushed, started and completed.
fn resolved_history(n: usize) -> Vec<Op> {
    (0..n)
        .flat_map(|i| {
            [Op::Approve(i % 3, 1), Op::Push(i % 3, i, 0), Op::Start(i % 3, i % 3, i, 1), Op::Complete(i % 3, i)]
        })
        .collect()
}

#[test]
fn the_snapshot_keeps_only_open_work() {
    let (_tmp, dir) = StateDir::temp();
    let mut ops = resolved_history(3);
    ops.extend([Op::Approve(0, 2), Op::Push(0, 9, 0), Op::Start(0, 0, 9, 5)]);
    write_log(&dir, &ops);
    let mut p = Projection::load(&dir).unwrap();
    p.save(&dir).unwrap();
    let snap: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.projection()).unwrap()).unwrap();
    // alpha was reopened by a newer candidate; beta and gamma are resolved and archived.
    assert_eq!(
        snap["started"].as_array().unwrap().iter().map(|s| s["sha"].clone()).collect::<Vec<_>>(),
        vec![serde_json::json!(sha(0)), serde_json::json!(sha(9))]
    );
    assert_eq!(snap["pushes"].as_array().unwrap().len(), 2);
    assert!(snap["notifications"].get("beta").is_none() && snap["approvals"].get("gamma").is_none());
    let archive = std::fs::read_to_string(dir.projection_archive()).unwrap();
    assert!(archive.contains("\"key\":\"slug:beta\"") && archive.contains("\"key\":\"slug:gamma\""), "{archive}");
}

#[test]
fn a_missing_replaced_or_short_archive_makes_the_snapshot_replay() {
    let (_tmp, dir) = StateDir::temp();
    write_log(&dir, &resolved_history(3));
    let mut p = Projection::load(&dir).unwrap();
    p.save(&dir).unwrap();
    let stamp = p.archive.clone().expect("an archive was written");
    let bytes = std::fs::read(dir.projection_archive()).unwrap();
    let (covered, _) = Projection::load_tracked(&dir).unwrap();
    assert!(covered.archive.is_some(), "the snapshot is used while its archive matches");
    for damage in [
        Vec::new(),
        bytes[..bytes.len() - 10].to_vec(),
        String::from_utf8(bytes.clone()).unwrap().replacen(&stamp.id, "another-generation", 1).into_bytes(),
    ] {
        std::fs::write(dir.projection_archive(), &damage).unwrap();
        let (p, from) = Projection::load_tracked(&dir).unwrap();
        assert_eq!(from, 0, "replayed from the start");
        assert_eq!(p.completed.len(), 3, "the whole history is back");
    }
    std::fs::remove_file(dir.projection_archive()).unwrap();
    assert_eq!(Projection::load_tracked(&dir).unwrap().1, 0);
}

#[test]
fn a_process_holding_a_replaced_archive_does_not_overwrite_the_snapshot() {
    let (_tmp, dir) = StateDir::temp();
    let mut ops = resolved_history(2);
    write_log(&dir, &ops);
    Projection::load(&dir).unwrap().save(&dir).unwrap();
    let mut slow = Projection::load(&dir).unwrap();
    // The snapshot is lost; the next run replays and writes a new archive.
    std::fs::remove_file(dir.projection()).unwrap();
    Projection::load(&dir).unwrap().save(&dir).unwrap();
    let fresh = std::fs::read(dir.projection()).unwrap();
    // The slow process folds a tail with nothing to archive and saves: it must not
    // replace the snapshot with one naming the archive that is gone.
    ops.push(Op::Approve(2, 1));
    write_log(&dir, &ops);
    slow.catch_up(&dir).unwrap();
    slow.save(&dir).unwrap();
    assert_eq!(std::fs::read(dir.projection()).unwrap(), fresh);
    assert_ne!(Projection::load_tracked(&dir).unwrap().1, 0, "the next reader starts from the snapshot");
}

#[test]
fn a_reader_of_a_replaced_archive_still_finds_its_records() {
    let (_tmp, dir) = StateDir::temp();
    let mut ops = resolved_history(2);
    write_log(&dir, &ops);
    Projection::load(&dir).unwrap().save(&dir).unwrap();
    let mut reader = Projection::load(&dir).unwrap();
    assert!(!reader.slugs_in_memory().contains("alpha"));
    // Another process rebuilds the archive (a new generation) under the reader.
    std::fs::remove_file(dir.projection()).unwrap();
    Projection::load(&dir).unwrap().save(&dir).unwrap();
    // A new round of alpha: the reader takes alpha back from the file it opened.
    ops.push(Op::Approve(0, 2));
    write_log(&dir, &ops);
    reader.catch_up(&dir).unwrap();
    assert_eq!(reader.approvals.get("alpha"), Some(&2));
    assert_eq!(reader.started.iter().filter(|s| s.slug == "alpha").count(), 1);
    assert!(reader.is_completed("alpha", &sha(0)));
}
