//! The lease on the remote: after its local flock, a fleet run takes `refs/teleclaude/lease`
//! by compare-and-swap (`--force-with-lease`) with a commit recording holder, host, pid,
//! token, acquired and expiry times and the run's mode; renewal and release are CAS
//! updates of the same ref. In cutover every push of main is one `--atomic` push of main
//! and the renewed lease commit, expecting this holder's own lease commit: a holder that
//! was paused past its expiry and taken over can never move main.

use super::state::FleetDir;
use super::wire::LeaseRecord;
use super::LEASE_REF;
use crate::apply::{self, Push};
use crate::clock;
use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::git::push::Flag;
use crate::git::{self, Git};
use crate::lease::{LeaseMeta, StaleHolder};
use crate::mode::Resolved;
use crate::repo::Repo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a push that names the lease ref ended.
enum Cas {
    Done,
    /// The lease ref was not where this process expected: someone else moved it.
    Moved(String),
    /// Another ref of the push was refused because it moved (main, non-fast-forward).
    OtherMoved(String),
    /// The remote does not advertise the atomic capability.
    NoAtomic,
    Failed(String),
}

impl Cas {
    /// git's words on a push that did not land.
    fn text(self) -> String {
        match self {
            Cas::Done => String::new(),
            Cas::Moved(t) | Cas::OtherMoved(t) | Cas::Failed(t) => t,
            Cas::NoAtomic => "the remote does not support --atomic push".into(),
        }
    }
}

/// What the renewer and the pushes share.
#[derive(Clone)]
struct Ctx {
    git: Git,
    remote: String,
    tree: String,
    ttl: u64,
    atomic: bool,
}

/// The lease commit this process holds, and its record.
struct Held {
    commit: String,
    record: LeaseRecord,
}

/// A held remote lease.
pub(crate) struct Session {
    ctx: Ctx,
    held: Arc<Mutex<Held>>,
    lost: Arc<AtomicBool>,
    renewer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

/// With the fleet on: take the remote lease (waiting up to `wait` while it is busy), keep
/// it renewed, and sync once. None with the fleet off. Busy → `Err(LeaseBusy)`, exit 75.
pub(crate) fn begin(
    repo: &Repo,
    cfg: &Config,
    mode: &Resolved,
    owner: &str,
    wait: Option<Duration>,
) -> Result<Option<Session>> {
    if !cfg.fleet.enabled {
        return Ok(None);
    }
    let deadline = Instant::now() + wait.unwrap_or_default();
    let mut session = loop {
        match acquire(repo, cfg, mode, owner)? {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(busy) => return Err(Error::LeaseBusy(busy)),
        }
    };
    session.start_renewing();
    if let Err(e) = super::sync::sync_fetched(repo, cfg) {
        if let Err(r) = session.release(mode) {
            eprintln!("integrator: warning: {}", r.sentence());
        }
        return Err(e);
    }
    Ok(Some(session))
}

fn acquire(repo: &Repo, cfg: &Config, mode: &Resolved, owner: &str) -> Result<std::result::Result<Session, String>> {
    let fd = FleetDir::of(&repo.state);
    fd.ensure()?;
    let git = super::fleet_git(&repo.git, cfg);
    let (me, tree) = (fd.writer_id()?, fd.empty_tree(&git)?);
    let ttl = cfg.integrator.lease_ttl_secs;
    let mut ctx = Ctx { git, remote: super::remote(cfg).to_string(), tree, ttl, atomic: true };
    for _ in 0..5 {
        let (prev, previous) = read_remote(&ctx.git, &ctx.remote)?.unzip();
        let previous = previous.flatten();
        // A record of this clone is a dead run's: this process holds the clone's flock.
        let live = previous.as_ref().filter(|r| r.is_open() && !r.expired(cfg.fleet.clock_skew_secs) && r.writer != me);
        if let Some(r) = live {
            return Ok(Err(format!("lease busy: {} (fleet remote `{}`)", r.describe(), ctx.remote)));
        }
        let record = new_record(cfg, owner, &me, mode, previous);
        let commit = super::write_commit(&ctx.git, &ctx.tree, prev.as_deref(), &record.message())?;
        let spec = [format!("{commit}:{LEASE_REF}")];
        match cas_push(&ctx.git, &ctx.remote, prev.as_deref(), &spec, ctx.atomic, false)? {
            Cas::Done => {
                fd.save_atomic(ctx.atomic)?;
                return Ok(Ok(Session::new(ctx, Held { commit, record })));
            }
            Cas::NoAtomic => {
                refuse_non_atomic(cfg, mode, &ctx.remote)?;
                ctx.atomic = false;
            }
            Cas::Moved(_) => {}
            Cas::OtherMoved(t) | Cas::Failed(t) => {
                return Err(Error::failed(format!("cannot take the fleet lease on `{}`: {t}", ctx.remote)))
            }
        }
    }
    Err(Error::failed("the fleet lease kept changing while this run tried to take it"))
}

/// A fleet cutover run needs atomic pushes to fence main, unless the user accepted the window.
fn refuse_non_atomic(cfg: &Config, mode: &Resolved, remote: &str) -> Result<()> {
    if mode.effective != Mode::Cutover || cfg.fleet.allow_non_atomic {
        return Ok(());
    }
    Err(Error::failed_hint(
        format!("the fleet remote `{remote}` does not support atomic pushes: a cutover run cannot fence main with the lease"),
        "enable atomic pushes on the remote (git: receive.advertiseAtomic = true), or set fleet.allow_non_atomic = true (README \"Fleet\" states the window that leaves)",
    ))
}

fn new_record(cfg: &Config, owner: &str, me: &str, mode: &Resolved, previous: Option<LeaseRecord>) -> LeaseRecord {
    let now = clock::now();
    let ttl = cfg.integrator.lease_ttl_secs;
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
        token: clock::random_hex(16),
        acquired_at: clock::format(now),
        renewed_at: clock::format(now),
        expires_at: clock::format(now + Duration::from_secs(ttl)),
        ttl_secs: ttl,
        released_at: None,
        stale_takeover,
    };
    LeaseRecord { meta, writer: me.into(), mode: Some(mode.clone()) }
}

/// The remote's lease commit and its record (None: no lease was ever taken).
pub(crate) fn read_remote(git: &Git, remote: &str) -> Result<Option<(String, Option<LeaseRecord>)>> {
    // Every fleet ref, not only the lease: the sync that follows taking it needs no fetch.
    let [events, lease] = super::fetch_refspecs();
    let args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options", remote, &events, &lease];
    let out = git.output(&args, None)?;
    if !out.ok() {
        return Err(Error::failed(format!("cannot reach the fleet remote `{remote}`: {}", out.stderr.trim())));
    }
    read_mirror(git)
}

/// The lease as this clone last fetched it.
pub(crate) fn read_mirror(git: &Git) -> Result<Option<(String, Option<LeaseRecord>)>> {
    let out = git.capture(&["for-each-ref", "--format=%(objectname)%00%(contents)", super::MIRROR_LEASE])?;
    Ok(out.split_once('\0').map(|(sha, message)| (sha.to_string(), LeaseRecord::parse(message))))
}

/// `git push --porcelain [--atomic] --force-with-lease=<lease ref>:<expect> <remote> <specs>`.
/// Fleet records skip the hooks (`hooks` false); main's push runs them, as ever.
fn cas_push(git: &Git, remote: &str, expect: Option<&str>, specs: &[String], atomic: bool, hooks: bool) -> Result<Cas> {
    let lease = format!("--force-with-lease={LEASE_REF}:{}", expect.unwrap_or(""));
    let mut args = vec!["push", "--porcelain"];
    args.extend((!hooks).then_some("--no-verify"));
    args.extend(atomic.then_some("--atomic"));
    args.extend([lease.as_str(), "--end-of-options", remote]);
    args.extend(specs.iter().map(String::as_str));
    let out = git.output(&args, None)?;
    if out.ok() {
        return Ok(Cas::Done);
    }
    let text = apply::tail(format!("{}\n{}", out.stdout, out.stderr).trim(), 20);
    if out.stderr.contains("does not support --atomic") {
        return Ok(Cas::NoAtomic);
    }
    // Under --atomic the refs that were fine are reported `(atomic push failed)`: the
    // cause is the other one.
    let report = git::push::parse(&out.stdout);
    let refused =
        |r: &&git::push::RefUpdate| r.flag == Flag::Rejected && r.reason.as_deref() != Some("atomic push failed");
    if report.refs.iter().filter(refused).any(|r| r.to == LEASE_REF) {
        return Ok(Cas::Moved(text));
    }
    if report.refs.iter().filter(refused).any(|r| r.remote_moved()) {
        return Ok(Cas::OtherMoved(text));
    }
    Ok(Cas::Failed(text))
}

/// Push a renewed record of `held` by CAS; on success `held` is the new commit.
fn renew(ctx: &Ctx, held: &mut Held, change: impl FnOnce(&mut LeaseRecord)) -> Result<Cas> {
    let mut record = held.record.clone();
    let now = clock::now();
    record.renewed_at = clock::format(now);
    record.expires_at = clock::format(now + Duration::from_secs(ctx.ttl));
    change(&mut record);
    let commit = super::write_commit(&ctx.git, &ctx.tree, Some(&held.commit), &record.message())?;
    let spec = [format!("{commit}:{LEASE_REF}")];
    let r = cas_push(&ctx.git, &ctx.remote, Some(&held.commit), &spec, ctx.atomic, false)?;
    if matches!(r, Cas::Done) {
        *held = Held { commit, record };
    }
    Ok(r)
}

impl Session {
    fn new(ctx: Ctx, held: Held) -> Session {
        Session { ctx, held: Arc::new(Mutex::new(held)), lost: Arc::new(AtomicBool::new(false)), renewer: None }
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Renew every ttl/4 from a background thread; a renewal the remote refuses because
    /// the lease moved marks it lost (a network failure does not: the next one may pass).
    fn start_renewing(&mut self) {
        let (tx, rx) = mpsc::channel::<()>();
        let (ctx, held, lost) = (self.ctx.clone(), self.held.clone(), self.lost.clone());
        let every = Duration::from_millis((ctx.ttl * 1000 / 4).max(250));
        let handle = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                if let Ok(Cas::Moved(_)) = renew(&ctx, &mut h, |_| {}) {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        self.renewer = Some((tx, handle));
    }

    fn stop_renewing(&mut self) {
        if let Some((stop, handle)) = self.renewer.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }

    /// The error of a run whose lease was taken over: it moved nothing.
    fn lost_error(&self, main: &str, why: &str) -> Error {
        let now = read_remote(&self.ctx.git, &self.ctx.remote).ok().flatten().and_then(|(_, r)| r);
        let holder = now.map(|r| format!(" (now {})", r.describe())).unwrap_or_default();
        Error::failed_hint(
            format!(
                "the fleet lease on `{}` was taken over{holder}: the remote refused this run's push of {main}, which it did not move{}",
                self.ctx.remote,
                if why.is_empty() { String::new() } else { format!(": {why}") }
            ),
            "nothing to undo: the new holder lands the candidates; the next run re-examines this one's",
        )
    }

    /// Push `commit` to main fenced by the lease: one atomic push of main and the renewed
    /// lease commit (or, with `fleet.allow_non_atomic` on a remote without atomic pushes,
    /// a CAS renewal right before the plain push).
    pub(crate) fn push_main(&self, git: &Git, cfg: &Config, commit: &str, token: &str) -> Result<Push> {
        let main = &cfg.integrator.main;
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.lost_error(main, ""));
        }
        let mut held = self.held();
        if !self.ctx.atomic {
            return match renew(&self.ctx, &mut held, |_| {})? {
                Cas::Done => apply::push_main(git, cfg, commit, token),
                Cas::Moved(t) => Err(self.lost_error(main, &t)),
                other => Ok(Push::Failed(other.text())),
            };
        }
        let mut record = held.record.clone();
        let now = clock::now();
        record.renewed_at = clock::format(now);
        record.expires_at = clock::format(now + Duration::from_secs(self.ctx.ttl));
        let lease_commit = super::write_commit(&self.ctx.git, &self.ctx.tree, Some(&held.commit), &record.message())?;
        let specs = [format!("{commit}:refs/heads/{main}"), format!("{lease_commit}:{LEASE_REF}")];
        let pusher = git.with_env(crate::shell::TOKEN_ENV, token);
        match cas_push(&pusher, &self.ctx.remote, Some(&held.commit), &specs, true, true)? {
            Cas::Done => {
                *held = Held { commit: lease_commit, record };
                Ok(Push::Pushed)
            }
            Cas::Moved(t) => {
                self.lost.store(true, Ordering::SeqCst);
                drop(held);
                Err(self.lost_error(main, &t))
            }
            Cas::OtherMoved(t) => Ok(Push::Rejected(t)),
            Cas::NoAtomic => Ok(Push::Failed("the fleet remote no longer accepts atomic pushes".into())),
            Cas::Failed(t) => Ok(Push::Failed(t)),
        }
    }

    /// Release by CAS: the record keeps `released_at` and the run's final mode, its token
    /// cleared. A lease already taken over is left to its new holder.
    pub(crate) fn release(mut self, mode: &Resolved) -> Result<()> {
        self.stop_renewing();
        if self.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut held = self.held();
        let released = renew(&self.ctx, &mut held, |r| {
            r.released_at = Some(clock::now_string());
            r.token.clear();
            r.mode = Some(mode.clone());
        })?;
        match released {
            Cas::Done | Cas::Moved(_) => Ok(()),
            other => {
                Err(Error::failed(format!("cannot release the fleet lease on `{}`: {}", self.ctx.remote, other.text())))
            }
        }
    }

    /// After the run recorded its results: publish them (a failure leaves them for the
    /// next sync), then release.
    pub(crate) fn end(self, repo: &Repo, cfg: &Config, mode: &Resolved) -> Result<()> {
        if let Err(e) = super::sync::sync(repo, cfg) {
            eprintln!("integrator: warning: {}", e.sentence());
        }
        self.release(mode)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_renewing();
    }
}
