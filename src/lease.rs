//! The lease (SPEC §7): one per repository, key `integration/main`. Mutual exclusion is an
//! flock on `lease.lock` held for the whole run and released by the kernel if the holder
//! dies; `lease.json` carries the holder's metadata and the SHA-256 of its token (the token
//! itself stays in the holder's memory and its own git children's environment), renewed
//! every ttl/4.

use crate::clock;
use crate::error::{Error, Result};
use crate::store::{self, FileLock, StateDir};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) const KEY: &str = "integration/main";

/// `lease.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct LeaseMeta {
    pub key: String,
    pub owner: String,
    pub token: String,
    pub pid: u32,
    pub host: String,
    pub acquired_at: String,
    pub renewed_at: String,
    pub expires_at: String,
    pub ttl_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// The holder whose metadata was found without a held lock when this lease was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_takeover: Option<StaleHolder>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct StaleHolder {
    pub owner: String,
    pub pid: u32,
    pub host: String,
    pub acquired_at: String,
}

/// What `status`, `doctor` and `integrator lease` report.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LeaseStatus {
    /// A live process holds the lock.
    pub held: bool,
    /// Metadata says held but no process holds the lock (a holder died).
    pub stale: bool,
    /// The lock is held but the metadata has expired (the holder stopped renewing).
    pub hung: bool,
    pub holder: Option<LeaseMeta>,
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn read_meta(dir: &StateDir) -> Option<LeaseMeta> {
    store::read_json(&dir.lease_json()).ok().flatten()
}

/// Is the lock on `lease.lock` held by some process right now?
fn lock_is_held(dir: &StateDir) -> Result<bool> {
    FileLock::is_held(&dir.lease_lock())
}

fn expired(meta: &LeaseMeta) -> bool {
    clock::parse(&meta.expires_at).map(|t| t < clock::now()).unwrap_or(true)
}

pub(crate) fn inspect(dir: &StateDir) -> Result<LeaseStatus> {
    let meta = read_meta(dir);
    let held = dir.root().exists() && lock_is_held(dir)?;
    let open_meta = meta.as_ref().is_some_and(|m| m.released_at.is_none() && !m.token.is_empty());
    Ok(LeaseStatus { held, stale: !held && open_meta, hung: held && meta.as_ref().is_some_and(expired), holder: meta })
}

/// What `lease.json` stores for `token`: its SHA-256, which does not authorise a push.
pub(crate) fn token_digest(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

/// True iff `token` is the token of a lease whose lock is held right now and unexpired:
/// what authorises the integrator's own push past the guards.
pub(crate) fn token_is_live(dir: &StateDir, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let Some(meta) = read_meta(dir) else {
        return false;
    };
    meta.token == token_digest(token)
        && meta.released_at.is_none()
        && !expired(&meta)
        && lock_is_held(dir).unwrap_or(false)
}

/// A held lease. Dropping it without [`Lease::release`] still frees the lock (the file closes).
pub(crate) struct Lease {
    dir: StateDir,
    // Held for the whole run; the kernel frees it if the process dies.
    _lock: FileLock,
    meta: LeaseMeta,
    /// The token whose digest `meta.token` holds; handed only to the run's own pushes.
    secret: String,
    renewer: Option<Renewer>,
    lost: Arc<AtomicBool>,
}

struct Renewer {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// Why taking the lease did not succeed.
pub(crate) enum Acquire {
    Taken(Box<Lease>),
    Busy(String),
}

/// The contention line. The holder takes the lock before it writes its metadata, so for a
/// moment `lease.json` is missing or still names the previous (released) holder: wait
/// briefly for the live holder's metadata rather than name the wrong process.
fn busy_line(dir: &StateDir) -> String {
    for _ in 0..25 {
        if let Some(m) = read_meta(dir).filter(|m| m.released_at.is_none() && !m.token.is_empty()) {
            return format!("lease busy: held by {} pid {} since {}", m.owner, m.pid, m.acquired_at);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    "lease busy: held by a process that has not written its metadata yet".to_string()
}

impl Lease {
    /// Try to take the lease once, without blocking.
    pub(crate) fn try_acquire(dir: &StateDir, owner: &str, ttl_secs: u64) -> Result<Acquire> {
        dir.ensure()?;
        let Some(lock) = FileLock::try_lock(&dir.lease_lock())? else { return Ok(Acquire::Busy(busy_line(dir))) };
        let previous = read_meta(dir);
        let now = clock::now();
        let stale_takeover = previous.filter(|m| m.released_at.is_none() && !m.token.is_empty()).map(|m| StaleHolder {
            owner: m.owner,
            pid: m.pid,
            host: m.host,
            acquired_at: m.acquired_at,
        });
        let secret = clock::random_hex(16);
        let meta = LeaseMeta {
            key: KEY.into(),
            owner: owner.into(),
            token: token_digest(&secret),
            pid: std::process::id(),
            host: hostname(),
            acquired_at: clock::format(now),
            renewed_at: clock::format(now),
            expires_at: clock::format(now + Duration::from_secs(ttl_secs)),
            ttl_secs,
            released_at: None,
            stale_takeover,
        };
        store::write_json(&dir.lease_json(), &meta)?;
        Ok(Acquire::Taken(Box::new(Lease {
            dir: dir.clone(),
            _lock: lock,
            meta,
            secret,
            renewer: None,
            lost: Arc::new(AtomicBool::new(false)),
        })))
    }

    /// Take the lease, waiting up to `wait` for a busy one.
    pub(crate) fn acquire_waiting(dir: &StateDir, owner: &str, ttl_secs: u64, wait: Duration) -> Result<Acquire> {
        let deadline = Instant::now() + wait;
        loop {
            match Lease::try_acquire(dir, owner, ttl_secs)? {
                Acquire::Busy(line) if Instant::now() < deadline => {
                    let _ = line;
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return Ok(other),
            }
        }
    }

    /// The secret token (`lease.json` holds only its digest).
    /// The holder this lease was taken over from (it died without releasing it).
    pub(crate) fn took_over(&self) -> Option<&StaleHolder> {
        self.meta.stale_takeover.as_ref()
    }

    pub(crate) fn token(&self) -> &str {
        &self.secret
    }

    /// Renew `lease.json` every ttl/4 from a background thread, so long git or verify
    /// commands never let it expire. Renewal stops (and the lease counts as lost) if
    /// another process replaced the metadata.
    pub(crate) fn start_renewing(&mut self) {
        let (tx, rx) = mpsc::channel::<()>();
        let dir = self.dir.clone();
        let token = self.meta.token.clone();
        let ttl = self.meta.ttl_secs;
        let lost = self.lost.clone();
        let every = Duration::from_millis((ttl * 1000 / 4).max(250));
        let handle = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                if renew(&dir, &token, ttl).is_err() {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        self.renewer = Some(Renewer { stop: tx, handle });
    }

    /// Renew now (between steps) and fail if the lease was lost.
    pub(crate) fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::failed("the lease was lost (its metadata was replaced by another process)"));
        }
        renew(&self.dir, &self.meta.token, self.meta.ttl_secs)
    }

    /// Keep the metadata with `released_at` set and the token cleared, then unlock.
    pub(crate) fn release(mut self) -> Result<()> {
        if let Some(r) = self.renewer.take() {
            let _ = r.stop.send(());
            let _ = r.handle.join();
        }
        let mut meta = read_meta(&self.dir).filter(|m| m.token == self.meta.token).unwrap_or_else(|| self.meta.clone());
        meta.released_at = Some(clock::now_string());
        meta.token.clear();
        store::write_json(&self.dir.lease_json(), &meta)
    }
}

fn renew(dir: &StateDir, token: &str, ttl: u64) -> Result<()> {
    let Some(mut meta) = read_meta(dir).filter(|m| m.token == token) else {
        return Err(Error::failed("the lease was lost (its metadata was replaced by another process)"));
    };
    let now = clock::now();
    meta.renewed_at = clock::format(now);
    meta.expires_at = clock::format(now + Duration::from_secs(ttl));
    store::write_json(&dir.lease_json(), &meta)
}

/// `integrator lease break --force`: signal a live holder on this host.
pub(crate) fn break_lease(dir: &StateDir, force: bool) -> Result<String> {
    let st = inspect(dir)?;
    let Some(meta) = st.holder.filter(|_| st.held) else {
        return Ok("lease is free: nothing to break".into());
    };
    if !force {
        return Err(Error::usage_hint(
            format!("the lease is held by {} pid {} on {} (hung: {})", meta.owner, meta.pid, meta.host, st.hung),
            "integrator lease break --force",
        ));
    }
    if meta.host != hostname() {
        return Err(Error::failed(format!(
            "the lease holder runs on host {}; it can only be signalled there",
            meta.host
        )));
    }
    let pid = meta.pid as libc::pid_t;
    // SAFETY: kill with a pid and signal number has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..50 {
        if !lock_is_held(dir)? {
            return Ok(format!("lease broken: pid {pid} stopped on SIGTERM"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    Ok(format!("lease broken: pid {pid} killed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lease a run takes expires a ttl after it was taken, before any renewal: a token
    /// checked before the first renewal must already be live.
    #[test]
    fn a_lease_expires_a_ttl_after_it_was_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::for_common_dir(tmp.path());
        let before = clock::now();
        let Acquire::Taken(lease) = Lease::try_acquire(&dir, "test", 600).unwrap() else { panic!("the lease is free") };
        let meta = read_meta(&dir).unwrap();
        let expires = clock::parse(&meta.expires_at).unwrap();
        assert!(expires >= before + Duration::from_secs(599), "{} is not a ttl ahead", meta.expires_at);
        assert!(token_is_live(&dir, lease.token()));
        lease.release().unwrap();
        assert!(!token_is_live(&dir, "x"));
    }
}
