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

/// One batch waiting to be appended: its lines as the writer's commit holds them.
struct Batch<'a> {
    commit: &'a str,
    after: Vec<(String, String)>,
    lines: Vec<&'a str>,
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
    out.recorded = append(dir, fd, cursor, causal_order(pending))?;
    for (writer, tip) in tips {
        if !out.refused.contains(writer) {
            cursor.writers.entry((*writer).clone()).or_default().tip = (*tip).clone();
        }
    }
    Ok(out)
}

/// Validate `lines` (in their causal order, with their writer), note their keys, append
/// them in one write and count them in the cursor. Returns how many were new.
fn append(dir: &StateDir, fd: &FleetDir, cursor: &mut Cursor, ordered: Vec<(String, &str)>) -> Result<u64> {
    let (writers, lines): (Vec<String>, Vec<&str>) = ordered.into_iter().unzip();
    let checked = validate(&lines);
    let (mut events, mut from) = (Vec::with_capacity(lines.len()), Vec::with_capacity(lines.len()));
    for (writer, event) in writers.into_iter().zip(checked) {
        if let Some((key, line, at)) = event {
            events.push((key, line));
            from.push((writer, at));
        }
    }
    let keys: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    fd.add_foreign_keys(&keys)?;
    super::kill_point("keys-noted");
    let before = log_size(dir);
    let results = events::record_envelopes(dir, &events)?;
    super::kill_point("ingested");
    let fresh = |r: &Recorded| *r == Recorded::Recorded;
    let appended: u64 =
        events.iter().zip(&results).filter(|(_, r)| fresh(r)).map(|((_, l), _)| l.len() as u64 + 1).sum();
    if cursor.log_offset == before && log_size(dir) == before + appended {
        // Nothing of this clone's own before the append, nothing else appended meanwhile:
        // the lines after the cursor are all foreign, and its publish need not scan them.
        cursor.log_offset += appended;
    }
    let mut recorded = 0;
    for ((writer, at), r) in from.into_iter().zip(results) {
        let entry = cursor.writers.entry(writer).or_default();
        entry.last_event_at = Some(at);
        if fresh(&r) {
            entry.events += 1;
            recorded += 1;
        }
    }
    Ok(recorded)
}

fn log_size(dir: &StateDir) -> u64 {
    std::fs::metadata(dir.events()).map(|m| m.len()).unwrap_or(0)
}

/// [`wire::foreign_line`] of every line, spread over the machine's cores.
fn validate(lines: &[&str]) -> Vec<Option<(String, String, String)>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(8);
    if threads < 2 || lines.len() < 512 {
        return lines.iter().map(|l| wire::foreign_line(l)).collect();
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = lines
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|l| wire::foreign_line(l)).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
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
fn new_batches<'a>(
    commits: &'a HashMap<String, (Vec<String>, String)>,
    cursor: &Cursor,
    writer: &str,
    tip: &str,
) -> Option<VecDeque<Batch<'a>>> {
    let (prev, changed) = prev_of(cursor, writer, tip);
    if !changed {
        return (prev == Some(tip)).then(VecDeque::new);
    }
    let mut batches = VecDeque::new();
    let mut at = Some(tip);
    while at != prev {
        let (commit, (parents, message)) = commits.get_key_value(at.take()?)?;
        let (header, lines) = wire::parse_batch(message).filter(|(h, _)| h.writer == writer)?;
        batches.push_front(Batch { commit, after: header.after, lines });
        at = match parents.as_slice() {
            [] if prev.is_none() => break,
            [parent] => Some(parent.as_str()),
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

/// The lines of every pending batch, each batch after the batches it names that are
/// pending too, with their writer. (A cycle cannot come from honest writers; it is broken
/// in writer order.)
fn causal_order(mut pending: BTreeMap<String, VecDeque<Batch<'_>>>) -> Vec<(String, &str)> {
    let mut waiting: HashSet<&str> = pending.values().flatten().map(|b| b.commit).collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().find_map(|(w, q)| {
            let front = q.front()?;
            front.after.iter().all(|(_, c)| !waiting.contains(c.as_str())).then(|| w.clone())
        });
        let writer = ready.unwrap_or_else(|| pending.keys().next().cloned().unwrap_or_default());
        let Some(queue) = pending.get_mut(&writer) else { break };
        if let Some(batch) = queue.pop_front() {
            waiting.remove(batch.commit);
            out.extend(batch.lines.into_iter().map(|l| (writer.clone(), l)));
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

    fn batch<'a>(commit: &'a str, after: &[(&str, &str)], line: &'a str) -> Batch<'a> {
        Batch { commit, after: after.iter().map(|(w, c)| (w.to_string(), c.to_string())).collect(), lines: vec![line] }
    }

    #[test]
    fn a_batch_follows_the_batches_it_names() {
        let mut pending = BTreeMap::new();
        // Writer "a" (first in writer order) completed what "c" started.
        pending.insert("a".to_string(), VecDeque::from([batch("a1", &[("c", "c2")], "completed")]));
        pending.insert("c".to_string(), VecDeque::from([batch("c1", &[], "approved"), batch("c2", &[], "started")]));
        let keys: Vec<&str> = causal_order(pending).into_iter().map(|(_, l)| l).collect();
        assert_eq!(keys, ["approved", "started", "completed"]);
    }
}
