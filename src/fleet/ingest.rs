//! Ingesting the other writers' new batches: each writer ref checked to be a fast-forward
//! of what was ingested before (a rewritten one is refused and kept aside), then every new
//! event appended in one write, in a causal order — a batch after the batches of other
//! writers it names in its `after` line — and deduplicated by idempotency key.

use super::state::{Cursor, FleetDir, Refused};
use super::wire;
use crate::error::Result;
use crate::events::{self, Recorded};
use crate::git::Git;
use crate::store::StateDir;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// One batch waiting to be appended.
struct Batch {
    commit: String,
    after: Vec<(String, String)>,
    /// (key, line, at)
    events: Vec<(String, String, String)>,
}

/// What an ingest did: events appended, and writers refused.
pub(crate) struct Ingest {
    pub recorded: u64,
    pub refused: Vec<String>,
}

/// Ingest every writer of `tips` (this clone's own excluded by the caller).
pub(crate) fn ingest(
    git: &Git,
    dir: &StateDir,
    fd: &FleetDir,
    cursor: &mut Cursor,
    tips: &[(&String, &String)],
) -> Result<Ingest> {
    let mut out = Ingest { recorded: 0, refused: Vec::new() };
    let mut pending: BTreeMap<String, VecDeque<Batch>> = BTreeMap::new();
    let commits = read_new(git, cursor, tips)?;
    for (writer, tip) in tips {
        match new_batches(&commits, cursor, writer, tip) {
            Some(batches) if !batches.is_empty() => {
                cursor.refused.remove(*writer);
                pending.insert((*writer).clone(), batches);
            }
            Some(_) => {}
            None => {
                refuse(git, cursor, writer, tip)?;
                out.refused.push((*writer).clone());
            }
        }
    }
    let ordered = causal_order(pending);
    let lines: Vec<(String, String)> = ordered.iter().map(|(_, (k, l, _))| (k.clone(), l.clone())).collect();
    let keys: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    fd.add_foreign_keys(&keys)?;
    super::kill_point("keys-noted");
    let results = events::record_envelopes(dir, &lines)?;
    super::kill_point("ingested");
    for ((writer, (_, _, at)), r) in ordered.iter().zip(results) {
        let entry = cursor.writers.entry(writer.clone()).or_default();
        entry.last_event_at = Some(at.clone());
        if r == Recorded::Recorded {
            entry.events += 1;
            out.recorded += 1;
        }
    }
    for (writer, tip) in tips {
        if !out.refused.contains(writer) {
            cursor.writers.entry((*writer).clone()).or_default().tip = (*tip).clone();
        }
    }
    Ok(out)
}

/// The cursor of `writer`, and whether there is anything to read at `tip`.
fn prev_of<'a>(cursor: &'a Cursor, writer: &str, tip: &str) -> (Option<&'a str>, bool) {
    let prev = cursor.writers.get(writer).map(|i| i.tip.as_str()).filter(|t| !t.is_empty());
    let known_refused = cursor.refused.get(writer).is_some_and(|r| r.found == tip);
    (prev, prev != Some(tip) && !known_refused)
}

/// Every changed writer's new commits, by name, from one `git log`: writers' chains share
/// no history, so one writer's `^<cursor>` never hides another's batches.
fn read_new(git: &Git, cursor: &Cursor, tips: &[(&String, &String)]) -> Result<HashMap<String, (Vec<String>, String)>> {
    let mut args = vec!["log".to_string(), "-z".into(), "--format=%H%x00%P%x00%B".into(), "--end-of-options".into()];
    for (writer, tip) in tips {
        if let (prev, true) = prev_of(cursor, writer, tip) {
            args.push((*tip).clone());
            args.extend(prev.map(|p| format!("^{p}")));
        }
    }
    if args.len() == 4 {
        return Ok(HashMap::new());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git.capture(&argv)?;
    Ok(wire::parse_log(&out).into_iter().map(|(c, parents, message)| (c, (parents, message))).collect())
}

/// The batches of `writer` after the cursor, oldest first, walked from `tip` back to the
/// cursor; None when its ref is not a fast-forward of what was ingested (rewritten).
fn new_batches(
    commits: &HashMap<String, (Vec<String>, String)>,
    cursor: &Cursor,
    writer: &str,
    tip: &str,
) -> Option<VecDeque<Batch>> {
    let (prev, changed) = prev_of(cursor, writer, tip);
    if !changed {
        return (prev == Some(tip)).then(VecDeque::new);
    }
    let mut batches = VecDeque::new();
    let mut at = Some(tip.to_string());
    while at.as_deref() != prev {
        let commit = at.take()?;
        let (parents, message) = commits.get(&commit)?;
        let (header, lines) = wire::parse_batch(message).filter(|(h, _)| h.writer == writer)?;
        let events = lines.iter().filter_map(|l| wire::foreign_line(l)).collect();
        batches.push_front(Batch { commit, after: header.after, events });
        at = match parents.as_slice() {
            [] if prev.is_none() => break,
            [parent] => Some(parent.clone()),
            _ => return None,
        };
    }
    Some(batches)
}

/// Keep a rewritten writer ref aside, never ingested.
fn refuse(git: &Git, cursor: &mut Cursor, writer: &str, tip: &str) -> Result<()> {
    if cursor.refused.get(writer).is_some_and(|r| r.found == tip) {
        return Ok(());
    }
    git.capture(&["update-ref", &format!("{}{writer}", super::ASIDE), tip])?;
    let expected = cursor.writers.get(writer).map(|i| i.tip.clone()).unwrap_or_default();
    cursor
        .refused
        .insert(writer.to_string(), Refused { expected, found: tip.to_string(), at: crate::clock::now_string() });
    Ok(())
}

/// The events of every pending batch, each batch after the batches it names that are
/// pending too. (A cycle cannot come from honest writers; it is broken in writer order.)
fn causal_order(mut pending: BTreeMap<String, VecDeque<Batch>>) -> Vec<(String, (String, String, String))> {
    let mut waiting: HashSet<String> = pending.values().flatten().map(|b| b.commit.clone()).collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().find_map(|(w, q)| {
            let front = q.front()?;
            front.after.iter().all(|(_, c)| !waiting.contains(c)).then(|| w.clone())
        });
        let writer = ready.unwrap_or_else(|| pending.keys().next().cloned().unwrap_or_default());
        let Some(queue) = pending.get_mut(&writer) else { break };
        if let Some(batch) = queue.pop_front() {
            waiting.remove(&batch.commit);
            out.extend(batch.events.into_iter().map(|e| (writer.clone(), e)));
        }
        if queue.is_empty() {
            pending.remove(&writer);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(commit: &str, after: &[(&str, &str)], key: &str) -> Batch {
        Batch {
            commit: commit.into(),
            after: after.iter().map(|(w, c)| (w.to_string(), c.to_string())).collect(),
            events: vec![(key.into(), String::new(), String::new())],
        }
    }

    #[test]
    fn a_batch_follows_the_batches_it_names() {
        let mut pending = BTreeMap::new();
        // Writer "a" (first in writer order) completed what "c" started.
        pending.insert("a".to_string(), VecDeque::from([batch("a1", &[("c", "c2")], "completed")]));
        pending.insert("c".to_string(), VecDeque::from([batch("c1", &[], "approved"), batch("c2", &[], "started")]));
        let keys: Vec<String> = causal_order(pending).into_iter().map(|(_, (k, _, _))| k).collect();
        assert_eq!(keys, ["approved", "started", "completed"]);
    }
}
