//! The fleet's batch format (README "Fleet"): envelopes travel gzip-compressed in the
//! batch commit's tree; batches of the first format (envelopes in the message) still
//! ingest; a batch that cannot be read is refused whole and reported.

use crate::support::fleet::{all_once, hold_background_slot, writer_of, Computer, Fleet, FLEET};
use std::io::Write;

/// The last envelope of `c`'s log, as it recorded it, and the log's size after it.
fn last_envelope(c: &Computer) -> (String, u64) {
    let log = std::fs::read_to_string(c.dir.join(".git/teleclaude/events.jsonl")).unwrap();
    (log.lines().last().unwrap().to_string(), log.len() as u64)
}

/// Computers `a` and `b` (b's background sync held off, its writer id made) and one
/// review approval of `slug` recorded on b, not yet published.
struct OneEvent {
    f: Fleet,
    a: Computer,
    b: Computer,
    _slot: std::fs::File,
    /// The event's envelope as b recorded it, and b's log size after it.
    line: String,
    end: u64,
    writer: String,
}

fn one_event_on_b(slug: &str) -> OneEvent {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    let _slot = hold_background_slot(&b);
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&b, &["emit", "review-approved", "--slug", slug, "--round", "1"]);
    let (line, end) = last_envelope(&b);
    let writer = writer_of(&b);
    OneEvent { f, a, b, _slot, line, end, writer }
}

/// `integrator sync --quiet` on `c`, which must succeed: its packet trace (GIT_TRACE_PACKET),
/// kept under the sandbox as `name`.
fn traced_sync(f: &Fleet, c: &Computer, name: &str) -> String {
    let trace = f.sb.root.join(name);
    let out = f.integrator(c).args(["sync", "--quiet"]).env("GIT_TRACE_PACKET", &trace).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&trace).unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// A remote written by an earlier version: its batch (empty tree, envelopes in the
/// message) ingests, its writer's next batch follows it in the current format, and both
/// reach every computer once.
#[test]
fn batches_of_the_first_format_still_ingest() {
    let OneEvent { f, a, b, _slot, line, end, writer } = one_event_on_b("old");
    let old = f.forge_batch(&writer, None, &format!("teleclaude events {writer} 1 {end}\n\n{line}\n"), None);
    // B finds its events published (the header's log-end says how far) and sends none again.
    f.ok(&b, &["sync", "--quiet"]);
    let name = format!("refs/teleclaude/events/{writer}");
    assert_eq!(f.sb.git(&f.sb.origin, &["rev-parse", &name]), old);
    f.ok(&b, &["emit", "review-approved", "--slug", "new", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let tip = f.sb.git(&f.sb.origin, &["rev-parse", &name]);
    assert_eq!(f.sb.git(&f.sb.origin, &["rev-parse", &format!("{tip}^")]), old);
    assert_eq!(f.sb.git(&f.sb.origin, &["ls-tree", "--name-only", &tip]), "events.jsonl.gz");
    let message = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%B", &tip]);
    assert!(message.starts_with(&format!("teleclaude events {writer} 1 ")) && !message.contains('{'), "{message}");
    assert!(
        message.lines().next().unwrap().ends_with(" gz"),
        "the format's mark, which a first-format reader refuses: {message}"
    );
    f.ok(&a, &["sync", "--quiet"]);
    let keys = f.keys(&a);
    assert!(all_once(&keys), "{keys:?}");
    let wanted =
        ["domain.software-development.review.approved:old:1", "domain.software-development.review.approved:new:1"];
    assert_eq!(keys, wanted);
    assert_eq!(f.published(&writer), wanted);
}

/// A batch whose events file is not gzip is refused with every other new batch of its
/// writer (nothing half-ingested), kept aside, warned about and reported by doctor; once
/// the writer ref is put right, what it holds ingests.
#[test]
fn a_batch_that_cannot_be_read_is_refused_whole_and_reported() {
    let OneEvent { f, a, b, _slot, writer, .. } = one_event_on_b("one");
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    let tip = f.sb.git(&f.sb.origin, &["rev-parse", &format!("refs/teleclaude/events/{writer}")]);
    f.ok(&b, &["emit", "review-approved", "--slug", "two", "--round", "1"]);
    let (line, end) = last_envelope(&b);
    let header = format!("teleclaude events {writer} 1 {end} gz\n");
    let good = f.forge_batch(&writer, Some(&tip), &header, Some(&gzip(&format!("{line}\n"))));
    let bad = f.forge_batch(&writer, Some(&good), &header, Some(b"{\"not\":\"gzip\"}\n"));
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    let short = &bad[..7];
    assert!(
        err.contains(&format!(
            "holds a batch that cannot be read (batch {short} has no readable events.jsonl.gz): refused and kept aside"
        )),
        "{err}"
    );
    assert_eq!(f.keys(&a), ["domain.software-development.review.approved:one:1"], "nothing of the refused writer");
    let aside = f.sb.git(&a.dir, &["rev-parse", &format!("refs/teleclaude/fleet/rewritten/{writer}")]);
    assert_eq!(aside, bad);
    let (code, out, _) = f.run(&a, &["doctor"]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL fleet-writer") && out.contains("holds a batch that cannot be read"), "{out}");
    // The next sync finds it as it was: still refused, for the same reason.
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("holds a batch that cannot be read (batch"), "{err}");
    // Put right (the corrupt batch dropped): the good one ingests, the refusal is over.
    f.sb.git(&f.sb.origin, &["update-ref", &format!("refs/teleclaude/events/{writer}"), &good]);
    f.ok(&a, &["sync", "--quiet"]);
    let keys = f.keys(&a);
    assert_eq!(keys.last().map(String::as_str), Some("domain.software-development.review.approved:two:1"));
    let (_, out, _) = f.run(&a, &["doctor"]);
    assert!(!out.contains("cannot be read"), "{out}");
}

/// A sync offers the remote only the fleet's own commits as common ground: never the
/// branches' history, which fleet commits do not share (offering it costs round trips).
#[test]
fn a_sync_negotiates_with_the_fleets_commits_only() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    f.ok(&a, &["sync", "--quiet"]);
    let _slot = hold_background_slot(&b);
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let main = f.sb.git(&a.dir, &["rev-parse", "main"]);
    let packets = traced_sync(&f, &a, "packets.txt");
    assert!(packets.contains("fetch> want "), "{packets}");
    assert!(!packets.contains(&format!("have {main}")), "{packets}");
    assert_eq!(f.keys(&a), ["domain.software-development.review.approved:one:1"]);
}

/// A writer's first batch and the lease's first record sit on the fleet root, one commit
/// with the same id in every clone; offered as common ground, it lets the remote answer a
/// fetch of writers never seen before in one round ("ready"), where a second round
/// ("done") was needed before.
#[test]
fn writers_never_seen_before_come_in_one_fetch_round_through_the_fleet_root() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    let (_a_slot, _b_slot) = (hold_background_slot(&a), hold_background_slot(&b));
    // `a` knows the lease (its mirror offers it as common ground).
    f.ok(&a, &["run", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let first = |r: &str| f.sb.git(&f.sb.origin, &["rev-list", "--max-parents=0", r]);
    let root = first(&format!("refs/teleclaude/events/{}", writer_of(&b)));
    assert_eq!(first("refs/teleclaude/lease"), root);
    let message = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%an <%ae> %at%n%B", &root]);
    assert_eq!(message, "teleclaude <teleclaude> 0\nteleclaude fleet root");
    let packets = traced_sync(&f, &a, "packets-new-writer.txt");
    assert!(packets.contains("fetch> want "), "{packets}");
    assert!(packets.contains("fetch< ready") && !packets.contains("fetch> done"), "{packets}");
    assert!(f.keys(&a).contains(&"domain.software-development.review.approved:one:1".to_string()));
}

/// A sync lists the remote's fleet refs without asking for them (the listing a protocol
/// v0 server sends unasked, no `ls-refs` request), fetches only the tips that moved, by
/// id, and with nothing new on the remote fetches nothing at all.
#[test]
fn a_sync_lists_the_fleet_refs_unasked_and_fetches_only_what_moved() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    let (_a_slot, _b_slot) = (hold_background_slot(&a), hold_background_slot(&b));
    f.ok(&a, &["sync", "--quiet"]);
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let (packets, events) = (f.sb.root.join("packets-moved.txt"), f.sb.root.join("trace2-moved.json"));
    let out = (f.integrator(&a).args(["sync", "--quiet"]))
        .env("GIT_TRACE_PACKET", &packets)
        .env("GIT_TRACE2_EVENT", &events)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The gzip files arrive stored, not deflated a second time.
    let started = std::fs::read_to_string(&events).unwrap();
    assert!(started.contains(r#""-c","core.looseCompression=0","fetch""#), "{started}");
    let packets = std::fs::read_to_string(&packets).unwrap();
    assert!(!packets.contains("command=ls-refs"), "{packets}");
    let tip = f.sb.git(&f.sb.origin, &["rev-parse", &format!("refs/teleclaude/events/{}", writer_of(&b))]);
    assert!(packets.contains(&format!("fetch> want {tip}")), "{packets}");
    assert_eq!(f.keys(&a), ["domain.software-development.review.approved:one:1"]);
    let packets = traced_sync(&f, &a, "packets-nothing-new.txt");
    assert!(!packets.contains("command=fetch") && !packets.contains("want "), "{packets}");
    // A writer ref gone from the remote leaves the mirror too.
    f.sb.git(&f.sb.origin, &["update-ref", "-d", &format!("refs/teleclaude/events/{}", writer_of(&b))]);
    traced_sync(&f, &a, "packets-gone.txt");
    let mirror = f.sb.git(&a.dir, &["for-each-ref", "--format=%(refname)", "refs/teleclaude/fleet/events/"]);
    assert!(!mirror.contains(&writer_of(&b)), "{mirror}");
}

/// The empty tree and the fleet root are written once per clone, kept by a ref and
/// remembered: a later sync starts no git process for them. Remembered wrong (the file
/// damaged), they are written again and the sync goes through.
#[test]
fn the_fleet_root_is_written_once_and_again_when_found_missing() {
    let f = Fleet::new();
    let (a, b) = (f.computer("a", FLEET), f.computer("b", FLEET));
    let (_a_slot, _b_slot) = (hold_background_slot(&a), hold_background_slot(&b));
    f.ok(&a, &["sync", "--quiet"]);
    let remembered = a.dir.join(".git/teleclaude/fleet/roots");
    let roots = std::fs::read_to_string(&remembered).unwrap();
    let root = f.sb.git(&a.dir, &["rev-parse", "refs/teleclaude/fleet/root"]);
    assert_eq!(roots, format!("{} {root}\n", f.sb.git(&a.dir, &["hash-object", "-t", "tree", "/dev/null"])));
    f.ok(&b, &["emit", "review-approved", "--slug", "one", "--round", "1"]);
    f.ok(&b, &["emit", "review-approved", "--slug", "two", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let trace = f.sb.root.join("git-trace.txt");
    let out = f.integrator(&a).args(["run", "--quiet"]).env("GIT_TRACE", &trace).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let commands = std::fs::read_to_string(&trace).unwrap();
    assert!(commands.contains("commit-tree") && !commands.contains("hash-object -t"), "{commands}");
    // Damaged: the file names a root this clone does not have.
    std::fs::write(&remembered, format!("{} {}\n", roots.split(' ').next().unwrap(), "e".repeat(40))).unwrap();
    f.ok(&b, &["emit", "review-approved", "--slug", "three", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    assert!(f.keys(&a).contains(&"domain.software-development.review.approved:three:1".to_string()));
    assert_eq!(std::fs::read_to_string(&remembered).unwrap(), roots);
}

/// A writer ref put back to an earlier batch (what `doctor` suggests for a batch other
/// clones cannot read) is republished by its writer from there: the events of the batches
/// taken away go out again, and every other computer gets them, once.
#[test]
fn a_writer_ref_put_back_to_an_earlier_batch_is_republished_from_there() {
    let OneEvent { f, a, b, _slot, writer, .. } = one_event_on_b("first");
    f.ok(&b, &["sync", "--quiet"]);
    let name = format!("refs/teleclaude/events/{writer}");
    let first = f.sb.git(&f.sb.origin, &["rev-parse", &name]);
    f.ok(&b, &["emit", "review-approved", "--slug", "second", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    f.sb.git(&f.sb.origin, &["update-ref", &name, &first]);
    f.ok(&b, &["sync", "--quiet"]);
    let tip = f.sb.git(&f.sb.origin, &["rev-parse", &name]);
    assert_eq!(f.sb.git(&f.sb.origin, &["rev-parse", &format!("{tip}^")]), first, "republished on top of it");
    let wanted =
        ["domain.software-development.review.approved:first:1", "domain.software-development.review.approved:second:1"];
    assert_eq!(f.published(&writer), wanted);
    f.ok(&a, &["sync", "--quiet"]);
    let keys = f.keys(&a);
    assert!(all_once(&keys), "{keys:?}");
    assert_eq!(keys, wanted);
}

/// An envelope this version cannot validate (a key its payload does not give, an event of
/// a newer version) refuses its writer with the line named: none of that writer's new
/// envelopes is appended, none is dropped in silence past the cursor.
#[test]
fn an_envelope_that_does_not_validate_refuses_its_writer_and_drops_nothing_silently() {
    let OneEvent { f, a, b: _, _slot, line: good, end, writer } = one_event_on_b("one");
    let bad = good.replace(":one:1\"", ":other:1\"");
    assert_ne!(bad, good);
    let header = format!("teleclaude events {writer} 2 {end} gz\n");
    let batch = f.forge_batch(&writer, None, &header, Some(&gzip(&format!("{good}\n{bad}\n"))));
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("holds an envelope this version cannot validate"), "{err}");
    assert_eq!(f.keys(&a), Vec::<String>::new(), "nothing of the refused writer, not even its valid envelope");
    let aside = f.sb.git(&a.dir, &["rev-parse", &format!("refs/teleclaude/fleet/rewritten/{writer}")]);
    assert_eq!(aside, batch);
    let (code, out, _) = f.run(&a, &["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL fleet-writer") && out.contains("cannot validate"), "{out}");
}

/// An envelope is appended as its writer wrote it: a field this version does not know (a
/// newer writer's) stays, byte for byte, and the event counts like any other — the log
/// holds the same line on every computer.
#[test]
fn an_envelope_is_appended_as_its_writer_wrote_it() {
    let OneEvent { f, a, b: _, _slot, line, end, writer } = one_event_on_b("one");
    let newer = line.replacen("{\"v\":1,", "{\"v\":1,\"trace\":{\"hops\":[\"b\"]},", 1);
    assert_ne!(newer, line);
    let header = format!("teleclaude events {writer} 1 {end} gz\n");
    f.forge_batch(&writer, None, &header, Some(&gzip(&format!("{newer}\n"))));
    f.ok(&a, &["sync", "--quiet"]);
    let (got, _) = last_envelope(&a);
    assert_eq!(got, newer);
    assert_eq!(f.keys(&a), ["domain.software-development.review.approved:one:1"]);
    let (code, out, err) = f.run(&a, &["notifications"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("one") && out.contains("approved"), "projected from it: {out}");
}

/// The batch a writer's cursor names, pruned by git since (its ref was rewritten and the
/// refs kept beside it removed, then `git gc`), fails no sync: that writer, rewritten
/// again, is refused once more, and every other writer is still ingested.
#[test]
fn a_pruned_cursor_commit_refuses_its_writer_and_no_one_else() {
    let OneEvent { f, a, b, _slot, writer, .. } = one_event_on_b("one");
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    let ingested = f.sb.git(&a.dir, &["rev-parse", &format!("refs/teleclaude/fleet/events/{writer}")]);
    f.forge_batch(&writer, None, &format!("teleclaude events {writer} 0 1\n"), None);
    f.ok(&a, &["sync", "--quiet"]);
    // The batch last ingested is kept from gc beside the refused ref: doctor's fix needs it.
    let kept = format!("refs/teleclaude/fleet/ingested/{writer}");
    assert_eq!(f.sb.git(&a.dir, &["rev-parse", &kept]), ingested);
    for r in [kept, format!("refs/teleclaude/fleet/rewritten/{writer}")] {
        f.sb.git(&a.dir, &["update-ref", "-d", &r]);
    }
    f.sb.git(&a.dir, &["gc", "--quiet", "--prune=now"]);
    assert!(!f.sb.git_out(&a.dir, &["cat-file", "-e", &ingested]).status.success(), "pruned");
    f.forge_batch(&writer, None, &format!("teleclaude events {writer} 0 2\n"), None);
    let c = f.computer("c", FLEET);
    let _c_slot = hold_background_slot(&c);
    f.ok(&c, &["emit", "review-approved", "--slug", "two", "--round", "1"]);
    f.ok(&c, &["sync", "--quiet"]);
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&writer) && err.contains("was rewritten"), "{err}");
    assert!(f.keys(&a).contains(&"domain.software-development.review.approved:two:1".to_string()));
}

/// A writer refused on first sight (nothing of it ingested yet) has no batch to put its ref
/// back to: `doctor` says so, suggests upgrading, and — when every clone refuses it —
/// deleting the ref with a compare-and-swap on what was found; once it is gone from the
/// remote, the refusal is no longer reported.
#[test]
fn a_writer_refused_before_anything_of_it_was_ingested_gets_a_fix_without_a_batch_to_restore() {
    let f = Fleet::new();
    let a = f.computer("a", FLEET);
    let writer = "w-0123456789abcdef";
    f.forge_batch(writer, None, &format!("teleclaude events {writer} 1 10 gz\n"), Some(b"not gzip"));
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("holds a batch that cannot be read"), "{err}");
    let (code, out, _) = f.run(&a, &["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing of it ingested yet, found"), "{out}");
    let name = format!("refs/teleclaude/events/{writer}");
    let found = f.sb.git(&f.sb.origin, &["rev-parse", &name]);
    let fix = format!("git push --force-with-lease={name}:{found} origin :{name}");
    assert!(out.contains("upgrade this clone") && out.contains(&fix), "{out}");
    f.sb.git(&a.dir, &["push", "-q", &format!("--force-with-lease={name}:{found}"), "origin", &format!(":{name}")]);
    f.ok(&a, &["sync", "--quiet"]);
    let (_, out, _) = f.run(&a, &["doctor"]);
    assert!(!out.contains("FAIL fleet-writer"), "{out}");
}

/// A partial clone (`--filter=blob:none`) syncs like any other: the fleet fetch takes the
/// batches' files with their commits (no filter), so reading them needs no lazy fetch, one
/// round trip per batch, that would fail the writer when it cannot be made.
#[test]
fn a_partial_clone_fetches_the_batches_whole() {
    let OneEvent { f, b, _slot, .. } = one_event_on_b("one");
    f.ok(&b, &["sync", "--quiet"]);
    f.sb.git(&f.sb.origin, &["config", "uploadpack.allowFilter", "true"]);
    f.sb.git(&f.sb.root, &["clone", "-q", "--filter=blob:none", &f.url, "p"]);
    let dir = f.sb.root.join("p");
    std::fs::create_dir_all(dir.join(".git/teleclaude")).unwrap();
    std::fs::write(dir.join(".git/teleclaude/config.toml"), FLEET).unwrap();
    let p = Computer { host: "p".into(), dir, env: vec![("GIT_NO_LAZY_FETCH".into(), "1".into())] };
    let (code, _, err) = f.run(&p, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("refused"), "{err}");
    assert_eq!(f.keys(&p), ["domain.software-development.review.approved:one:1"]);
}

/// A remote that loses a writer's ref (deleted by hand, or the fleet moved to a new remote):
/// the writer publishes everything again on a new chain whose first batch names the last
/// batch lost, and a reader that had ingested that far takes it — no refusal, nothing twice.
#[test]
fn a_writer_whose_ref_the_remote_lost_restarts_and_readers_follow() {
    let OneEvent { f, a, b, _slot, writer, .. } = one_event_on_b("one");
    f.ok(&b, &["sync", "--quiet"]);
    f.ok(&a, &["sync", "--quiet"]);
    let name = format!("refs/teleclaude/events/{writer}");
    let lost = f.sb.git(&f.sb.origin, &["rev-parse", &name]);
    f.sb.git(&f.sb.origin, &["update-ref", "-d", &name]);
    f.ok(&b, &["emit", "review-approved", "--slug", "two", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let first = f.sb.git(&f.sb.origin, &["rev-list", "--reverse", &name]);
    let first = first.lines().nth(1).unwrap();
    let header = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%B", first]);
    assert!(header.contains(&format!("restart {lost}")), "{header}");
    let wanted =
        ["domain.software-development.review.approved:one:1", "domain.software-development.review.approved:two:1"];
    assert_eq!(f.published(&writer), wanted, "everything again");
    let (code, _, err) = f.run(&a, &["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("refused"), "{err}");
    assert_eq!(f.keys(&a), wanted);
    // Lost again; the restart's first push refused (the restart is kept for the next
    // sync), the next one's sync killed right after its push: the batch after it is no
    // restart (it names none), and readers follow.
    f.sb.git(&f.sb.origin, &["update-ref", "-d", &name]);
    f.ok(&b, &["emit", "review-approved", "--slug", "three", "--round", "1"]);
    let hook = f.sb.origin.join("hooks/pre-receive");
    crate::support::guards::write_exec(&hook, "#!/bin/sh\nexit 1\n");
    assert_ne!(f.run(&b, &["sync", "--quiet"]).0, 0, "the publish is refused");
    std::fs::remove_file(&hook).unwrap();
    let killed = f.integrator(&b).args(["sync", "--quiet"]).env("TELECLAUDE_FLEET_KILL_AT", "pushed").status().unwrap();
    assert!(!killed.success());
    f.ok(&b, &["emit", "review-approved", "--slug", "four", "--round", "1"]);
    f.ok(&b, &["sync", "--quiet"]);
    let tip = f.sb.git(&f.sb.origin, &["log", "-1", "--format=%B", &name]);
    assert!(!tip.contains("restart"), "{tip}");
    f.ok(&a, &["sync", "--quiet"]);
    let keys = f.keys(&a);
    assert!(all_once(&keys) && keys.len() == 4, "{keys:?}");
}
