//! Ingesting the other writers' new batches: each writer ref checked to be a fast-forward
//! of what was ingested before (a rewritten one is refused and kept aside), then every new
//! event appended in one write, in a causal order — a batch after the batches of other
//! writers it names in its `after` line — and deduplicated by idempotency key.

use super::state::{Cursor, FleetDir, Refused};
use super::wire;
use crate::error::Result;
use crate::events::{self, Recorded};
use crate::git::{self, Git};
use crate::store::StateDir;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// One batch waiting to be appended: its lines as the writer's commit holds them.
struct Batch<'a> {
    commit: &'a str,
    after: Vec<(String, String)>,
    lines: Vec<&'a str>,
}

/// What an ingest did: events appended, and writers refused (with the reason when their
/// ref was not rewritten but holds a batch that cannot be read).
pub(crate) struct Ingest {
    pub recorded: u64,
    pub refused: Vec<(String, Option<String>)>,
}

/// Ingest every writer of `tips` (this clone's own excluded by the caller).
/// `root` is the fleet root ([`super::root`]): a chain that begins on it begins there.
pub(crate) fn ingest(
    git: &Git,
    (dir, fd): (&StateDir, &FleetDir),
    cursor: &mut Cursor,
    tips: &[(&String, &String)],
    root: &str,
) -> Result<Ingest> {
    let mut out = Ingest { recorded: 0, refused: Vec::new() };
    // A refused writer whose ref is gone from the remote (deleted, as `doctor` suggests when
    // nothing of it was ingested) is refused no longer; its copy kept aside stays.
    cursor.refused.retain(|w, _| tips.iter().any(|(t, _)| *t == w));
    let mut pending: BTreeMap<String, VecDeque<Batch>> = BTreeMap::new();
    let new = read_new(git, cursor, tips, root)?;
    for (writer, tip) in tips {
        match new_batches(&new, cursor, writer, tip) {
            Ok(batches) if !batches.is_empty() => {
                cursor.refused.remove(*writer);
                pending.insert((*writer).clone(), batches);
            }
            Ok(_) => {}
            Err(why) => {
                let reason = match why {
                    Refusal::Rewritten => None,
                    Refusal::Unreadable(r) => Some(r),
                };
                refuse(git, cursor, &mut out, (writer, tip), reason)?;
            }
        }
    }
    let (recorded, invalid) = append(dir, fd, cursor, causal_order(pending))?;
    out.recorded = recorded;
    for (writer, tip) in tips.iter().filter(|(w, _)| invalid.contains_key(*w)) {
        refuse(git, cursor, &mut out, (writer, tip), Some(invalid[*writer].clone()))?;
    }
    for (writer, tip) in tips {
        if !out.refused.iter().any(|(w, _)| w == *writer) {
            cursor.writers.entry((*writer).clone()).or_default().tip = (*tip).clone();
        }
    }
    Ok(out)
}

/// Validate `lines` (in their causal order, with their writer), note their keys, append
/// them in one write and count them in the cursor. A writer with an envelope this version
/// cannot validate has none of its lines appended (nothing half-ingested, nothing dropped
/// in silence): returned with the reason, to be refused. Returns how many were new.
fn append(
    dir: &StateDir,
    fd: &FleetDir,
    cursor: &mut Cursor,
    ordered: Vec<(String, &str)>,
) -> Result<(u64, HashMap<String, String>)> {
    let (writers, lines): (Vec<String>, Vec<&str>) = ordered.into_iter().unzip();
    let checked = validate(&lines);
    let mut invalid = HashMap::new();
    for ((writer, event), line) in writers.iter().zip(&checked).zip(&lines) {
        if event.is_none() && !invalid.contains_key(writer) {
            let start: String = line.chars().take(80).collect();
            invalid.insert(writer.clone(), format!("holds an envelope this version cannot validate: {start}"));
        }
    }
    let (mut events, mut from) = (Vec::with_capacity(lines.len()), Vec::with_capacity(lines.len()));
    for ((writer, event), line) in writers.into_iter().zip(checked).zip(&lines) {
        if let Some((key, at)) = event.filter(|_| !invalid.contains_key(&writer)) {
            events.push((key, *line));
            from.push((writer, at));
        }
    }
    if events.is_empty() {
        // Nothing new (the common sync): no file to open, no log to lock.
        return Ok((0, invalid));
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
    Ok((recorded, invalid))
}

fn log_size(dir: &StateDir) -> u64 {
    std::fs::metadata(dir.events()).map(|m| m.len()).unwrap_or(0)
}

/// [`wire::foreign_line`] of every line, spread over the machine's cores.
fn validate(lines: &[&str]) -> Vec<Option<(String, String)>> {
    parallel(lines, 512, |l| wire::foreign_line(l))
}

/// `f` of every item, in order, spread over up to 8 of the machine's cores — one thread
/// for fewer than `least` items (a thread would cost more than they do).
fn parallel<T: Sync, R: Send>(items: &[T], least: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(8);
    if threads < 2 || items.len() < least.max(2) {
        return items.iter().map(f).collect();
    }
    let (chunk, f) = (items.len().div_ceil(threads), &f);
    std::thread::scope(|s| {
        let parts: Vec<_> =
            items.chunks(chunk).map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>())).collect();
        parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// The cursor of `writer`, and whether there is anything to read at `tip`.
fn prev_of<'a>(cursor: &'a Cursor, writer: &str, tip: &str) -> (Option<&'a str>, bool) {
    let prev = cursor.writers.get(writer).map(|i| i.tip.as_str()).filter(|t| !t.is_empty());
    let known_refused = cursor.refused.get(writer).is_some_and(|r| r.found == tip);
    (prev, prev != Some(tip) && !known_refused)
}

/// The new batch commits of every changed writer: commit → (parents, message), and the
/// decoded [`wire::EVENTS_FILE`] of each batch that keeps its envelopes there (None: the
/// file is missing or cannot be decoded).
struct NewCommits {
    commits: HashMap<String, (Vec<String>, String)>,
    events: HashMap<String, Option<String>>,
    /// The fleet root: the parent of a chain's first batch (or none, before it existed).
    root: String,
}

/// Every changed writer's new commits, by name, from one `git log`: writers' chains share
/// no history, so one writer's `^<cursor>` never hides another's batches. Their events
/// files come from one `git cat-file --batch`: two git processes, however many batches.
fn read_new(git: &Git, cursor: &Cursor, tips: &[(&String, &String)], root: &str) -> Result<NewCommits> {
    // `--ignore-missing`: a cursor's commit that git pruned (its writer ref was rewritten
    // and the copy kept aside removed) excludes nothing, and that writer's walk finds no
    // way back to it — refused as rewritten — instead of failing every writer's sync.
    let head = ["log", "-z", "--ignore-missing", "--format=%H%x00%P%x00%B", "--end-of-options"];
    let mut args: Vec<String> = head.iter().map(|a| a.to_string()).collect();
    for (writer, tip) in tips {
        if let (prev, true) = prev_of(cursor, writer, tip) {
            args.push((*tip).clone());
            args.extend(prev.map(|p| format!("^{p}")));
        }
    }
    let mut new = NewCommits { commits: HashMap::new(), events: HashMap::new(), root: root.to_string() };
    if args.len() == head.len() {
        return Ok(new);
    }
    args.push(format!("^{root}"));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // In a partial clone a missing cursor commit would otherwise be fetched lazily first.
    let out = git.with_env("GIT_NO_LAZY_FETCH", "1").capture(&argv)?;
    new.commits = wire::parse_log(&out).into_iter().map(|(c, parents, message)| (c, (parents, message))).collect();
    // Batches of the current format: a header with envelopes to count and none in the message.
    let in_tree: Vec<&String> = (new.commits.iter())
        .filter(|(_, (_, m))| wire::parse_batch(m).is_some_and(|(h, _)| h.packed && h.count > 0))
        .map(|(c, _)| c)
        .collect();
    if in_tree.is_empty() {
        return Ok(new);
    }
    let names: String = in_tree.iter().map(|c| format!("{c}:{}\n", wire::EVENTS_FILE)).collect();
    let out = git.capture_bytes(&["cat-file", "--batch"], names.as_bytes())?;
    let files = git::parse_cat_file_batch(&out);
    if files.len() != in_tree.len() {
        // A short answer is git's failure, not the writers': this sync fails and the next
        // one asks again, nobody is refused for it.
        return Err(crate::error::Error::failed(format!(
            "git cat-file --batch answered for {} of {} fleet batches",
            files.len(),
            in_tree.len()
        )));
    }
    let decoded = decode_all(&files);
    new.events = in_tree.into_iter().cloned().zip(decoded).collect();
    Ok(new)
}

/// [`wire::decode_events`] of every blob of `files`, spread over the machine's cores.
fn decode_all(files: &[Option<(&str, &[u8])>]) -> Vec<Option<String>> {
    let decode =
        |f: &Option<(&str, &[u8])>| f.filter(|(kind, _)| *kind == "blob").and_then(|(_, d)| wire::decode_events(d));
    parallel(files, 2, decode)
}

/// Why a writer's new batches are refused.
enum Refusal {
    /// Its ref is not a fast-forward of what was ingested.
    Rewritten,
    /// A batch that cannot be read: the reason.
    Unreadable(String),
}

/// The batches of `writer` after the cursor, oldest first, walked from `tip` back to the
/// cursor; refused when its ref is not a fast-forward of what was ingested (rewritten) or
/// one of its batches cannot be read — then none of them is ingested.
fn new_batches<'a>(
    new: &'a NewCommits,
    cursor: &Cursor,
    writer: &str,
    tip: &str,
) -> std::result::Result<VecDeque<Batch<'a>>, Refusal> {
    let (prev, changed) = prev_of(cursor, writer, tip);
    if prev == Some(tip) {
        return Ok(VecDeque::new());
    }
    if !changed {
        // Refused before at this very tip: for the reason found then.
        let reason = cursor.refused.get(writer).and_then(|r| r.reason.clone());
        return Err(reason.map_or(Refusal::Rewritten, Refusal::Unreadable));
    }
    let mut batches = VecDeque::new();
    let mut at = Some(tip);
    while at != prev {
        let (commit, (parents, message)) =
            at.take().and_then(|c| new.commits.get_key_value(c)).ok_or(Refusal::Rewritten)?;
        let (header, lines) = batch_lines(new, commit, message, writer)?;
        // A chain begins on the root (or on nothing, before the root existed). It may begin
        // where this clone has ingested nothing yet, or as a restart naming the very batch
        // this clone ingested last (the writer lost its ref and publishes everything again).
        let begins = match parents.as_slice() {
            [] => true,
            [parent] => *parent == new.root,
            _ => false,
        };
        let restarts = prev.is_some() && header.restart.as_deref() == prev;
        batches.push_front(Batch { commit, after: header.after, lines });
        if begins && (prev.is_none() || restarts) {
            break;
        }
        at = match parents.as_slice() {
            [parent] if !begins => Some(parent.as_str()),
            _ => return Err(Refusal::Rewritten),
        };
    }
    Ok(batches)
}

/// The header and envelopes of one batch of `writer`: from its message (the first format)
/// or its events file, exactly as many as its header counts.
fn batch_lines<'a>(
    new: &'a NewCommits,
    commit: &str,
    message: &'a str,
    writer: &str,
) -> std::result::Result<(wire::Header, Vec<&'a str>), Refusal> {
    let short = git::short(commit);
    let unreadable = |why: &str| Refusal::Unreadable(format!("batch {short} {why}"));
    let (header, mut lines) = wire::parse_batch(message).ok_or_else(|| unreadable("has no batch header"))?;
    if header.writer != writer {
        return Err(unreadable("names another writer"));
    }
    if header.packed && header.count > 0 {
        let text = new.events.get(commit).and_then(Option::as_deref);
        let text = text.ok_or_else(|| unreadable(&format!("has no readable {}", wire::EVENTS_FILE)))?;
        lines = text.lines().filter(|l| !l.trim().is_empty()).collect();
    }
    if lines.len() != header.count {
        return Err(unreadable(&format!("holds {} envelope(s), its header says {}", lines.len(), header.count)));
    }
    Ok((header, lines))
}

/// Keep a refused writer ref aside, never ingested, and report it in `out`.
fn refuse(
    git: &Git,
    cursor: &mut Cursor,
    out: &mut Ingest,
    (writer, tip): (&str, &str),
    reason: Option<String>,
) -> Result<()> {
    out.refused.push((writer.to_string(), reason.clone()));
    if cursor.refused.get(writer).is_some_and(|r| r.found == tip) {
        return Ok(());
    }
    git.capture(&["update-ref", &format!("{}{writer}", super::ASIDE), tip])?;
    let expected = cursor.writers.get(writer).map(|i| i.tip.clone()).unwrap_or_default();
    if !expected.is_empty() {
        // Best effort: that batch may be gone already (pruned before this version kept it).
        let _ = git.output(&["update-ref", &format!("{}{writer}", super::KEPT), &expected], None);
    }
    let at = crate::clock::now_string();
    cursor.refused.insert(writer.to_string(), Refused { expected, found: tip.to_string(), at, reason });
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

    /// One batch of writer `w-12345678` (a root commit `c1`), its header counting `count`.
    fn one_batch(count: usize, events: Option<&str>) -> NewCommits {
        let message = format!("teleclaude events w-12345678 {count} 10 gz\n");
        NewCommits {
            commits: HashMap::from([("c1".to_string(), (Vec::new(), message))]),
            events: HashMap::from([("c1".to_string(), events.map(str::to_string))]),
            root: "r0".to_string(),
        }
    }

    #[test]
    fn a_batch_is_read_only_whole() {
        fn read(new: &NewCommits) -> std::result::Result<Vec<&str>, String> {
            match new_batches(new, &Cursor::default(), "w-12345678", "c1") {
                Ok(b) => Ok(b.into_iter().flat_map(|b| b.lines).collect()),
                Err(Refusal::Unreadable(why)) => Err(why),
                Err(Refusal::Rewritten) => Err("rewritten".into()),
            }
        }
        assert_eq!(read(&one_batch(2, Some("{}\n{}\n"))), Ok(vec!["{}", "{}"]));
        assert_eq!(read(&one_batch(2, Some("{}\n"))), Err("batch c1 holds 1 envelope(s), its header says 2".into()));
        assert_eq!(read(&one_batch(1, None)), Err("batch c1 has no readable events.jsonl.gz".into()));
        let mut other = one_batch(1, Some("{}\n"));
        assert!(matches!(new_batches(&other, &Cursor::default(), "w-87654321", "c1"), Err(Refusal::Unreadable(_))));
        other.commits.clear();
        assert!(matches!(new_batches(&other, &Cursor::default(), "w-12345678", "c1"), Err(Refusal::Rewritten)));
    }

    #[test]
    fn a_chain_begun_on_the_fleet_root_begins_there_and_nowhere_else() {
        let mut new = one_batch(1, Some("{}\n"));
        new.commits.get_mut("c1").unwrap().0 = vec!["r0".to_string()];
        let read = new_batches(&new, &Cursor::default(), "w-12345678", "c1").ok().map(|b| b.len());
        assert_eq!(read, Some(1));
        // Another parent is not a beginning: the chain's earlier batches are missing.
        new.commits.get_mut("c1").unwrap().0 = vec!["c0".to_string()];
        assert!(matches!(new_batches(&new, &Cursor::default(), "w-12345678", "c1"), Err(Refusal::Rewritten)));
        // A writer already ingested up to `c0` whose ref now begins on the root was rewritten.
        new.commits.get_mut("c1").unwrap().0 = vec!["r0".to_string()];
        let mut cursor = Cursor::default();
        cursor.writers.entry("w-12345678".to_string()).or_default().tip = "c0".to_string();
        assert!(matches!(new_batches(&new, &cursor, "w-12345678", "c1"), Err(Refusal::Rewritten)));
        // Unless it is a restart naming the very batch ingested last.
        let (lost, other) = ("a".repeat(40), "b".repeat(40));
        cursor.writers.get_mut("w-12345678").unwrap().tip = lost.clone();
        for (named, taken) in [(&lost, true), (&other, false)] {
            new.commits.get_mut("c1").unwrap().1 = format!("teleclaude events w-12345678 1 10 gz\nrestart {named}\n");
            assert_eq!(new_batches(&new, &cursor, "w-12345678", "c1").is_ok(), taken, "restart {named}");
        }
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
