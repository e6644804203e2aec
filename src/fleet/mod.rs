//! The fleet (README "Fleet"): agents on many computers, one integrator, and the git
//! remote as the distributed engine — it serializes ref updates, compares-and-swaps
//! (`--force-with-lease`) and updates several refs all or nothing (`--atomic`).
//!
//! - [`wire`]: how an event batch and a lease record are written as commits (pure);
//! - [`state`]: this clone's writer id, sync cursor and what it learnt, under `<state>/fleet/`;
//! - [`sync`]: `integrator sync` — publish this clone's events, ingest everyone else's
//!   ([`ingest`]: fast-forward checks and the causal order of what is appended);
//! - [`remote_lease`]: `refs/teleclaude/lease` taken, renewed and released by CAS, and the
//!   fenced push of main ([`cas`]: the compare-and-swap pushes and what git reports of them);
//! - [`trigger`]: the detached, debounced background sync `emit` and `pre-push` start;
//! - [`report`]: what `doctor` shows of the fleet.

pub(crate) mod cas;
pub(crate) mod ingest;
pub(crate) mod remote_lease;
pub(crate) mod report;
pub(crate) mod state;
pub(crate) mod sync;
pub(crate) mod trigger;
pub(crate) mod wire;

use crate::config::Config;
use crate::error::Result;
use crate::git::Git;

/// Each writer's events on the remote: `refs/teleclaude/events/<writer-id>`.
pub(crate) const EVENTS_NS: &str = "refs/teleclaude/events/";
/// The lease on the remote.
pub(crate) const LEASE_REF: &str = "refs/teleclaude/lease";
/// Where a sync fetches the remote's writer refs to (this clone's mirror of them).
pub(crate) const MIRROR_EVENTS: &str = "refs/teleclaude/fleet/events/";
/// Where the lease ref is fetched to.
pub(crate) const MIRROR_LEASE: &str = "refs/teleclaude/fleet/lease";
/// The fleet root, kept in this clone (see [`roots`]).
pub(crate) const ROOT_REF: &str = "refs/teleclaude/fleet/root";
/// A writer ref found rewritten (not a fast-forward) is kept aside here, never ingested.
pub(crate) const ASIDE: &str = "refs/teleclaude/fleet/rewritten/";
/// Beside it, the batch last ingested from that writer: what `doctor`'s fix puts back,
/// kept from `git gc` (nothing else references it once the mirror moved).
pub(crate) const KEPT: &str = "refs/teleclaude/fleet/ingested/";

/// `fleet.remote`, else `integrator.remote`.
pub(crate) fn remote(cfg: &Config) -> &str {
    if cfg.fleet.remote.is_empty() {
        &cfg.integrator.remote
    } else {
        &cfg.fleet.remote
    }
}

/// The gateway fleet commits are written with: a fixed identity (the commits hold
/// records, not code) and never the agent marker.
pub(crate) fn fleet_git(git: &Git, cfg: &Config) -> Git {
    let mut g = git.without_env(&cfg.guard.agent_env);
    for (k, v) in crate::apply::IDENTITY {
        g = g.with_env(k, v);
    }
    g
}

/// The host a lease names: `TELECLAUDE_HOSTNAME` (the tests' seam for "another
/// computer"), else the machine's name.
pub(crate) fn host() -> String {
    std::env::var("TELECLAUDE_HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(crate::lease::hostname)
}

/// How the fleet's git commands write loose objects: stored, not deflated. A batch's file
/// is gzip already; deflating it again, as git does by default when it writes the file and
/// when a fetch unpacks it, costs time for no byte saved (~10 ms of a run that fetches ten
/// writers' batches, `bench/fleet.sh`). `git gc` packs them as it packs everything.
pub(crate) const STORED: &str = "core.looseCompression=0";

/// Write the tree of an event batch: one file, [`wire::EVENTS_FILE`], holding `events`.
pub(crate) fn events_tree(git: &Git, events: &[u8]) -> Result<String> {
    let blob = git.capture_stdin(&["-c", STORED, "hash-object", "-w", "--stdin"], events)?;
    let entry = format!("100644 blob {}\t{}\n", blob.trim(), wire::EVENTS_FILE);
    Ok(git.capture_stdin(&["mktree"], entry.as_bytes())?.trim().to_string())
}

/// The fleet's root commit, written (or freshened) in this clone: the same bytes, so the
/// same id, in every clone of one hash algorithm — the empty tree, a fixed identity, the
/// epoch. A writer's first batch and the lease's first record sit on it, so a fetch of
/// refs this clone has never seen still shares a commit with the remote: offered as
/// common ground, it lets the remote answer "ready" in the first round of the fetch
/// instead of a second. (Chains begun without it, by earlier versions, still read.)
fn root(git: &Git, empty_tree: &str) -> Result<String> {
    let who = "teleclaude <teleclaude> 0 +0000";
    let body = format!("tree {empty_tree}\nauthor {who}\ncommitter {who}\n\nteleclaude fleet root\n");
    Ok(git.capture_stdin(&["hash-object", "-t", "commit", "-w", "--stdin"], body.as_bytes())?.trim().to_string())
}

/// Write a fleet commit: `tree`, `message` verbatim, on `parent` (beginning a chain — a
/// writer's first batch, the lease's first record — on the fleet [`root`]).
pub(crate) fn write_commit(git: &Git, tree: &str, parent: &str, message: &str) -> Result<String> {
    let args = ["commit-tree", "--no-gpg-sign", tree, "-p", parent, "-F", "-"];
    Ok(git.capture_stdin(&args, message.as_bytes())?.trim().to_string())
}

/// The empty tree and the fleet [`root`] of this clone.
#[derive(Debug)]
pub(crate) struct Roots {
    pub tree: String,
    pub root: String,
}

/// Run `op` with this clone's empty tree and fleet root ([`roots`]); when it fails naming
/// one of them (gone from this clone after all: damaged), they are written again and `op`
/// runs once more.
pub(crate) fn with_roots<T>(git: &Git, fd: &state::FleetDir, op: impl Fn(&Roots) -> Result<T>) -> Result<T> {
    let roots = roots(git, fd)?;
    // Git's own words for a missing object (commit-tree's, fetch's), not just the id, which
    // the failed command's argv holds anyway.
    let missing = |e: &crate::error::Error, id: &str| {
        let said = e.sentence();
        said.contains(&format!("the object {id} does not exist"))
            || said.contains(&format!("{id} is not a valid object"))
    };
    match op(&roots) {
        Err(e) if missing(&e, &roots.root) || missing(&e, &roots.tree) => op(&write_roots(git, fd)?),
        done => done,
    }
}

/// The empty tree and the fleet root: written in this clone once, then remembered in
/// `<state>/fleet/roots`, so a run or a sync starts no git process for them. They stay:
/// [`ROOT_REF`] holds the root (and the root its tree).
fn roots(git: &Git, fd: &state::FleetDir) -> Result<Roots> {
    let text = std::fs::read_to_string(fd.roots_file()).unwrap_or_default();
    let mut ids = text.split_whitespace();
    match (ids.next(), ids.next(), ids.next()) {
        (Some(tree), Some(root), None) if crate::git::is_full_sha(tree) && crate::git::is_full_sha(root) => {
            Ok(Roots { tree: tree.to_string(), root: root.to_string() })
        }
        _ => write_roots(git, fd),
    }
}

/// Write the empty tree and the fleet root, keep them by [`ROOT_REF`], and remember them
/// (see [`roots`]).
fn write_roots(git: &Git, fd: &state::FleetDir) -> Result<Roots> {
    let tree = empty_tree(git)?;
    let root = root(git, &tree)?;
    git.capture(&["update-ref", ROOT_REF, &root])?;
    fd.ensure()?;
    crate::store::write_cache(&fd.roots_file(), format!("{tree} {root}\n").as_bytes())?;
    Ok(Roots { tree, root })
}

/// Write the empty tree (present, so that a push of the fleet root can send it).
fn empty_tree(git: &Git) -> Result<String> {
    Ok(git.capture_stdin(&["hash-object", "-t", "tree", "-w", "--stdin"], b"")?.trim().to_string())
}

/// A test seam: with `TELECLAUDE_FLEET_KILL_AT=<step>`, the process sends itself SIGKILL
/// at that step of a sync — the `kill -9` the crash-safety tests need at an exact point.
pub(crate) fn kill_point(step: &str) {
    if std::env::var_os("TELECLAUDE_FLEET_KILL_AT").is_some_and(|v| v == step) {
        // SAFETY: kill with our own pid and a signal number has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
