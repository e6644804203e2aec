//! A real `redis-server` for the event-bus tests: started on 127.0.0.1 and a free port in
//! a temp dir, killed on drop — never a mock. Plus the platform's side of the stream: XADD
//! of envelopes in its wire format, and reading the stream back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub(crate) const STREAM: &str = "teleclaude:events";

pub(crate) struct Redis {
    pub port: u16,
    pub dir: PathBuf,
    persistent: bool,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Redis {
    /// An in-memory server (nothing survives a restart).
    pub(crate) fn start(dir: &Path) -> Redis {
        Redis::launch(dir, free_port(), false, &[])
    }

    /// A server that keeps its data across a restart (append-only file, fsync always).
    pub(crate) fn start_persistent(dir: &Path) -> Redis {
        Redis::launch(dir, free_port(), true, &[])
    }

    /// With extra arguments (e.g. `--requirepass`).
    pub(crate) fn start_with(dir: &Path, extra: &[&str]) -> Redis {
        Redis::launch(dir, free_port(), false, extra)
    }

    fn launch(dir: &Path, port: u16, persistent: bool, extra: &[&str]) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
        cmd.args(["--appendonly", if persistent { "yes" } else { "no" }, "--appendfsync", "always"]);
        cmd.arg("--dir").arg(dir).args(extra);
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect(
            "redis-server must be installed for the event-bus tests (apt-get install -y redis-server; .ci/run does)",
        );
        let r = Redis { port, dir: dir.to_path_buf(), persistent, child: Some(child) };
        super::wait_for("redis-server to accept connections", 20, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stop it (SIGTERM, so a persistent one writes its data) and wait.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Reap a server something else stopped (a `verify` command), then start it again on
    /// the same port and dir.
    pub(crate) fn restart(&mut self) {
        self.stop();
        *self = Redis::launch(&self.dir.clone(), self.port, self.persistent, &[]);
    }

    pub(crate) fn con(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().expect("connect to the test redis")
    }

    /// The bridge section of a config pointing at this server.
    pub(crate) fn config(&self) -> String {
        format!("[bridge]\nredis_url = \"{}\"\nconsumer = \"tester\"\n", self.url())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An envelope in the platform's wire format, with `over` replacing (or, with "", for
/// any field but `idempotency_key`, removing) fields.
pub(crate) fn envelope(event: &str, payload: &serde_json::Value, over: &[(&str, &str)]) -> Vec<(String, String)> {
    let entity = payload["slug"].as_str().or(payload["branch"].as_str()).unwrap_or("x").to_string();
    let mut f: Vec<(String, String)> = vec![
        ("event".into(), event.into()),
        ("version".into(), "1".into()),
        ("source".into(), "daemon@platform".into()),
        ("timestamp".into(), "2026-01-01T09:00:00+00:00".into()),
        ("idempotency_key".into(), String::new()),
        ("level".into(), "2".into()),
        ("domain".into(), "software-development".into()),
        ("entity".into(), entity),
        ("description".into(), "from the platform".into()),
        ("visibility".into(), "cluster".into()),
        ("payload".into(), payload.to_string()),
        ("actions".into(), "[]".into()),
        ("terminal_when".into(), String::new()),
        ("resolution_shape".into(), String::new()),
    ];
    for (k, v) in over {
        f.retain(|(n, _)| n != k);
        if !v.is_empty() {
            f.push((k.to_string(), v.to_string()));
        }
    }
    f
}

pub(crate) fn xadd(con: &mut redis::Connection, fields: &[(String, String)]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(STREAM).arg("*");
    for (k, v) in fields {
        cmd.arg(k).arg(v);
    }
    cmd.query(con).expect("XADD")
}

/// The platform records a candidate: approved, pushed and finalized.
pub(crate) fn platform_ready(con: &mut redis::Connection, slug: &str, branch: &str, sha: &str, ready_at: &str) {
    let approved =
        serde_json::json!({"slug": slug, "review_round": 1, "reviewer_session_id": "rev", "approved_at": ready_at});
    let pushed =
        serde_json::json!({"branch": branch, "sha": sha, "remote": "origin", "pushed_at": ready_at, "pusher": "w"});
    let started = serde_json::json!({"slug": slug, "branch": branch, "sha": sha, "worker_session_id": "w",
        "orchestrator_session_id": "o", "ready_at": ready_at});
    xadd(con, &envelope("domain.software-development.review.approved", &approved, &[]));
    xadd(con, &envelope("domain.software-development.branch.pushed", &pushed, &[]));
    xadd(con, &envelope("domain.software-development.deployment.started", &started, &[]));
}

/// Every entry of the stream, as field maps.
pub(crate) fn entries(con: &mut redis::Connection) -> Vec<BTreeMap<String, String>> {
    let raw: Vec<(String, Vec<(String, String)>)> =
        redis::cmd("XRANGE").arg(STREAM).arg("-").arg("+").query(con).expect("XRANGE");
    raw.into_iter().map(|(_, f)| f.into_iter().collect()).collect()
}

/// The entries of one event type.
pub(crate) fn entries_of(con: &mut redis::Connection, event: &str) -> Vec<BTreeMap<String, String>> {
    entries(con).into_iter().filter(|e| e.get("event").map(String::as_str) == Some(event)).collect()
}

/// Entries delivered to the group and not acknowledged.
pub(crate) fn pending(con: &mut redis::Connection) -> u64 {
    let v: redis::Value = redis::cmd("XPENDING").arg(STREAM).arg("integrator").query(con).expect("XPENDING");
    match v {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// A JSON field of an entry.
pub(crate) fn json_field(e: &BTreeMap<String, String>, k: &str) -> serde_json::Value {
    serde_json::from_str(e.get(k).unwrap_or_else(|| panic!("no field {k} in {e:?}"))).expect("a JSON field")
}
