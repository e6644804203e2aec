//! Reading the stream through the consumer group: the history a fresh state dir missed,
//! our own pending entries (a crash between append and XACK), a dead consumer's pending
//! entries (XAUTOCLAIM), then the new ones. Every batch is appended to `events.jsonl`
//! durably (fsync) and only then acknowledged; duplicates are no-ops by idempotency key.

use super::client::{id_key, Client, Entry};
use super::state::{BridgeState, Counts, Gap};
use super::wire::{self, Mapped};
use crate::error::Result;
use crate::events::{self, Recorded};
use crate::store::StateDir;
use std::time::Duration;

/// Entries read per command.
pub(crate) const BATCH: usize = 10_000;

/// A consumer whose entries stay pending this long is dead: its entries are claimed.
pub(crate) const CLAIM_IDLE: Duration = Duration::from_secs(60);

/// What one drain did, and the group's position after it (where to wait for more).
pub(crate) struct Drained {
    pub counts: Counts,
    pub last_delivered: String,
}

pub(crate) fn drain(client: &mut Client, state: &StateDir, bs: &mut BridgeState) -> Result<Drained> {
    let mut c = Counts::default();
    let created = client.ensure_group()?;
    let mut last_delivered = check_gap(client, bs)?;
    if !bs.history_replayed {
        if !created {
            replay_history(client, state, bs, &last_delivered, &mut c)?;
        }
        bs.history_replayed = true;
    }
    let mut from = "0-0".to_string();
    loop {
        let batch = client.read_group(&from, BATCH)?;
        let Some(last) = batch.last() else { break };
        from = last.id.clone();
        let ids = absorb(state, bs, batch, &mut c)?;
        client.ack(&ids)?;
    }
    let mut start = "0-0".to_string();
    loop {
        let (next, batch) = client.autoclaim(CLAIM_IDLE, &start, BATCH)?;
        let ids = absorb(state, bs, batch, &mut c)?;
        client.ack(&ids)?;
        if next == "0-0" || next == start {
            break;
        }
        start = next;
    }
    loop {
        let batch = client.read_group(">", BATCH)?;
        let Some(last) = batch.last() else { break };
        last_delivered = last.id.clone();
        let ids = absorb(state, bs, batch, &mut c)?;
        client.ack(&ids)?;
    }
    Ok(Drained { counts: c, last_delivered })
}

/// Map a batch, append its events in one durable write, and return every id to ack: the
/// recorded, the duplicates, the rejected (reported, never retried), the foreign and ours.
fn absorb(state: &StateDir, bs: &mut BridgeState, batch: Vec<Entry>, c: &mut Counts) -> Result<Vec<String>> {
    let mut good = Vec::new();
    let mut ids = Vec::with_capacity(batch.len());
    for e in batch {
        let Some(fields) = &e.fields else {
            // Delivered to us, then trimmed before we appended it: lost, and said so.
            lost_pending(bs, &e.id);
            ids.push(e.id);
            continue;
        };
        match wire::read(fields, &bs.instance) {
            Mapped::Event(ev) => good.push(ev),
            Mapped::Own => c.own += 1,
            Mapped::Foreign => c.foreign += 1,
            Mapped::Malformed(reasons) => {
                c.rejected += 1;
                eprintln!("integrator: bridge: rejected entry {}: {}", e.id, reasons.join("; "));
                bs.reject(&e.id, reasons);
            }
        }
        ids.push(e.id);
    }
    if !good.is_empty() {
        for r in events::record(state, good)? {
            match r {
                Recorded::Recorded => c.recorded += 1,
                Recorded::Duplicate => c.duplicate += 1,
            }
        }
        // Appended durably, not yet acknowledged: a crash here redelivers the batch, which
        // the idempotency keys make a no-op.
        crate::failpoint::point!("bridge-after-append");
    }
    Ok(ids)
}

fn lost_pending(bs: &mut BridgeState, id: &str) {
    eprintln!("integrator: warning: bridge: entry {id} was trimmed from the stream before it was recorded");
    bs.add_gap(Gap { after: id.into(), before: id.into(), lost: 1, detected_at: crate::clock::now_string() });
}

/// A fresh state dir joining an existing group: the entries the group already read are
/// read again (XRANGE) so this state rebuilds the same projection. Nothing to ack.
fn replay_history(
    client: &mut Client,
    state: &StateDir,
    bs: &mut BridgeState,
    end: &str,
    c: &mut Counts,
) -> Result<()> {
    if end == "0-0" {
        return Ok(());
    }
    let mut after = "0-0".to_string();
    loop {
        let batch = client.range(&after, end, BATCH)?;
        let Some(last) = batch.last() else { return Ok(()) };
        after = last.id.clone();
        absorb(state, bs, batch, c)?;
    }
}

/// Entries trimmed (MAXLEN) after the group's position were never read: a gap. Redis
/// counts the entries ever added and those the group read; when the oldest entry left is
/// after the group's position, the unread ones missing from the stream were trimmed.
/// Returns the group's last-delivered id.
fn check_gap(client: &mut Client, bs: &mut BridgeState) -> Result<String> {
    let (info, _) = client.info()?;
    let last = info.last_delivered.clone().unwrap_or_else(|| "0-0".into());
    let Some(first) = info.first_entry.clone().filter(|f| id_key(f) > id_key(&last)) else { return Ok(last) };
    let read = info.entries_read.or((last == "0-0").then_some(0));
    let Some(lost) = info.entries_added.zip(read).map(|(added, read)| added.saturating_sub(read + info.length)) else {
        return Ok(last);
    };
    if lost > 0 {
        eprintln!(
            "integrator: warning: bridge: {lost} entries after {last} before {first} were trimmed from the stream before they were read"
        );
        let gap = Gap { after: last.clone(), before: first, lost, detected_at: crate::clock::now_string() };
        bs.add_gap(gap);
    }
    Ok(last)
}
