//! The lease on the remote: after its local flock, a fleet run takes `refs/teleclaude/lease`
//! by compare-and-swap (`--force-with-lease`) with a commit recording holder, host, pid,
//! token, acquired and expiry times and the run's mode; renewal and release are CAS
//! updates of the same ref. In cutover every push of main is one `--atomic` push of main
//! and the renewed lease commit, expecting this holder's own lease commit: a holder that
//! was paused past its expiry and taken over can never move main.

use super::cas::{self, Cas};
use super::state::FleetDir;
use super::wire::LeaseRecord;
use super::LEASE_REF;
use crate::apply::{self, Push};
use crate::clock;
use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::git::push::Flag;
use crate::git::{self, Git};
use crate::mode::Resolved;
use crate::repo::Repo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the renewer and the pushes share.
#[derive(Clone)]
struct Ctx {
    git: Git,
    fd: FleetDir,
    remote: String,
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
///
/// `beside` is the caller's own first work, which needs no remote lease (a run's fetch of
/// its branches, under the clone's own flock): it runs at once, beside the first attempt
/// and the sync, and its result comes back with the session when that first attempt took
/// the lease (None otherwise: the lease changed hands meanwhile, and another holder may
/// have moved main after that fetch; the caller does that work again).
pub(crate) fn begin<T: Send>(
    repo: &Repo,
    cfg: &Config,
    mode: &Resolved,
    owner: &str,
    wait: Option<Duration>,
    beside: impl FnOnce() -> T + Send,
) -> Result<Option<(Session, Option<T>)>> {
    if !cfg.fleet.enabled {
        return Ok(None);
    }
    let deadline = Instant::now() + wait.unwrap_or_default();
    let mut beside = Some(beside);
    let (mut session, synced, beside) = loop {
        match acquire(repo, cfg, mode, owner, &mut beside)? {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(busy) => return Err(Error::LeaseBusy(busy)),
        }
    };
    session.start_renewing();
    if !synced {
        if let Err(e) = super::sync::sync(repo, cfg) {
            if let Err(r) = session.release(mode) {
                eprintln!("integrator: warning: {}", r.sentence());
            }
            return Err(e);
        }
    }
    Ok(Some((session, beside)))
}

/// One attempt at the lease: busy (the line saying by whom), or the push of a new record.
enum Attempt {
    Busy(String),
    Pushed(Cas, Box<Held>),
}

/// The first attempt, beside the sync: the lease taken (and already renewed), or not yet.
enum First {
    Taken(Box<Session>),
    Not(Attempt),
}

/// Take the lease: `Ok(Ok((session, synced, beside's result)))`, `synced` when this clone
/// synced on the way; `Ok(Err(busy line))` while another computer holds it.
///
/// The first attempt runs beside a sync (its fetch, its ingest) and trusts this clone's
/// mirror of the lease: when the record there is free it pushes the new record expecting
/// that very commit. The compare-and-swap makes that safe: the push lands only if the
/// remote still holds the commit whose record was judged free. Otherwise the lease, as
/// fetched, is judged again. `beside` runs beside both; its result is kept only when the
/// first attempt took the lease (the lease as this clone last saw it: nobody held it since).
fn acquire<T: Send>(
    repo: &Repo,
    cfg: &Config,
    mode: &Resolved,
    owner: &str,
    beside: &mut Option<impl FnOnce() -> T + Send>,
) -> Result<std::result::Result<(Session, bool, Option<T>), String>> {
    let fd = FleetDir::of(&repo.state);
    fd.ensure()?;
    let git = super::fleet_git(&repo.git, cfg);
    let me = fd.writer_id()?;
    let ttl = cfg.integrator.lease_ttl_secs;
    let remote = super::remote(cfg).to_string();
    let mut ctx = Ctx { git, fd: fd.clone(), remote, ttl, atomic: true };
    let who = (owner, me.as_str(), mode);
    let (first, synced, beside) = std::thread::scope(|s| {
        let syncing = s.spawn(|| super::sync::sync(repo, cfg));
        let besides = beside.take().map(|work| s.spawn(work));
        let first = first_attempt(&ctx, cfg, who);
        let beside = besides.map(|b| b.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (first, syncing.join().unwrap_or_else(|_| Err(Error::failed("the fleet sync panicked"))), beside)
    });
    let synced_ok = synced.is_ok();
    let mut next = match (first, synced) {
        // Taken, whether the sync went through or not (`begin` syncs again if not).
        (Ok(First::Taken(session)), _) => {
            fd.save_atomic(ctx.atomic)?;
            return Ok(Ok((*session, synced_ok, beside)));
        }
        // Anything else with the sync failed: its failure (the remote out of reach) says why.
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
        (Ok(First::Not(pushed @ Attempt::Pushed(..))), Ok(_)) => pushed,
        // Busy as the mirror had it, which the sync has refreshed since: judge it again.
        (Ok(First::Not(Attempt::Busy(_))), Ok(_)) => attempt(&ctx, cfg, who, read_mirror(&ctx.git)?)?,
    };
    drop(beside);
    for _ in 0..5 {
        match next {
            Attempt::Busy(line) => return Ok(Err(line)),
            Attempt::Pushed(Cas::Done, held) => {
                fd.save_atomic(ctx.atomic)?;
                return Ok(Ok((Session::new(ctx, *held), synced_ok, None)));
            }
            Attempt::Pushed(Cas::NoAtomic, _) => {
                refuse_non_atomic(cfg, mode, &ctx.remote)?;
                ctx.atomic = false;
            }
            Attempt::Pushed(Cas::Moved(_), _) => {}
            Attempt::Pushed(Cas::OtherMoved(t) | Cas::Failed(t), _) => {
                return Err(Error::failed(format!("cannot take the fleet lease on `{}`: {t}", ctx.remote)));
            }
        }
        next = attempt(&ctx, cfg, who, read_remote(&ctx)?)?;
    }
    Err(Error::failed("the fleet lease kept changing while this run tried to take it"))
}

/// The first attempt, on the mirror's word. Taken at once, the lease is renewed from then
/// on, so no work beside the sync (a long fetch) lets it expire before the run renews it.
fn first_attempt(ctx: &Ctx, cfg: &Config, who: (&str, &str, &Resolved)) -> Result<First> {
    Ok(match attempt(ctx, cfg, who, read_mirror(&ctx.git)?)? {
        Attempt::Pushed(Cas::Done, held) => {
            let mut session = Session::new(ctx.clone(), *held);
            session.start_renewing();
            First::Taken(Box::new(session))
        }
        other => First::Not(other),
    })
}

/// Judge `lease` (the lease commit and its record; None: never taken) and, when it is
/// free or expired, push a new record expecting that commit.
fn attempt(
    ctx: &Ctx,
    cfg: &Config,
    (owner, me, mode): (&str, &str, &Resolved),
    lease: Option<(String, Option<LeaseRecord>)>,
) -> Result<Attempt> {
    let (prev, previous) = lease.unzip();
    let previous = previous.flatten();
    // A record of this clone is a dead run's: this process holds the clone's flock.
    let live = previous.as_ref().filter(|r| r.is_open() && !r.expired(cfg.fleet.clock_skew_secs) && r.writer != me);
    if let Some(r) = live {
        return Ok(Attempt::Busy(format!("lease busy: {} (fleet remote `{}`)", r.describe(), ctx.remote)));
    }
    let record = LeaseRecord::taken((owner, me, mode), cfg.integrator.lease_ttl_secs, previous);
    let message = record.message();
    let commit = super::with_roots(&ctx.git, &ctx.fd, |roots| {
        super::write_commit(&ctx.git, &roots.tree, prev.as_deref().unwrap_or(&roots.root), &message)
    })?;
    let spec = [format!("{commit}:{LEASE_REF}")];
    let cas =
        cas::classify(&cas::push(&ctx.git, &ctx.remote, &[(LEASE_REF, prev.as_deref())], &spec, ctx.atomic, false)?);
    Ok(Attempt::Pushed(cas, Box::new(Held { commit, record })))
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

/// The remote's lease commit and its record (None: no lease was ever taken), fetched
/// with every other fleet ref (the sync that follows taking the lease needs no fetch).
/// Under the clone's sync lock, as a sync fetches: a listing older than a sync's fetch
/// could otherwise move a mirror ref back under that sync.
fn read_remote(ctx: &Ctx) -> Result<Option<(String, Option<LeaseRecord>)>> {
    let _one_at_a_time = crate::store::FileLock::lock(&ctx.fd.sync_lock())?;
    super::sync::fetch(&ctx.git, &ctx.fd, &ctx.remote)?;
    read_mirror(&ctx.git)
}

/// The lease as this clone last fetched it.
pub(crate) fn read_mirror(git: &Git) -> Result<Option<(String, Option<LeaseRecord>)>> {
    let out = git.capture(&["for-each-ref", "--format=%(objectname)%00%(contents)", super::MIRROR_LEASE])?;
    Ok(out.split_once('\0').map(|(sha, message)| (sha.to_string(), LeaseRecord::parse(message))))
}

/// `held`'s record renewed for another ttl from now, then `change`d, committed on top of it.
fn renewed(ctx: &Ctx, held: &Held, change: impl FnOnce(&mut LeaseRecord)) -> Result<Held> {
    let mut record = held.record.clone();
    let now = clock::now();
    record.renewed_at = clock::format(now);
    record.expires_at = clock::format(now + Duration::from_secs(ctx.ttl));
    change(&mut record);
    let message = record.message();
    let commit = super::with_roots(&ctx.git, &ctx.fd, |roots| {
        super::write_commit(&ctx.git, &roots.tree, &held.commit, &message)
    })?;
    Ok(Held { commit, record })
}

/// What a release records: when, no token, and the run's final mode.
fn released(mode: &Resolved) -> impl FnOnce(&mut LeaseRecord) + '_ {
    |r| {
        r.released_at = Some(clock::now_string());
        r.token.clear();
        r.mode = Some(mode.clone());
    }
}

/// Push a renewed record of `held` by CAS; on success `held` is the new commit.
fn renew(ctx: &Ctx, held: &mut Held, change: impl FnOnce(&mut LeaseRecord)) -> Result<Cas> {
    let next = renewed(ctx, held, change)?;
    let spec = [format!("{}:{LEASE_REF}", next.commit)];
    let r =
        cas::classify(&cas::push(&ctx.git, &ctx.remote, &[(LEASE_REF, Some(&held.commit))], &spec, ctx.atomic, false)?);
    if matches!(r, Cas::Done) {
        *held = next;
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
    /// Already renewing (taken by the first attempt): nothing more.
    fn start_renewing(&mut self) {
        if self.renewer.is_some() {
            return;
        }
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
        let now = read_remote(&self.ctx).ok().flatten().and_then(|(_, r)| r);
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
        let next = renewed(&self.ctx, &held, |_| {})?;
        let specs = [format!("{commit}:refs/heads/{main}"), format!("{}:{LEASE_REF}", next.commit)];
        let pusher = git.with_env(crate::shell::TOKEN_ENV, token);
        match cas::classify(&cas::push(
            &pusher,
            &self.ctx.remote,
            &[(LEASE_REF, Some(&held.commit))],
            &specs,
            true,
            true,
        )?) {
            Cas::Done => {
                *held = next;
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
        match renew(&self.ctx, &mut held, released(mode))? {
            Cas::Done | Cas::Moved(_) => Ok(()),
            other => {
                Err(Error::failed(format!("cannot release the fleet lease on `{}`: {}", self.ctx.remote, other.text())))
            }
        }
    }

    /// After the run recorded its results: publish them and release the lease in one push
    /// (atomic where the remote takes it), each ref compared-and-swapped. What did not land
    /// goes the long way: a sync (a failure leaves the events for the next one), then a
    /// release of its own.
    pub(crate) fn end(mut self, repo: &Repo, cfg: &Config, mode: &Resolved) -> Result<()> {
        self.stop_renewing();
        let lost = self.lost.load(Ordering::SeqCst);
        let (published, release) = if lost { (false, Cas::Done) } else { self.publish_and_release(&repo.state, mode) };
        if !published {
            if let Err(e) = super::sync::sync(repo, cfg) {
                eprintln!("integrator: warning: {}", e.sentence());
            }
        }
        match release {
            Cas::Done | Cas::Moved(_) => Ok(()),
            _ => self.release(mode),
        }
    }

    /// The one push of [`end`](Self::end): whether the events were published (or there
    /// were none), and how the release fared. A failure before the push is a `Failed`.
    fn publish_and_release(&self, dir: &crate::store::StateDir, mode: &Resolved) -> (bool, Cas) {
        let attempt = || -> Result<(bool, Cas)> {
            let mut publisher = super::sync::Publisher::open(dir)?;
            let batch = publisher.batch(&self.ctx.git, dir)?;
            let mut held = self.held();
            let next = renewed(&self.ctx, &held, released(mode))?;
            let mut specs = vec![format!("{}:{LEASE_REF}", next.commit)];
            let mut leases = vec![(LEASE_REF, Some(held.commit.as_str()))];
            if let Some(b) = &batch {
                specs.push(b.refspec.clone());
                leases.push((b.expect.0.as_str(), b.expect.1.as_deref()));
            }
            let out = cas::push(&self.ctx.git, &self.ctx.remote, &leases, &specs, self.ctx.atomic, false)?;
            let report = git::push::parse(&out.stdout);
            let landed = |r: &str| report.refs.iter().any(|u| u.to == r && u.flag != Flag::Rejected);
            let release = if landed(LEASE_REF) { Cas::Done } else { cas::classify(&out) };
            if matches!(release, Cas::Done) {
                // This clone's mirror knows the remote's lease: the next run's first
                // compare-and-swap can expect it without a fetch. Best effort.
                let _ = self.ctx.git.output(&["update-ref", super::MIRROR_LEASE, &next.commit], None);
                *held = next;
            }
            let published = match batch {
                Some(b) if landed(&b.expect.0) => publisher.landed(b).is_ok(),
                Some(_) => false,
                None => true,
            };
            Ok((published, release))
        };
        attempt().unwrap_or_else(|e| (false, Cas::Failed(e.sentence())))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_renewing();
    }
}
