//! Speculative verify gives the serial run's outcome (a property, on generated queues), and
//! a run killed in the middle of a speculative window converges: nothing lands twice,
//! nothing lands untested.

use crate::support::queue::{landed, queue_outcome, ready_all, Change};
use crate::support::{kill_9_at_failpoint, Sandbox};
use proptest::prelude::*;

/// What a generated candidate does.
#[derive(Clone, Debug)]
struct Gen {
    /// Writes `shared.txt` (conflicting with every other candidate that does, once one lands).
    shared: bool,
    /// Stacked on the branch of the candidate this many places before it (0: off main).
    stack: usize,
    /// Adds a `FAIL-*` file: verify fails on any tree that holds one.
    fails: bool,
    /// Adds a `BK-*` file: bookkeeping commits a line for it.
    bookkeeps: bool,
}

/// The candidates of `gens`, queued in the order `ranks` gives (a candidate stacked on one
/// queued after it brings that one's sha to main first).
fn changes(gens: &[Gen], ranks: &[usize]) -> Vec<Change> {
    gens.iter()
        .enumerate()
        .map(|(i, g)| {
            let slug = format!("p{i}");
            let mut files = vec![(format!("{slug}.txt"), format!("{i}\n"))];
            if g.shared {
                files.push(("shared.txt".into(), format!("from {slug}\n")));
            }
            if g.fails {
                files.push((format!("FAIL-{slug}"), "x\n".into()));
            }
            if g.bookkeeps {
                files.push((format!("BK-{slug}"), "x\n".into()));
            }
            let on = (g.stack > 0 && g.stack <= i).then(|| i - g.stack);
            Change { slug, on, files, rank: ranks.get(i).copied() }
        })
        .collect()
}

/// Verify records what it checked and fails on a tree with a `FAIL-*` file; bookkeeping
/// appends the slug to BOOKKEEPING when its candidate brought a `BK-<slug>` file.
const KEYS: &str = "verify = \"git rev-parse HEAD >> $TC_TESTED; test -z \\\"$(ls | grep '^FAIL-')\\\"\"\n\
    bookkeeping = \"if test -e BK-$TELECLAUDE_SLUG; then echo $TELECLAUDE_SLUG >> BOOKKEEPING; fi\"\n";

fn sandbox(k: usize) -> Sandbox {
    let mut sb = Sandbox::new();
    let tested = sb.root.join("tested").display().to_string();
    sb.extra_env.push(("TC_TESTED".into(), tested));
    sb.cutover_with(&format!("{KEYS}verify_parallel = {k}\n"));
    sb
}

fn tested(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.root.join("tested")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Every landed merge was checked by some verify (a bookkeeping commit sits on a checked merge).
fn assert_nothing_untested(sb: &Sandbox) {
    let tested = tested(sb);
    for (commit, parents, _) in landed(sb) {
        let checked = if parents.len() == 2 { commit } else { parents[0].clone() };
        assert!(tested.contains(&checked), "{checked} landed untested");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_parallel_run_lands_what_the_serial_run_lands_in_the_same_order_with_the_same_trees(
        (gens, ranks) in prop::collection::vec(
            (prop::bool::weighted(0.3), 0usize..3, prop::bool::weighted(0.25), prop::bool::weighted(0.15))
                .prop_map(|(shared, stack, fails, bookkeeps)| Gen { shared, stack: if stack == 2 { 1 } else { 0 }, fails, bookkeeps }),
            3..7,
        ).prop_flat_map(|gens| {
            let n = gens.len();
            (Just(gens), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        }),
        k in 2usize..5,
    ) {
        let changes = changes(&gens, &ranks);
        let serial = sandbox(1);
        ready_all(&serial, &changes);
        serial.ok(&["run"]);
        let parallel = sandbox(k);
        ready_all(&parallel, &changes);
        parallel.ok(&["run"]);
        // The same commits land in the same order: the same trees, the same remote main.
        prop_assert_eq!(landed(&parallel), landed(&serial));
        prop_assert_eq!(parallel.origin_ref("main"), serial.origin_ref("main"));
        // The same candidates blocked, for the same reasons; the same ones integrated.
        prop_assert_eq!(queue_outcome(&parallel), queue_outcome(&serial));
        assert_nothing_untested(&parallel);
        // Nobody else moves main: every push went as planned (none built on a stale base).
        let log = std::fs::read_to_string(parallel.state().join("events.jsonl")).unwrap();
        prop_assert!(!log.contains("integration.push.rejected"));
        prop_assert!(!parallel.state().join("speculative").exists());
    }
}

/// Six candidates (the third fails verify), four at once; the run is killed at `point`,
/// then a run converges on what an unkilled serial run gives.
fn kill_in_a_window_then_converge(point: &str) {
    let gens: Vec<Gen> = (0..6).map(|i| Gen { shared: false, stack: 0, fails: i == 2, bookkeeps: false }).collect();
    let changes = changes(&gens, &[]);
    let serial = sandbox(1);
    ready_all(&serial, &changes);
    serial.ok(&["run"]);
    let sb = sandbox(4);
    ready_all(&sb, &changes);
    kill_9_at_failpoint(&sb, point);
    sb.ok(&["run"]);
    // Nothing landed twice, nothing lost: the serial run's main, merge for merge.
    let landed_trailers = sb.git(&sb.origin, &["log", "--format=%(trailers:key=Integrated-Sha,valueonly)", "main"]);
    let mut trailers: Vec<&str> = landed_trailers.lines().filter(|l| !l.trim().is_empty()).collect();
    let count = trailers.len();
    trailers.dedup();
    assert_eq!(count, trailers.len(), "a candidate landed twice");
    assert_eq!(landed(&sb), landed(&serial), "{point}");
    // The same statuses (a candidate the killed run pushed is `recovered: already on main`).
    let statuses =
        |sb: &Sandbox| queue_outcome(sb).into_iter().map(|(slug, status, _)| (slug, status)).collect::<Vec<_>>();
    assert_eq!(statuses(&sb), statuses(&serial), "{point}");
    assert_nothing_untested(&sb);
    assert!(!sb.state().join("speculative").exists(), "{point}: speculative worktrees left behind");
    let worktrees = sb.git(&sb.work, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "{worktrees}");
}

#[test]
fn kill_9_after_a_speculative_window_was_checked_then_run_converges() {
    kill_in_a_window_then_converge("after-speculative-verify");
}

#[test]
fn kill_9_after_the_first_push_of_a_window_while_the_next_is_checked_then_run_converges() {
    kill_in_a_window_then_converge("after-push");
}

#[test]
fn kill_9_after_a_speculative_delivery_then_run_converges() {
    kill_in_a_window_then_converge("after-delivered");
}
