//! The projection's archive, `projection.archive.jsonl`: the history of resolved slugs,
//! moved out of the snapshot so that reading the snapshot costs the same at ten thousand
//! events as at ten million.
//!
//! A slug is resolved when its winning candidate has a `deployment.completed` and no
//! unseen failure is pending; its candidates, approval, completions, notification and
//! drops become one `slug:<slug>` record. A `branch.pushed` that no unresolved candidate
//! names becomes a `push:<branch>:<sha>` record. The snapshot keeps the rest: what
//! readiness, the queue and the default views need.
//!
//! When a later event names an archived slug (a new round of a merged slug, a
//! notification marked seen) or a candidate whose push was archived, the fold looks the
//! record up through the key index `projection.archive.keys` (see [`crate::store::keyindex`])
//! and takes it back before folding the event, so the result is the fold of the whole
//! log. The `--all` views read every record.
//!
//! The archive starts with a header line naming its generation; the snapshot names the
//! generation and length it relies on, and is discarded (the log replayed) when the
//! archive does not match. Like the snapshot, it is derived from the log: losing it costs
//! one full replay, never an event.

use crate::candidate::Started;
use crate::clock;
use crate::error::{Error, Result};
use crate::notification::Notification;
use crate::store::keyindex::KeyIndex;
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

const HEADER_KEY: &str = "archive";

/// One line of the archive.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Record {
    pub key: String,
    /// The generation, on the header line only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<SlugRecord>,
    /// `(remote, branch, sha)` of a `branch.pushed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<(String, String, String)>,
}

/// Everything the fold knew about one resolved slug.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct SlugRecord {
    pub slug: String,
    /// The log offset of the fold it was taken from: of two records of one slug, the one
    /// with the larger offset is the later fold and holds all the other does.
    #[serde(default)]
    pub offset: u64,
    pub started: Vec<Started>,
    pub approval: Option<u64>,
    /// sha → merge commit, from `deployment.completed`.
    pub completed: BTreeMap<String, String>,
    pub notification: Option<Notification>,
    /// Candidate keys dropped with `integrator queue drop`.
    pub dropped: Vec<String>,
}

pub(crate) fn slug_key(slug: &str) -> String {
    format!("slug:{slug}")
}

/// Branch names cannot hold `:` (git refuses it in a ref name), so the key is unambiguous.
pub(crate) fn push_key(branch: &str, sha: &str) -> String {
    format!("push:{branch}:{sha}")
}

impl Record {
    pub(crate) fn of_slug(r: SlugRecord) -> Record {
        Record { key: slug_key(&r.slug), slug: Some(r), ..Record::default() }
    }

    pub(crate) fn of_push(remote: String, branch: String, sha: String) -> Record {
        Record { key: push_key(&branch, &sha), push: Some((remote, branch, sha)), ..Record::default() }
    }
}

/// The archive a snapshot relies on: its generation and how many bytes of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub id: String,
    pub len: u64,
}

/// The archive file a snapshot was written with, held open: a concurrent rebuild that
/// replaces the file does not change what this handle reads.
#[derive(Debug)]
pub(crate) struct Archive {
    file: File,
    stamp: Stamp,
}

/// The generation named by the header line of an archive file.
fn header_id(file: &File) -> Option<String> {
    let mut buf = [0u8; 256];
    let n = file.read_at(&mut buf, 0).ok()?;
    let end = buf[..n].iter().position(|b| *b == b'\n')?;
    let r: Record = serde_json::from_slice(&buf[..end]).ok()?;
    (r.key == HEADER_KEY).then_some(r.id).flatten()
}

/// Is `file` the archive `stamp` names: same generation, at least as long?
fn describes(file: &File, stamp: &Stamp) -> bool {
    header_id(file).is_some_and(|id| id == stamp.id) && file.metadata().is_ok_and(|m| m.len() >= stamp.len)
}

fn parse(lines: impl IntoIterator<Item = Vec<u8>>) -> Vec<Record> {
    lines
        .into_iter()
        .filter_map(|l| serde_json::from_slice::<Record>(&l).ok())
        .filter(|r| r.key != HEADER_KEY)
        .collect()
}

impl Archive {
    /// Open the archive `stamp` describes: None when the file is missing, of another
    /// generation, or shorter than the snapshot relies on.
    pub(crate) fn open(dir: &StateDir, stamp: &Stamp) -> Option<Archive> {
        let file = File::open(dir.projection_archive()).ok()?;
        describes(&file, stamp).then(|| Archive { file, stamp: stamp.clone() })
    }

    /// The records filed under `key`, through the key index (under the projection lock,
    /// which the index requires). When the archive on disk is no longer this one, or the
    /// lock or the index cannot be had (a read-only state dir), this file is scanned.
    pub(crate) fn lookup(&self, dir: &StateDir, key: &str) -> Result<Vec<Record>> {
        let indexed = with_lock(dir, || {
            if !matches(dir, &self.stamp) {
                return Ok(None);
            }
            let idx = KeyIndex::open(&dir.projection_archive_keys(), &dir.projection_archive())?;
            Ok(Some(parse(idx.lines(&self.file, key)?)))
        });
        match indexed {
            Ok(Some(records)) => Ok(records),
            _ => Ok(self.scan()?.into_iter().filter(|r| r.key == key).collect()),
        }
    }

    /// Every record, in file order.
    pub(crate) fn scan(&self) -> Result<Vec<Record>> {
        let ctx = |e| Error::io("cannot read the projection archive", e);
        let len = self.file.metadata().map_err(ctx)?.len();
        let mut bytes = vec![0u8; len as usize];
        self.file.read_exact_at(&mut bytes, 0).map_err(ctx)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        Ok(parse(bytes[..complete].split(|b| *b == b'\n').map(<[u8]>::to_vec)))
    }
}

/// Is the archive on disk the one `stamp` names (same generation, at least as long)?
pub(crate) fn matches(dir: &StateDir, stamp: &Stamp) -> bool {
    File::open(dir.projection_archive()).is_ok_and(|f| describes(&f, stamp))
}

/// Run `f` holding the projection lock: archive writes, snapshot writes and index use.
pub(crate) fn with_lock<T>(dir: &StateDir, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let _lock = store::FileLock::lock(&dir.projection_lock())?;
    f()
}

fn encode(records: &[Record]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for r in records {
        serde_json::to_writer(&mut buf, r)
            .map_err(|e| Error::failed(format!("cannot encode the projection archive: {e}")))?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// Write `records` (caller holds the projection lock): appended to the archive `stamp`
/// names, or, without a stamp, as a new generation that replaces whatever archive is
/// there. Synced before returning, because the snapshot written next relies on it.
/// Returns the new stamp, or None when the archive on disk is not the one `stamp` names
/// (another process rebuilt it: the caller's snapshot is stale and must not be written).
pub(crate) fn write(dir: &StateDir, stamp: Option<&Stamp>, records: &[Record]) -> Result<Option<Stamp>> {
    let path = dir.projection_archive();
    let ctx = || format!("cannot write {}", path.display());
    let body = encode(records)?;
    let (id, len) = match stamp {
        None => {
            let id = clock::uuid();
            let header = Record { key: HEADER_KEY.into(), id: Some(id.clone()), ..Record::default() };
            let mut bytes = encode(&[header])?;
            bytes.extend_from_slice(&body);
            store::write_atomic(&path, &bytes)?;
            let _ = std::fs::remove_file(dir.projection_archive_keys());
            (id, bytes.len() as u64)
        }
        Some(st) => {
            let Ok(mut file) = OpenOptions::new().read(true).append(true).open(&path) else { return Ok(None) };
            if !describes(&file, st) {
                return Ok(None);
            }
            let len = file.metadata().map_err(|e| Error::io(ctx(), e))?.len();
            let mut last = [0u8; 1];
            let torn = file.read_exact_at(&mut last, len - 1).is_ok() && last[0] != b'\n';
            let mut bytes = if torn { vec![b'\n'] } else { Vec::new() };
            bytes.extend_from_slice(&body);
            file.write_all(&bytes).and_then(|_| file.sync_data()).map_err(|e| Error::io(ctx(), e))?;
            (st.id.clone(), len + bytes.len() as u64)
        }
    };
    // Index what was just written, so the first lookup does not pay for it. A cache:
    // when it cannot be written, lookups rebuild it or scan.
    let _ = KeyIndex::open(&dir.projection_archive_keys(), &path);
    Ok(Some(Stamp { id, len }))
}
