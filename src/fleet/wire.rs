//! How the fleet's records travel as commits (pure: building and parsing them).
//!
//! An event batch is one commit on `refs/teleclaude/events/<writer-id>` whose parent is the
//! writer's previous batch. Its message is a header line
//! `teleclaude events <writer-id> <count> <log-end> gz` (`log-end`: the offset of the
//! writer's own log the batch covers, so a crash after the push loses and repeats nothing)
//! and an optional `after <writer>=<commit> …` line (see [`Header::after`]); its tree holds
//! one file, [`EVENTS_FILE`]: the batch's envelopes, one per line, gzip-compressed (a tenth
//! of the JSON on the wire and in the remote's object store). The `gz` field marks that
//! format: a reader of the first format finds a header it does not know and refuses the
//! writer (kept aside, reported) rather than reading a batch of no envelopes and moving
//! past it. A batch of the first format — no `gz`, an empty tree, a blank line after the
//! header, then the envelopes in the message — is still read. A lease record is a commit on `refs/teleclaude/lease`:
//! `teleclaude lease <owner> on <host>`, a blank line, its JSON.

use crate::lease::{LeaseMeta, StaleHolder};
use crate::mode::Resolved;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{Read, Write};

/// A parsed batch header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub writer: String,
    pub count: usize,
    pub log_end: u64,
    /// The envelopes are in the commit's [`EVENTS_FILE`] (the `gz` field), not its message.
    pub packed: bool,
    /// The other writers' batches this writer had ingested when it published: its events
    /// may follow from theirs, so a reader appends those first (a causal order).
    pub after: Vec<(String, String)>,
    /// The first batch of a chain begun again after the remote lost the writer's ref: the
    /// last batch of the chain lost (this one publishes everything again).
    pub restart: Option<String>,
}

/// The file of a batch commit's tree that holds its envelopes.
pub(crate) const EVENTS_FILE: &str = "events.jsonl.gz";

/// The most a batch's envelopes may take once decompressed: a larger one is refused as
/// unreadable, never inflated into memory.
const MAX_EVENTS_BYTES: u64 = 1 << 30;

/// The message of a batch of `count` envelopes (they go in its [`EVENTS_FILE`]).
pub(crate) fn batch_message(
    writer: &str,
    (count, log_end): (usize, u64),
    after: &[(String, String)],
    restart: Option<&str>,
) -> String {
    let mut m = format!("teleclaude events {writer} {count} {log_end} gz\n");
    if !after.is_empty() {
        let deps: Vec<String> = after.iter().map(|(w, c)| format!("{w}={c}")).collect();
        m.push_str(&format!("after {}\n", deps.join(" ")));
    }
    if let Some(r) = restart {
        m.push_str(&format!("restart {r}\n"));
    }
    m
}

/// The contents of a batch's [`EVENTS_FILE`]: `lines` (each one envelope), gzip-compressed.
pub(crate) fn encode_events(lines: &[String]) -> Vec<u8> {
    let size = lines.iter().map(|l| l.len() + 1).sum::<usize>();
    let mut gz = GzEncoder::new(Vec::with_capacity(size / 8), flate2::Compression::default());
    for l in lines {
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(l.as_bytes()).and_then(|()| gz.write_all(b"\n"));
    }
    gz.finish().unwrap_or_default()
}

/// The envelopes of an [`EVENTS_FILE`] as text; None when it is not gzip of UTF-8 text
/// (or inflates past [`MAX_EVENTS_BYTES`]).
pub(crate) fn decode_events(data: &[u8]) -> Option<String> {
    /// What the trailer may reserve at once (several batches inflate at a time); a text
    /// past it grows as it inflates, up to the limit.
    const HINT_CAP: usize = 64 << 20;
    // Room for the whole text at once, from the size gzip's trailer records (a hint only:
    // bounded by what deflate can plausibly expand to, and by the limit): growing the
    // text as it inflates would copy it over and over.
    let recorded = data
        .len()
        .checked_sub(4)
        .map_or(0, |at| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize);
    let room = recorded.min(data.len().saturating_mul(64)).min(HINT_CAP);
    let mut text = String::with_capacity(room + 1);
    let mut gz = GzDecoder::new(data).take(MAX_EVENTS_BYTES + 1);
    gz.read_to_string(&mut text).ok()?;
    (text.len() as u64 <= MAX_EVENTS_BYTES && gz.into_inner().into_inner().is_empty()).then_some(text)
}

/// Split a batch message into its header and the envelopes it carries itself (the first
/// format; none in the current one).
pub(crate) fn parse_batch(message: &str) -> Option<(Header, Vec<&str>)> {
    let (head, body) = message.split_once("\n\n").unwrap_or((message, ""));
    let mut head_lines = head.lines();
    let mut f = head_lines.next()?.strip_prefix("teleclaude events ")?.split(' ');
    let (writer, count, log_end) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    let packed = match f.next() {
        None => false,
        Some("gz") => true,
        Some(_) => return None,
    };
    if f.next().is_some() || !is_writer_id(writer) {
        return None;
    }
    let (mut after, mut restart) = (Vec::new(), None);
    for l in head_lines {
        if let Some(r) = l.strip_prefix("restart ") {
            if restart.is_some() || !crate::git::is_full_sha(r) {
                return None;
            }
            restart = Some(r.to_string());
            continue;
        }
        for dep in l.strip_prefix("after ")?.split(' ') {
            let (w, c) = dep.split_once('=')?;
            if !is_writer_id(w) || !crate::git::is_full_sha(c) {
                return None;
            }
            after.push((w.to_string(), c.to_string()));
        }
    }
    let lines = if packed { Vec::new() } else { body.lines().filter(|l| !l.trim().is_empty()).collect() };
    Some((Header { writer: writer.to_string(), count, log_end, packed, after, restart }, lines))
}

/// A writer id: 8 to 64 of `[a-z0-9-]` (what [`super::state`] creates; anything else on
/// the remote is not ours to read).
pub(crate) fn is_writer_id(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// One envelope of another writer, checked as strictly as a local record: a canonical
/// event must validate and carry the key its payload gives; an `integration.*` one needs
/// a key. Returns `(key, at)`. The line is appended as the writer wrote it: every reader
/// of the log reads it as an [`Envelope`](crate::events::Envelope) (fields it does not
/// know, from a newer version, are kept and ignored), and the log holds the same bytes on
/// every computer.
pub(crate) fn foreign_line(line: &str) -> Option<(String, String)> {
    // A JSON object, as the log's readers take it (serde would also read the envelope's
    // fields from an array, which they do not).
    if !line.trim_start().starts_with('{') {
        return None;
    }
    let env: Incoming = serde_json::from_str(line).ok()?;
    if env.v != 1 || env.key.is_empty() || crate::clock::parse(&env.at).is_err() {
        return None;
    }
    if !env.kind.starts_with("integration.") {
        let (kind, key) = crate::events::canonical_key(&env.kind, &env.payload.0).ok()?;
        if key != env.key || kind != env.kind {
            return None;
        }
    }
    Some((env.key.into_owned(), env.at.into_owned()))
}

/// An [`Envelope`](crate::events::Envelope) as another writer's line holds it, its texts
/// borrowed from the line: the same fields of the same types, so that a line reads as
/// this exactly when it reads as an envelope. (Fields checked only for their type are not
/// kept.)
#[derive(Deserialize)]
struct Incoming<'a> {
    v: u32,
    #[serde(rename = "id", borrow)]
    _id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(rename = "source", borrow)]
    _source: Cow<'a, str>,
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(rename = "level", borrow)]
    _level: Cow<'a, str>,
    #[serde(default, rename = "domain", borrow)]
    _domain: Option<Cow<'a, str>>,
    #[serde(default, rename = "actionable")]
    _actionable: Option<bool>,
    payload: UniqueFields,
}

/// A payload whose fields are all named once: a field given twice is refused (a map would
/// keep the last; the log's readers refuse the line).
struct UniqueFields(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for UniqueFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = UniqueFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<UniqueFields, A::Error> {
                let mut fields = serde_json::Map::new();
                while let Some((name, value)) = a.next_entry::<String, serde_json::Value>()? {
                    if fields.insert(name, value).is_some() {
                        return Err(serde::de::Error::custom("a payload field given twice"));
                    }
                }
                Ok(UniqueFields(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// What `refs/teleclaude/lease` records (the JSON of a lease commit): the fields of a
/// local `lease.json` (its `stale_takeover`: the holder found expired, expiry plus
/// `fleet.clock_skew_secs` in the past), the holder's clone and its run's mode.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct LeaseRecord {
    #[serde(flatten)]
    pub meta: LeaseMeta,
    /// The writer id of the holder's clone: a record of this very clone, found while this
    /// process holds the clone's local lock, is a dead run's.
    pub writer: String,
    /// The effective mode of the holder's run: how every computer learns of cutover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Resolved>,
}

impl std::ops::Deref for LeaseRecord {
    type Target = LeaseMeta;
    fn deref(&self) -> &LeaseMeta {
        &self.meta
    }
}

impl std::ops::DerefMut for LeaseRecord {
    fn deref_mut(&mut self) -> &mut LeaseMeta {
        &mut self.meta
    }
}

impl LeaseRecord {
    /// The record of a lease taken now by `owner` (the run of `mode`) in the clone of
    /// writer `me`, for `ttl` seconds; `previous`, when still open, is the holder taken over.
    pub(crate) fn taken((owner, me, mode): (&str, &str, &Resolved), ttl: u64, previous: Option<LeaseRecord>) -> Self {
        let now = crate::clock::now();
        let stale_takeover = previous.filter(LeaseRecord::is_open).map(|r| StaleHolder {
            owner: r.owner.clone(),
            pid: r.pid,
            host: r.host.clone(),
            acquired_at: r.acquired_at.clone(),
        });
        let meta = LeaseMeta {
            key: crate::lease::KEY.into(),
            owner: owner.into(),
            host: super::host(),
            pid: std::process::id(),
            token: crate::clock::random_hex(16),
            acquired_at: crate::clock::format(now),
            renewed_at: crate::clock::format(now),
            expires_at: crate::clock::format(now + std::time::Duration::from_secs(ttl)),
            ttl_secs: ttl,
            released_at: None,
            stale_takeover,
        };
        LeaseRecord { meta, writer: me.into(), mode: Some(mode.clone()) }
    }

    /// Held: not released and still carrying a token.
    pub(crate) fn is_open(&self) -> bool {
        self.released_at.is_none() && !self.token.is_empty()
    }

    /// Expired beyond doubt: `expires_at` plus the allowed clock skew is in the past.
    pub(crate) fn expired(&self, skew_secs: u64) -> bool {
        let deadline = crate::clock::nanos(&self.expires_at).saturating_add(i128::from(skew_secs) * 1_000_000_000);
        deadline < crate::clock::now().unix_timestamp_nanos()
    }

    pub(crate) fn message(&self) -> String {
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        format!("teleclaude lease {} on {}\n\n{json}\n", self.owner, self.host)
    }

    pub(crate) fn parse(message: &str) -> Option<LeaseRecord> {
        let (head, body) = message.split_once("\n\n")?;
        head.starts_with("teleclaude lease ").then(|| serde_json::from_str(body.trim()).ok()).flatten()
    }

    /// `held by <owner> on <host> pid <pid> until <expires_at>`.
    pub(crate) fn describe(&self) -> String {
        format!("held by {} on {} pid {} until {}", self.owner, self.host, self.pid, self.expires_at)
    }
}

/// Parse `git log -z --format=%H%x00%P%x00%B` output: (commit, parents, message) per commit.
pub(crate) fn parse_log(out: &str) -> Vec<(String, Vec<String>, String)> {
    let fields: Vec<&str> = out.split('\0').collect();
    fields
        .chunks(3)
        .filter(|c| c.len() == 3)
        .map(|c| {
            let commit = c[0].trim_start_matches('\n').to_string();
            (commit, c[1].split_whitespace().map(str::to_string).collect(), c[2].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_message_round_trips() {
        let after = vec![("w-abcdefgh".to_string(), "a".repeat(40))];
        let m = batch_message("w-12345678", (2, 420), &after, None);
        let (h, got) = parse_batch(&m).unwrap();
        let header = Header { writer: "w-12345678".into(), count: 2, log_end: 420, packed: true, after, restart: None };
        assert_eq!(h, header);
        assert!(got.is_empty(), "the envelopes travel in the tree");
        assert_eq!(parse_batch(&batch_message("w-12345678", (2, 1), &[], None)).unwrap().0.after, vec![]);
        let restarted = batch_message("w-12345678", (2, 1), &header.after, Some(&"b".repeat(40)));
        assert_eq!(parse_batch(&restarted).unwrap().0, Header { restart: Some("b".repeat(40)), log_end: 1, ..header });
        let twice = format!("{restarted}restart {}\n", "c".repeat(40));
        assert!(parse_batch(&twice).is_none(), "one restart at most");
        assert!(parse_batch("teleclaude events w-12345678 1 2 gz\nrestart x\n").is_none(), "a commit id");
        assert!(parse_batch("teleclaude events ../x 1 2\n\n").is_none());
        assert!(parse_batch("something else\n\n{}").is_none());
        assert!(parse_batch("teleclaude events w-12345678 1 2 zz\n").is_none(), "a format this reader does not know");
    }

    #[test]
    fn a_first_format_message_carries_its_envelopes() {
        let (h, got) = parse_batch("teleclaude events w-12345678 2 9\n\n{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!((h.count, h.log_end, h.packed), (2, 9, false));
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn events_round_trip_through_gzip_and_garbage_does_not() {
        let lines = vec!["{\"a\":1}".to_string(), "{\"b\":\"é\"}".to_string()];
        let data = encode_events(&lines);
        assert_eq!(&data[..2], b"\x1f\x8b", "gzip, readable with `gunzip`");
        assert_eq!(decode_events(&data).unwrap(), "{\"a\":1}\n{\"b\":\"é\"}\n");
        assert_eq!(decode_events(&data[..data.len() - 4]), None, "truncated");
        assert_eq!(decode_events(b"{\"a\":1}\n"), None, "not gzip");
        let mut trailing = data.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(decode_events(&trailing), None, "bytes after the gzip stream");
        let mut binary = GzEncoder::new(Vec::new(), flate2::Compression::default());
        binary.write_all(&[0xff, 0xfe]).unwrap();
        assert_eq!(decode_events(&binary.finish().unwrap()), None, "not UTF-8");
    }

    #[test]
    fn events_inflate_into_one_allocation_of_the_size_gzip_recorded() {
        let kind = "domain.software-development.branch.pushed";
        let line = |i: u64| format!("{{\"v\":1,\"type\":\"{kind}\",\"n\":{i},\"sha\":\"{:040x}\"}}", i * 7919);
        let lines: Vec<String> = (0..2000u64).map(line).collect();
        let data = encode_events(&lines);
        let text = decode_events(&data).unwrap();
        assert_eq!(text.lines().count(), 2000);
        assert!(text.len() > data.len() * 8, "compressed past the old guess of 8x: {} of {}", data.len(), text.len());
        assert_eq!(text.capacity(), text.len() + 1, "never grown while inflating");
    }

    #[test]
    fn writer_ids_are_plain_names() {
        assert!(is_writer_id("0123abcd-ef"));
        for bad in ["short", "UPPERCASE1", "has/slash1", "dots..dots", &"a".repeat(65)] {
            assert!(!is_writer_id(bad), "{bad}");
        }
    }

    // Real `git log -z --reverse --format=%H%x00%P%x00%B` output of two commits.
    const LOG: &str = "1111111111111111111111111111111111111111\0\0teleclaude events w-12345678 1 10\n\n{}\n\0\n2222222222222222222222222222222222222222\x001111111111111111111111111111111111111111\0teleclaude events w-12345678 1 20\n\n{}\n\0";

    #[test]
    fn log_output_parses_into_commits() {
        let got = parse_log(LOG);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, Vec::<String>::new());
        assert_eq!(got[1].0, "2".repeat(40));
        assert_eq!(got[1].1, vec!["1".repeat(40)]);
        assert!(got[1].2.starts_with("teleclaude events w-12345678 1 20"));
    }

    #[test]
    fn foreign_lines_are_validated_like_local_records() {
        let ok = r#"{"v":1,"id":"x","type":"domain.software-development.review.approved","at":"2026-01-01T00:00:00Z","source":"s","key":"domain.software-development.review.approved:s1:1","level":"workflow","payload":{"slug":"s1","review_round":1,"reviewer_session_id":"r","approved_at":"2026-01-01T00:00:00Z"}}"#;
        let (key, at) = foreign_line(ok).unwrap();
        assert_eq!(at, "2026-01-01T00:00:00Z");
        assert_eq!(key, "domain.software-development.review.approved:s1:1");
        assert!(foreign_line(&ok.replace(":s1:1\"", ":s2:1\"")).is_none(), "a key its payload does not give");
        assert!(foreign_line(&ok.replace("\"slug\":\"s1\"", "\"slug\":\"../x\"")).is_none(), "an invalid payload");
        assert!(foreign_line("not json").is_none());
        // Read as strictly as an envelope: every field it requires, of its type.
        assert!(foreign_line(&ok.replace("\"id\":\"x\",", "")).is_none(), "no id");
        assert!(foreign_line(&ok.replace("\"level\":\"workflow\"", "\"level\":5")).is_none(), "a level not a text");
        assert!(foreign_line(&ok.replace("\"source\":\"s\",", "\"source\":\"s\",\"actionable\":\"yes\",")).is_none());
        assert!(
            foreign_line(
                &ok.replace("\"type\":\"domain.software-development.review.approved\"", "\"type\":\"review-approved\"")
            )
            .is_none(),
            "a short type name"
        );
        // The same fields as an array, in their order: serde reads a struct from that too.
        let v: serde_json::Value = serde_json::from_str(ok).unwrap();
        let field = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let order = ["v", "id", "type", "at", "source", "key", "level", "domain", "actionable", "payload"];
        let array = serde_json::Value::Array(order.iter().map(|k| field(k)).collect()).to_string();
        assert!(serde_json::from_str::<Incoming>(&array).is_ok(), "read as an envelope: {array}");
        assert!(foreign_line(&array).is_none(), "not an object: {array}");
        assert!(foreign_line(&format!(" {ok}")).is_some(), "leading blanks are JSON too");
        let twice = ok.replace("\"slug\":\"s1\"", "\"slug\":\"s1\",\"slug\":\"s1\"");
        assert!(foreign_line(&twice).is_none(), "a payload field given twice");
        let escaped = ok.replace("\"source\":\"s\"", "\"source\":\"s\\u00e9\"");
        assert!(foreign_line(&escaped).is_some(), "escaped texts read too");
    }

    #[test]
    fn lease_records_round_trip_and_expire_with_skew() {
        let meta = LeaseMeta {
            key: "integration/main".into(),
            owner: "o".into(),
            host: "h".into(),
            pid: 1,
            token: "t".into(),
            acquired_at: "2026-01-01T00:00:00Z".into(),
            renewed_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2000-01-01T00:00:00Z".into(),
            ttl_secs: 120,
            released_at: None,
            stale_takeover: None,
        };
        let mut r = LeaseRecord { meta, writer: "w-12345678".into(), mode: None };
        assert_eq!(LeaseRecord::parse(&r.message()), Some(r.clone()));
        assert!(r.is_open() && r.expired(30));
        r.expires_at = "2999-01-01T00:00:00Z".into();
        assert!(!r.expired(30));
    }
}
