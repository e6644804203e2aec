//! `integrator sync`: one fetch of every writer ref and the lease; what other writers
//! published since last time is ingested into the local log (deduplicated by idempotency
//! key); then what this clone recorded itself is pushed as one batch to its own writer
//! ref (fast-forward, compare-and-swap). One sync at a time per clone.
//!
//! Crash safety: ingested keys are noted before they are appended and a writer's cursor
//! moves only after its events are in the log (a repeat is a dedup no-op); a batch names
//! the log offset it covers, so a crash after its push and before the cursor write is
//! recovered from the remote on the next sync — nothing lost, nothing published twice.

use super::state::{Cursor, FleetDir, SyncedMode};
use super::wire::{self, LeaseRecord};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{self, Git};
use crate::repo::Repo;
use crate::store::{self, FileLock, LogHealth, StateDir};
use std::collections::BTreeMap;

/// What one sync did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub published: usize,
    pub ingested: u64,
    /// Other writers seen on the remote.
    pub writers: usize,
    /// Writers whose ref was found rewritten, or holding a batch that cannot be read (the
    /// reason): kept aside, not ingested.
    pub refused: Vec<(String, Option<String>)>,
}

impl Report {
    /// One warning per refused writer.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let what = |(w, reason): &(String, Option<String>)| {
            super::state::Refused::what(&format!("{}{w}", super::EVENTS_NS), reason.as_deref())
        };
        self.refused.iter().map(|r| format!("{}: refused and kept aside; see `integrator doctor`", what(r))).collect()
    }

    pub(crate) fn line(&self) -> String {
        format!(
            "sync: published {} event(s), ingested {} from {} other writer(s)",
            self.published, self.ingested, self.writers
        )
    }
}

/// One sync of this clone with the fleet's remote.
pub(crate) fn sync(repo: &Repo, cfg: &Config) -> Result<Report> {
    let fd = FleetDir::of(&repo.state);
    fd.ensure()?;
    let _one_at_a_time = FileLock::lock(&fd.sync_lock())?;
    let git = super::fleet_git(&repo.git, cfg);
    let me = fd.writer_id()?;
    let (root, tips) = fetch(&git, &fd, super::remote(cfg))?;
    super::kill_point("fetched");
    let (writers, lease) = split_tips(tips);
    let mut cursor = fd.cursor()?;
    let others: Vec<(&String, &String)> = writers.iter().filter(|(w, _)| **w != me).collect();
    let ingested = super::ingest::ingest(&git, (&repo.state, &fd), &mut cursor, &others, &root)?;
    let mut report =
        Report { writers: others.len(), ingested: ingested.recorded, refused: ingested.refused, published: 0 };
    // The mode the fleet published is noted whatever the publish does: a clone that cannot
    // publish its own events still learns of a cutover, or its guards would fail open.
    let noted = note_lease(&git, &fd, lease.as_deref());
    // The cursor is written once, after the publish (which writes it itself when it
    // pushes): a crash before that ingests the same batches again, a no-op by key.
    let published = publish(&git, cfg, &repo.state, &fd, &mut cursor, (&me, writers.get(&me)), &mut report);
    if published.is_ok() && noted.is_ok() {
        cursor.synced_at = Some(crate::clock::now_string());
    }
    fd.save_cursor(&cursor)?;
    noted?;
    published.map(|()| report)
}

/// Bring this clone's mirror of every writer ref and the lease in line with the remote,
/// and return the fleet root and the mirror as it now stands (mirror ref → commit).
///
/// The remote's fleet refs are listed first, over protocol v0, whose server lists its refs
/// without being asked (every push gets that same listing); then only the tips that moved
/// are fetched, by id, and the mirror refs of writers gone from the remote are dropped.
/// Letting `git fetch` list them (protocol v2's `ls-refs`) would cost a request and its
/// answer more; with nothing new there is no fetch at all. Only the mirror's commits and
/// the root are offered to the remote as common ground (`--negotiation-tip`): fleet
/// commits share no history with the code, so offering the branches' history would only
/// cost round trips, and with the root even refs never seen before are answered in one
/// round.
pub(crate) fn fetch(git: &Git, fd: &FleetDir, remote: &str) -> Result<(String, BTreeMap<String, String>)> {
    let (listed, local) = std::thread::scope(|s| {
        let listing = s.spawn(|| list_remote(git, remote));
        let local = mirror(git);
        (listing.join().unwrap_or_else(|e| std::panic::resume_unwind(e)), local)
    });
    let (listed, local) = (listed?, local?);
    let moved: Vec<String> = listed
        .iter()
        .filter(|(name, sha)| local.get(*name) != Some(sha))
        .map(|(n, sha)| format!("+{sha}:{n}"))
        .collect();
    let root = super::with_roots(git, fd, |roots| {
        if !moved.is_empty() {
            fetch_tips(git, remote, &roots.root, &moved)?;
        }
        Ok(roots.root.clone())
    })?;
    let gone: String = local.keys().filter(|n| !listed.contains_key(*n)).map(|n| format!("delete {n}\n")).collect();
    if !gone.is_empty() {
        git.capture_stdin(&["update-ref", "--stdin"], gone.as_bytes())?;
    }
    Ok((root, listed))
}

/// The remote's writer refs and lease, each by the name of its mirror ref (a writer ref
/// whose name is not a writer id is not ours to read).
fn list_remote(git: &Git, remote: &str) -> Result<BTreeMap<String, String>> {
    let args = ["-c", "protocol.version=0", "ls-remote", "--refs", "--end-of-options", remote, "refs/teleclaude/*"];
    let out = git.output(&args, None)?;
    if !out.ok() {
        return Err(unreachable(remote, &out.stderr));
    }
    let mut refs = BTreeMap::new();
    for (sha, name) in out.stdout.lines().filter_map(|l| l.split_once('\t')) {
        let mirror = match name.strip_prefix(super::EVENTS_NS) {
            Some(w) if wire::is_writer_id(w) => format!("{}{w}", super::MIRROR_EVENTS),
            None if name == super::LEASE_REF => super::MIRROR_LEASE.to_string(),
            _ => continue,
        };
        refs.insert(mirror, sha.to_string());
    }
    Ok(refs)
}

/// This clone's mirror refs (name → commit).
fn mirror(git: &Git) -> Result<BTreeMap<String, String>> {
    let out =
        git.capture(&["for-each-ref", "--format=%(objectname) %(refname)", super::MIRROR_EVENTS, super::MIRROR_LEASE])?;
    Ok(git::parse_ref_list(&out).into_iter().collect())
}

/// Fetch `specs` (`+<commit>:<mirror ref>`): the commits are tips the remote just listed.
fn fetch_tips(git: &Git, remote: &str, root: &str, specs: &[String]) -> Result<()> {
    let tips = [
        format!("--negotiation-tip={}*", super::MIRROR_EVENTS),
        format!("--negotiation-tip={}*", super::MIRROR_LEASE),
        format!("--negotiation-tip={root}"),
    ];
    // Protocol v2 whatever the user's config pins: a tip that moved since the listing is
    // still served by id (v0 serves only what its listing has). `--no-filter`: in a
    // partial clone the batches' files come with their commits, not lazily one round trip
    // each. `--no-auto-maintenance`: housekeeping is left to the code's own fetches.
    let mut args = vec!["-c", "protocol.version=2", "-c", super::STORED, "fetch", "--quiet"];
    args.extend(["--no-filter", "--no-auto-maintenance", "--no-tags", "--no-write-fetch-head"]);
    args.extend(tips.iter().map(String::as_str));
    args.extend(["--end-of-options", remote]);
    args.extend(specs.iter().map(String::as_str));
    let out = git.output(&args, None)?;
    if out.ok() {
        return Ok(());
    }
    Err(unreachable(remote, &out.stderr))
}

fn unreachable(remote: &str, stderr: &str) -> Error {
    Error::failed_hint(
        format!("cannot reach the fleet remote `{remote}`: {}", stderr.trim()),
        "the events stay in this clone; the next `integrator sync` sends them",
    )
}

/// The mirror's writer refs (writer id → tip) and its lease commit, from [`fetch`]'s
/// account of it (mirror ref → commit; only writer ids are mirrored).
fn split_tips(mirror: BTreeMap<String, String>) -> (BTreeMap<String, String>, Option<String>) {
    let mut writers = BTreeMap::new();
    let mut lease = None;
    for (name, sha) in mirror {
        if let Some(w) = name.strip_prefix(super::MIRROR_EVENTS) {
            writers.insert(w.to_string(), sha);
        } else if name == super::MIRROR_LEASE {
            lease = Some(sha);
        }
    }
    (writers, lease)
}

/// Just the idempotency key of an envelope (the rest is skipped, not built).
#[derive(serde::Deserialize)]
struct KeyOnly<'a> {
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
}

/// This clone's own events after the cursor: (lines, offset just past them).
fn own_lines(dir: &StateDir, fd: &FleetDir, from: u64) -> Result<(Vec<String>, u64)> {
    // Read only when there is a line to tell apart: the keys of every event ever ingested.
    let mut foreign = None;
    let mut lines = Vec::new();
    let mut health = LogHealth::default();
    let end = store::scan_lines(&dir.events(), from, &mut health, |_, line| {
        let Ok(env) = serde_json::from_slice::<KeyOnly>(line) else { return false };
        if !foreign.get_or_insert_with(|| fd.foreign_keys()).contains(env.key.as_ref()) {
            lines.push(String::from_utf8_lossy(line).into_owned());
        }
        true
    })?;
    Ok((lines, end))
}

/// This clone's new events committed as its next batch, not pushed yet.
pub(crate) struct Outgoing {
    /// `<batch commit>:refs/teleclaude/events/<writer-id>`.
    pub refspec: String,
    /// The writer ref, and the batch it must still point at (None: it must not exist).
    pub expect: (String, Option<String>),
    commit: String,
    end: u64,
    count: usize,
}

/// Commit this clone's events after the cursor as one batch (None: there are none; the
/// cursor then moves past what was scanned).
fn outgoing(git: &Git, dir: &StateDir, fd: &FleetDir, cursor: &mut Cursor, me: &str) -> Result<Option<Outgoing>> {
    let (lines, end) = own_lines(dir, fd, cursor.log_offset)?;
    if lines.is_empty() {
        cursor.log_offset = end;
        return Ok(None);
    }
    let after: Vec<(String, String)> = cursor.writers.iter().map(|(w, i)| (w.clone(), i.tip.clone())).collect();
    let message = wire::batch_message(me, (lines.len(), end), &after, cursor.restart.as_deref());
    let tree = super::events_tree(git, &wire::encode_events(&lines))?;
    super::kill_point("tree-written");
    let commit = super::with_roots(git, fd, |roots| {
        super::write_commit(git, &tree, cursor.own_tip.as_deref().unwrap_or(&roots.root), &message)
    })?;
    super::kill_point("committed");
    let ours = format!("{}{me}", super::EVENTS_NS);
    Ok(Some(Outgoing {
        refspec: format!("{commit}:{ours}"),
        expect: (ours, cursor.own_tip.clone()),
        commit,
        end,
        count: lines.len(),
    }))
}

/// The batch is on the remote: move the cursor past it.
fn landed(fd: &FleetDir, cursor: &mut Cursor, out: Outgoing) -> Result<usize> {
    super::kill_point("pushed");
    cursor.own_tip = Some(out.commit);
    cursor.restart = None;
    cursor.log_offset = out.end;
    fd.save_cursor(cursor)?;
    super::kill_point("cursor-saved");
    Ok(out.count)
}

/// Push this clone's new events as one batch on its own writer ref.
fn publish(
    git: &Git,
    cfg: &Config,
    dir: &StateDir,
    fd: &FleetDir,
    cursor: &mut Cursor,
    (me, remote_tip): (&str, Option<&String>),
    report: &mut Report,
) -> Result<()> {
    recover_cursor(git, cursor, remote_tip)?;
    let Some(out) = outgoing(git, dir, fd, cursor, me)? else { return Ok(()) };
    let lease = format!("--force-with-lease={}:{}", out.expect.0, out.expect.1.as_deref().unwrap_or(""));
    let remote = super::remote(cfg);
    let args = ["push", "--porcelain", "--quiet", "--no-verify", &lease, "--end-of-options", remote, &out.refspec];
    let pushed = git.output(&args, None)?;
    if !pushed.ok() {
        return Err(Error::failed_hint(
            format!(
                "cannot publish {} event(s) to {} on `{remote}`: {}",
                out.count,
                out.expect.0,
                pushed.stderr.trim()
            ),
            "the events stay in this clone; the next `integrator sync` sends them",
        ));
    }
    report.published = landed(fd, cursor, out)?;
    Ok(())
}

/// The run's last publish, sent in one push with the release of its lease: under this
/// clone's sync lock, the batch of its unpublished events (see [`Publisher::batch`]).
pub(crate) struct Publisher {
    _one_at_a_time: FileLock,
    fd: FleetDir,
    cursor: Cursor,
}

impl Publisher {
    pub(crate) fn open(dir: &StateDir) -> Result<Publisher> {
        let fd = FleetDir::of(dir);
        fd.ensure()?;
        let lock = FileLock::lock(&fd.sync_lock())?;
        let cursor = fd.cursor()?;
        Ok(Publisher { _one_at_a_time: lock, fd, cursor })
    }

    /// This clone's events not yet published, committed on top of the batch the cursor
    /// names (a push expecting it fails if a sync killed after its push left another one:
    /// the caller then syncs).
    pub(crate) fn batch(&mut self, git: &Git, dir: &StateDir) -> Result<Option<Outgoing>> {
        let me = self.fd.writer_id()?;
        outgoing(git, dir, &self.fd, &mut self.cursor, &me)
    }

    /// `out` reached the remote.
    pub(crate) fn landed(mut self, out: Outgoing) -> Result<()> {
        landed(&self.fd, &mut self.cursor, out).map(drop)
    }
}

/// The remote's ref of this clone is not the batch the cursor names: either a sync died
/// after its push and before writing its cursor (the remote is ahead), or the ref was put
/// back to an earlier batch (`doctor`'s fix for a batch other clones cannot read; the
/// remote is behind). Either way the remote's header says how far the log is published:
/// what follows it goes out again (readers deduplicate), never skipped.
fn recover_cursor(git: &Git, cursor: &mut Cursor, remote_tip: Option<&String>) -> Result<()> {
    match remote_tip {
        Some(tip) if cursor.own_tip.as_ref() != Some(tip) => {
            let message = git.capture(&["log", "-1", "--format=%B", "--end-of-options", tip])?;
            if let Some((h, _)) = wire::parse_batch(&message) {
                cursor.log_offset = h.log_end;
            }
            cursor.own_tip = Some(tip.clone());
            // A restart that reached the remote before a kill is begun: not named again.
            cursor.restart = None;
        }
        // The remote lost this clone's ref (or is a new one): publish everything again on a
        // new chain whose first batch names the last one lost, so that a reader that had
        // ingested that far takes the new chain (deduplicating) instead of refusing it.
        None if cursor.own_tip.is_some() => {
            cursor.restart = cursor.own_tip.take();
            cursor.log_offset = 0;
        }
        _ => {}
    }
    Ok(())
}

/// Keep the mode the fleet's lease last published: what this clone's guards go by. The
/// file (written durably: the guards fail open without it) changes only when the mode
/// does, with the holder and lease commit that first carried it; a lease that moved with
/// the same mode costs a read, not a write, on every run's path.
fn note_lease(git: &Git, fd: &FleetDir, lease: Option<&str>) -> Result<()> {
    let Some(tip) = lease else { return Ok(()) };
    let noted = fd.synced_mode();
    if noted.as_ref().is_some_and(|m| m.lease_commit == tip) {
        return Ok(());
    }
    let message = git.capture(&["log", "-1", "--format=%B", "--end-of-options", tip])?;
    if let Some(mode) = LeaseRecord::parse(&message).and_then(|r| r.mode.clone().map(|m| (r, m))) {
        let (rec, mode) = mode;
        if noted.is_some_and(|m| m.mode == mode) {
            return Ok(());
        }
        fd.save_synced_mode(&SyncedMode { mode, holder: rec.describe(), lease_commit: tip.to_string() })?;
    }
    Ok(())
}

/// Does this clone hold events no sync has published yet?
pub(crate) fn unpublished(dir: &StateDir) -> bool {
    let size = std::fs::metadata(dir.events()).map(|m| m.len()).unwrap_or(0);
    FleetDir::of(dir).cursor().map(|c| size > c.log_offset).unwrap_or(true)
}
