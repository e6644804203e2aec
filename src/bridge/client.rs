//! The Redis commands the bridge uses, on one synchronous connection: consumer-group reads
//! (XREADGROUP, XAUTOCLAIM, XACK), XADD, XRANGE for the history and XINFO for the gap and
//! the lag. Replies are read as plain values here, so the rest of the bridge sees entries.

use super::Settings;
use crate::error::{Error, Result};
use redis::{IntoConnectionInfo, Value};
use std::time::Duration;

/// How long connecting and one reply may take before Redis counts as unreachable: a run
/// must not hang on a dead bus.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How many entries the platform keeps (`XADD … MAXLEN ~ 10000`); our XADDs trim alike.
const MAXLEN: &str = "10000";

/// One stream entry: its id and its fields, `None` when it was deleted while pending.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub id: String,
    pub fields: Option<Vec<(String, String)>>,
}

/// What XINFO says about the stream and our group.
#[derive(Clone, Debug, Default)]
pub(crate) struct Info {
    pub length: u64,
    pub entries_added: Option<u64>,
    /// The oldest entry still in the stream.
    pub first_entry: Option<String>,
    pub last_delivered: Option<String>,
    pub entries_read: Option<u64>,
    pub lag: Option<u64>,
    pub pending: Option<u64>,
}

pub(crate) struct Client {
    con: redis::Connection,
    /// The URL without its password, as messages name it.
    pub shown: String,
    stream: String,
    group: String,
    consumer: String,
}

impl Client {
    /// Connect, with the password from the URL or `TELECLAUDE_INTEGRATOR_REDIS_PASSWORD`.
    pub(crate) fn connect(s: &Settings) -> Result<Client> {
        let fail = |e: redis::RedisError| Error::failed(format!("cannot reach Redis at {}: {e}", s.shown));
        if s.url.starts_with("rediss://") && !cfg!(feature = "bridge-tls") {
            return Err(Error::failed_hint(
                format!("{}: this integrator was built without TLS", s.shown),
                "rebuild with `cargo build --release --features bridge-tls`, or use redis://",
            ));
        }
        let mut info = s.url.as_str().into_connection_info().map_err(fail)?;
        if let Some(pw) = s.password.as_deref().filter(|_| info.redis_settings().password().is_none()) {
            let settings = info.redis_settings().clone().set_password(pw);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(fail)?;
        let con = client.get_connection_with_timeout(TIMEOUT).map_err(fail)?;
        con.set_read_timeout(Some(TIMEOUT)).and_then(|_| con.set_write_timeout(Some(TIMEOUT))).map_err(fail)?;
        Ok(Client {
            con,
            shown: s.shown.clone(),
            stream: s.stream.clone(),
            group: s.group.clone(),
            consumer: s.consumer.clone(),
        })
    }

    fn query(&mut self, cmd: &redis::Cmd) -> Result<Value> {
        cmd.query::<Value>(&mut self.con).map_err(|e| Error::failed(format!("Redis at {}: {e}", self.shown)))
    }

    /// Create the group at the stream's beginning (so its history is replayed). Returns
    /// whether it was created now.
    pub(crate) fn ensure_group(&mut self) -> Result<bool> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE").arg(&self.stream).arg(&self.group).arg("0").arg("MKSTREAM");
        match cmd.query::<Value>(&mut self.con) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
            Err(e) => Err(Error::failed(format!("Redis at {}: cannot create group {}: {e}", self.shown, self.group))),
        }
    }

    /// XREADGROUP from `from`: `>` for new entries, an id for our own pending ones.
    pub(crate) fn read_group(&mut self, from: &str, count: usize) -> Result<Vec<Entry>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&self.group).arg(&self.consumer).arg("COUNT").arg(count);
        cmd.arg("STREAMS").arg(&self.stream).arg(from);
        match self.query(&cmd)? {
            Value::Nil => Ok(Vec::new()),
            Value::Array(streams) => Ok(streams.into_iter().next().map(stream_entries).unwrap_or_default()),
            Value::Map(streams) => Ok(streams.into_iter().next().map(|(_, v)| entries(v)).unwrap_or_default()),
            other => Err(self.unexpected("XREADGROUP", &other)),
        }
    }

    /// Wait up to `block` for an entry after `after` (XREAD: the group is not touched, so
    /// the next drain still sees a gap first). Returns whether one arrived.
    pub(crate) fn wait_after(&mut self, after: &str, block: Duration) -> Result<bool> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(1).arg("BLOCK").arg(block.as_millis() as u64).arg("STREAMS").arg(&self.stream).arg(after);
        self.con.set_read_timeout(Some(block + TIMEOUT)).map_err(|e| Error::failed(e.to_string()))?;
        let v = self.query(&cmd);
        self.con.set_read_timeout(Some(TIMEOUT)).map_err(|e| Error::failed(e.to_string()))?;
        Ok(!matches!(v?, Value::Nil))
    }

    /// XAUTOCLAIM entries pending longer than `idle` (a dead consumer's) from `start`.
    /// Returns the next start (`0-0` when done) and the claimed entries.
    pub(crate) fn autoclaim(&mut self, idle: Duration, start: &str, count: usize) -> Result<(String, Vec<Entry>)> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.stream).arg(&self.group).arg(&self.consumer).arg(idle.as_millis() as u64);
        cmd.arg(start).arg("COUNT").arg(count);
        match self.query(&cmd)? {
            Value::Array(parts) if parts.len() >= 2 => {
                let mut it = parts.into_iter();
                let next = it.next().map(text).unwrap_or_else(|| "0-0".into());
                let claimed = it.next().map(entries).unwrap_or_default();
                Ok((next, claimed))
            }
            other => Err(self.unexpected("XAUTOCLAIM", &other)),
        }
    }

    pub(crate) fn ack(&mut self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&self.stream).arg(&self.group).arg(ids);
        self.query(&cmd).map(|_| ())
    }

    /// XADD with the platform's trimming; returns the new id.
    pub(crate) fn add(&mut self, fields: &[(String, String)]) -> Result<String> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream).arg("MAXLEN").arg("~").arg(MAXLEN).arg("*");
        for (k, v) in fields {
            cmd.arg(k).arg(v);
        }
        Ok(text(self.query(&cmd)?))
    }

    /// XRANGE `(after`…`end`, at most `count` entries.
    pub(crate) fn range(&mut self, after: &str, end: &str, count: usize) -> Result<Vec<Entry>> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(&self.stream).arg(format!("({after}")).arg(end).arg("COUNT").arg(count);
        Ok(entries(self.query(&cmd)?))
    }

    /// XINFO STREAM and our group's line of XINFO GROUPS (`None` when the group is missing).
    pub(crate) fn info(&mut self) -> Result<(Info, bool)> {
        let mut info = Info::default();
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("STREAM").arg(&self.stream);
        let stream = match cmd.query::<Value>(&mut self.con) {
            Ok(v) => pairs(v),
            Err(e) if e.to_string().contains("no such key") => return Ok((info, false)),
            Err(e) => return Err(Error::failed(format!("Redis at {}: {e}", self.shown))),
        };
        info.length = num(stream.iter().find(|(k, _)| k == "length").map(|(_, v)| v)).unwrap_or(0);
        info.entries_added = num(stream.iter().find(|(k, _)| k == "entries-added").map(|(_, v)| v));
        info.first_entry = stream.iter().find(|(k, _)| k == "first-entry").and_then(|(_, v)| match v {
            Value::Array(e) => e.first().map(|id| text(id.clone())),
            _ => None,
        });
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("GROUPS").arg(&self.stream);
        let groups = match self.query(&cmd)? {
            Value::Array(gs) => gs,
            _ => Vec::new(),
        };
        let ours =
            groups.into_iter().map(pairs).find(|g| g.iter().any(|(k, v)| k == "name" && text(v.clone()) == self.group));
        let Some(g) = ours else { return Ok((info, false)) };
        let get = |k: &str| g.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        info.last_delivered = get("last-delivered-id").map(|v| text(v.clone()));
        info.entries_read = num(get("entries-read"));
        info.lag = num(get("lag"));
        info.pending = num(get("pending"));
        Ok((info, true))
    }

    fn unexpected(&self, what: &str, v: &Value) -> Error {
        Error::failed(format!("Redis at {}: unexpected {what} reply {v:?}", self.shown))
    }
}

/// A value as text (bulk and simple strings, numbers); anything else empty.
fn text(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::SimpleString(s) => s,
        Value::Int(n) => n.to_string(),
        Value::VerbatimString { text, .. } => text,
        _ => String::new(),
    }
}

fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Nil => None,
        other => text(other.clone()).parse().ok(),
    }
}

/// A flat `[k1, v1, k2, v2…]` array or a RESP3 map as (name, value) pairs.
fn pairs(v: Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.into_iter().map(|(k, v)| (text(k), v)).collect(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((text(k), v));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// `[stream name, entries]` of an XREADGROUP reply.
fn stream_entries(v: Value) -> Vec<Entry> {
    match v {
        Value::Array(parts) => parts.into_iter().nth(1).map(entries).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `[[id, [k, v, …] | nil], …]`.
fn entries(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else { return None };
            let mut it = parts.into_iter();
            let id = text(it.next()?);
            let fields = match it.next() {
                Some(v @ (Value::Array(_) | Value::Map(_))) => {
                    Some(pairs(v).into_iter().map(|(k, v)| (k, text(v))).collect())
                }
                _ => None,
            };
            Some(Entry { id, fields })
        })
        .collect()
}

/// Stream ids compare as (milliseconds, sequence).
pub(crate) fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}
