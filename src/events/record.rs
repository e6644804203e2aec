//! Recording events: one batch, one append under the log's exclusive lock, duplicates
//! (by idempotency key) skipped with the key index beside the log.

use super::{canonical_type, NewEvent};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::keyindex::{KeyIndex, KeySet};
use crate::store::{self, StateDir};
use serde::Serialize;
use serde_json::{Map, Value};

/// An [`Envelope`](super::Envelope) being written, without copying the event into it
/// (same fields, same order).
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    v: u32,
    id: String,
    #[serde(rename = "type")]
    kind: &'a str,
    at: &'a str,
    source: &'a str,
    key: &'a str,
    level: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actionable: Option<bool>,
    payload: &'a Map<String, Value>,
}

impl<'a> EnvelopeRef<'a> {
    /// The envelope of `e` as written at `at`, borrowing from the event.
    fn of(e: &'a NewEvent, at: &'a str) -> Self {
        EnvelopeRef {
            v: 1,
            id: clock::uuid(),
            kind: &e.kind,
            at,
            source: &e.source,
            key: &e.key,
            level: &e.level,
            domain: super::domain_of(&e.kind),
            actionable: (e.kind == super::DEPLOYMENT_FAILED).then_some(true),
            payload: &e.payload,
        }
    }
}

/// What happened to one event handed to [`record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    Recorded,
    Duplicate,
}

/// Record events, skipping any whose key is already in the log (the first record wins).
/// The whole batch is appended in one write under the log's exclusive lock; the key
/// index beside the log answers "already there?" without reading the log.
pub(crate) fn record(dir: &StateDir, events: Vec<NewEvent>) -> Result<Vec<Recorded>> {
    let at = clock::now_string();
    append_unique(
        dir,
        (&events, events.len() * 512),
        |e| &e.key,
        |e, buf| {
            serde_json::to_writer(buf, &EnvelopeRef::of(e, &at))
                .map_err(|e| Error::failed(format!("cannot encode event: {e}")))
        },
    )
}

/// Append envelopes recorded elsewhere (the fleet's other writers), each `(key, line)`
/// kept as it was written there — its id and time — with the same dedup as [`record`].
pub(crate) fn record_envelopes(dir: &StateDir, lines: &[(String, &str)]) -> Result<Vec<Recorded>> {
    let size = lines.iter().map(|(_, l)| l.len() + 1).sum();
    append_unique(
        dir,
        (lines, size),
        |(k, _)| k,
        |(_, line), buf| {
            buf.extend_from_slice(line.as_bytes());
            Ok(())
        },
    )
}

/// The one append of [`record`] and [`record_envelopes`]: every item whose key is not yet
/// in the log (nor earlier in the batch), written by `write` as one line, in one write
/// (`size`: about how many bytes they take, so that the write is built without copies).
fn append_unique<T>(
    dir: &StateDir,
    (items, size): (&[T], usize),
    key: impl Fn(&T) -> &String,
    write: impl Fn(&T, &mut Vec<u8>) -> Result<()>,
) -> Result<Vec<Recorded>> {
    dir.ensure()?;
    let path = dir.events();
    let log = store::open_log(&path)?;
    log.with(|w| {
        let index = KeyIndex::open(&dir.event_keys(), &path)?;
        let mut batch = KeySet::with_capacity_and_hasher(items.len(), Default::default());
        // One byte more: the newline that may have to close a torn last line first.
        let mut buf = Vec::with_capacity(size + 1);
        // (key, offset of its line within `buf`)
        let mut fresh = Vec::with_capacity(items.len());
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let k = key(item);
            if !batch.insert(k.as_str()) || index.contains(w.file(), k)? {
                results.push(Recorded::Duplicate);
                continue;
            }
            fresh.push((k.as_str(), buf.len() as u64));
            write(item, &mut buf)?;
            buf.push(b'\n');
            results.push(Recorded::Recorded);
        }
        if fresh.is_empty() {
            return Ok(results);
        }
        let end_in_buf = buf.len() as u64;
        let start = w.append_buf(buf)?;
        for (_, offset) in fresh.iter_mut() {
            *offset += start;
        }
        // The events are recorded; an index that cannot be updated is rebuilt next time.
        if let Err(e) = index.extend(&path, &fresh, start + end_in_buf) {
            eprintln!("integrator: warning: {}", e.sentence());
        }
        Ok(results)
    })
}

/// Record one validated canonical event; `Err(Invalid)` lists every violation.
pub(crate) fn record_canonical(
    dir: &StateDir,
    kind: &str,
    payload: Map<String, Value>,
    source: &str,
) -> Result<Recorded> {
    let ev = NewEvent::canonical(kind, &payload, source).map_err(|violations| Error::Invalid {
        what: format!("{} event", canonical_type(kind).unwrap_or(kind)),
        violations,
    })?;
    Ok(record(dir, vec![ev])?[0])
}
