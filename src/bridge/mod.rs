//! The platform's event bus (README "Event bus"): a bridge between `events.jsonl` and the
//! Redis Stream the platform's daemons write (`[bridge]`, off while `redis_url` is empty).
//!
//! In: the stream is read through a consumer group ([`ingest`]), entries are mapped from
//! the wire format ([`wire`]) and recorded like `integrator emit`, then acknowledged.
//! Out: our `deployment.completed` / `.failed` go through a durable [`outbox`] to XADD.
//! A pass does both under the bridge's lock; `integrator run` makes one at its start (and
//! delivers the outbox at its end), `integrator bridge` makes them for ever. Redis being
//! down never stops a run: the pass fails, is noted in [`state`], and is retried later.

pub(crate) mod client;
mod ingest;
pub(crate) mod outbox;
pub(crate) mod state;
mod view;
mod wire;

use crate::config::Config;
use crate::error::Result;
use crate::repo::Repo;
use crate::store::StateDir;
use client::Client;
use state::{BridgeState, Counts, Failure};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
pub(crate) use view::{gap_line, probe, render, view, BridgeView, Probe};

/// `TELECLAUDE_INTEGRATOR_REDIS_PASSWORD`: the password when the URL has none.
pub(crate) const PASSWORD_ENV: &str = "TELECLAUDE_INTEGRATOR_REDIS_PASSWORD";

/// How to reach the stream: `[bridge]` resolved.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub url: String,
    /// The URL without a password, for messages.
    pub shown: String,
    pub password: Option<String>,
    pub stream: String,
    pub group: String,
    pub consumer: String,
}

impl Settings {
    /// `None` when the bridge is off.
    pub(crate) fn of(cfg: &Config) -> Option<Settings> {
        let b = &cfg.bridge;
        if b.redis_url.is_empty() {
            return None;
        }
        let shown = match b.redis_url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit_once('@').map_or(rest, |(_, host)| host)),
            None => b.redis_url.clone(),
        };
        Some(Settings {
            url: b.redis_url.clone(),
            shown,
            password: std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
            stream: b.stream.clone(),
            group: b.group.clone(),
            consumer: if b.consumer.is_empty() { crate::lease::hostname() } else { b.consumer.clone() },
        })
    }
}

/// What a pass does besides delivering the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Deliver the outbox and read the stream.
    Full,
    /// Deliver the outbox only (the end of a run).
    Deliver,
}

/// One pass under the bridge's lock: fill and deliver the outbox, then (`Full`) drain the
/// stream. The outcome is kept in `bridge/state.json` for `status`. `client` is reused and
/// dropped on failure. Returns the counts and the group's position.
pub(crate) fn pass(
    state: &StateDir,
    s: &Settings,
    client: &mut Option<Client>,
    what: Pass,
) -> Result<(Counts, String)> {
    let _lock = state::lock(state)?;
    let mut bs = BridgeState::load(state)?;
    outbox::fill(state, &mut bs)?;
    bs.save(state)?;
    let result = exchange(state, s, client, &mut bs, what);
    let now = crate::clock::now_string();
    match &result {
        Ok((counts, _)) => {
            bs.counts.add(counts);
            bs.last_ok_at = Some(now);
            bs.last_error = None;
        }
        Err(e) => {
            *client = None;
            bs.last_error = Some(Failure { at: now, message: e.sentence() });
        }
    }
    bs.save(state)?;
    result
}

fn exchange(
    state: &StateDir,
    s: &Settings,
    client: &mut Option<Client>,
    bs: &mut BridgeState,
    what: Pass,
) -> Result<(Counts, String)> {
    let c = match client {
        Some(c) => c,
        None => client.insert(Client::connect(s)?),
    };
    let published = outbox::deliver(state, c, &bs.instance)?;
    let (mut counts, last) = match what {
        Pass::Full => {
            let d = ingest::drain(c, state, bs)?;
            (d.counts, d.last_delivered)
        }
        Pass::Deliver => (Counts::default(), String::new()),
    };
    counts.published = published;
    Ok((counts, last))
}

/// Said once per process: a run prints one line when the bus is down, not one per step.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The bridge's part of `integrator run`: a [`Pass`] that never fails the run. A bus that
/// cannot be reached is said once on stderr (and shown by `status`); the run goes on from
/// the local log, and the outbox keeps what it could not deliver.
pub(crate) fn for_run(repo: &Repo, cfg: &Config, what: Pass) {
    let Some(s) = Settings::of(cfg) else { return };
    if let Err(e) = pass(&repo.state, &s, &mut None, what) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "integrator: warning: event bus unavailable, integrating from the local log (caught up later): {}",
                e.sentence()
            );
        }
    }
}

/// `integrator bridge`: passes for ever, each as soon as an entry arrives (or every
/// `WAIT`), starting the event-triggered run when one recorded something. Redis going
/// away is said once, retried with backoff, and said again when it is back.
pub(crate) fn serve(repo: &Repo, cfg: &Config, s: &Settings, integrator: &std::path::Path) -> Result<()> {
    const WAIT: Duration = Duration::from_secs(2);
    let mut client = None;
    let mut backoff = Duration::from_millis(250);
    let mut down = false;
    loop {
        match pass(&repo.state, s, &mut client, Pass::Full) {
            Ok((counts, last)) => {
                if down {
                    eprintln!("integrator: bridge: Redis at {} is reachable again", s.shown);
                    down = false;
                }
                backoff = Duration::from_millis(250);
                if counts.recorded > 0 {
                    if let Err(e) = crate::handoff::maybe_trigger(repo, cfg, integrator) {
                        eprintln!("integrator: warning: could not start the event-triggered run: {}", e.sentence());
                    }
                }
                if let Some(c) = client.as_mut() {
                    if let Err(e) = c.wait_after(&last, WAIT) {
                        eprintln!("integrator: warning: bridge: {}", e.sentence());
                        client = None;
                    }
                }
            }
            Err(e) => {
                if !down {
                    eprintln!("integrator: warning: bridge: {} (retrying)", e.sentence());
                    down = true;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
