//! Reading the state (SPEC §9): `status`, `queue`, `notifications`, `followups`, `log`.

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::events::{self, lifecycle, Envelope};
use crate::lease::{self, LeaseStatus};
use crate::mode;
use crate::notification::{Notification, NotificationState};
use crate::projection::Projection;
use crate::queue::{Item, Queue, Status};
use crate::readiness::{self, CandidateView, State};
use crate::repo::Repo;
use crate::run::Checkpoint;
use crate::store::{self, LogHealth};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub(crate) struct ModeView {
    pub requested: Mode,
    pub effective: Option<Mode>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct QueueView {
    pub counts: BTreeMap<&'static str, u64>,
    pub items: Vec<ItemView>,
}

/// A queue item as shown by `status` (without its transitions) and `queue` (with them).
#[derive(Debug, Serialize)]
pub(crate) struct ItemView {
    #[serde(flatten)]
    pub item: Item,
    pub age_secs: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Unseen {
    pub unseen: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub mode: ModeView,
    pub lease: LeaseStatus,
    pub candidates: Vec<CandidateView>,
    pub queue: QueueView,
    pub last_run: Option<Checkpoint>,
    /// Why `checkpoint.json` could not be read (the next run rewrites it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_damaged: Option<String>,
    /// `<remote>/<main>` no longer holds the tip the last run left it at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_moved_backwards: Option<String>,
    pub notifications: Unseen,
    pub log: LogHealth,
    /// An unacknowledged guardrail breach (`integration.guardrail.breached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach: Option<serde_json::Value>,
    /// The event bus, when `[bridge] redis_url` is set (README "Event bus").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<crate::bridge::BridgeView>,
}

/// Load the projection (snapshot + tail) and keep the snapshot fresh for the next reader.
///
/// Only a tail folded onto a snapshot is saved. A reader that had to replay the whole log
/// (no snapshot yet, or a damaged or outdated one) leaves writing the snapshot and the
/// archive of resolved history to the next `integrator run`: on a long log that write
/// costs more than the replay, and a reader should not pay it.
pub(crate) fn projection(repo: &Repo) -> Result<Projection> {
    let (mut p, before) = Projection::load_tracked(&repo.state)?;
    if repo.state.root().is_dir() && before != 0 && before != p.offset {
        // A cache write: losing it only costs the next reader a longer replay.
        let _ = p.save(&repo.state);
    }
    Ok(p)
}

pub(crate) fn mode_view(cfg: &Config, proj: &Projection) -> ModeView {
    match mode::resolve(cfg, None, proj.parity_accepted) {
        Ok(r) => ModeView { requested: r.requested, effective: Some(r.effective), reason: r.reason },
        Err(e) => ModeView { requested: cfg.integrator.mode, effective: None, reason: e.sentence() },
    }
}

pub(crate) fn item_views(q: &Queue, all: bool, transitions: bool) -> Vec<ItemView> {
    let now = crate::clock::now();
    q.items
        .iter()
        .filter(|i| all || !i.status.is_terminal())
        .map(|i| {
            let mut item = i.clone();
            if !transitions {
                item.transitions.clear();
            }
            let age_secs = crate::clock::parse(&i.status_at).map(|t| (now - t).whole_seconds()).unwrap_or(0);
            ItemView { item, age_secs }
        })
        .collect()
}

pub(crate) fn status(repo: &Repo, fetch: bool, all: bool) -> Result<StatusReport> {
    let cfg = repo.config()?;
    if fetch {
        repo.git.capture(&["fetch", "--prune", "--quiet", "--end-of-options", &cfg.integrator.remote])?;
        // The fleet's view: every computer's events.
        if cfg.fleet.enabled {
            crate::fleet::sync::sync(repo, &cfg)?;
        }
    }
    let mut proj = projection(repo)?;
    let q = Queue::load(&repo.state)?;
    if all {
        proj.with_archive()?;
    } else {
        // The candidates of open queue items, also of a slug archived before a run settled them.
        proj.take_back_slugs(&repo.state, q.open_slugs())?;
    }
    // The checkpoint only describes the last run: a damaged one is reported, not fatal.
    let (last_run, last_run_damaged) = match store::read_json::<Checkpoint>(&repo.state.checkpoint()) {
        Ok(cp) => (cp, None),
        Err(Error::Failed { message, hint }) => (None, Some(format!("{message}; {}", hint.unwrap_or_default()))),
        Err(e) => return Err(e),
    };
    // One gathering answers readiness, the rewind check and the breach alarm (main's tip,
    // and whether the tip it last checked is still on main).
    let seen = last_run.as_ref().and_then(|cp| cp.main_sha.as_deref());
    let cutover = recorded_cutover(repo, &cfg);
    let checked = cutover.then(|| crate::breach::last_checked(&repo.state)).flatten();
    let also: Vec<&str> = seen.into_iter().chain(checked.as_deref()).collect();
    let facts = readiness::facts_now(&repo.git, &cfg, &proj, &repo.state, &also)?;
    let mut candidates: Vec<CandidateView> =
        readiness::evaluate(&proj, &cfg, &facts).into_iter().filter(|c| all || c.state != State::Integrated).collect();
    mark_blocked(&mut candidates, &q);
    let main_moved_backwards = facts.rewound(&cfg, seen);
    let report = StatusReport {
        mode: mode_view(&cfg, &proj),
        lease: lease::inspect(&repo.state)?,
        candidates,
        queue: QueueView { counts: q.counts(), items: item_views(&q, false, false) },
        last_run,
        last_run_damaged,
        main_moved_backwards,
        // The rows `integrator notifications` lists: one meaning of "unseen".
        notifications: Unseen { unseen: notifications(&proj, false).notifications.len() as u64 },
        log: proj.health,
        breach: crate::breach::check_at(
            &repo.git,
            &repo.state,
            &cfg,
            cutover,
            facts.main_tip.as_deref(),
            Some(&facts.on_main),
        )?,
        bridge: crate::bridge::view(&repo.state, &cfg)?,
    };
    // `status` is a one-shot process: freeing a projection of a million events node by
    // node cost a sixth of a cold replay, and the kernel reclaims it at exit anyway.
    std::mem::forget(proj);
    Ok(report)
}

fn recorded_cutover(repo: &Repo, cfg: &crate::config::Config) -> bool {
    crate::mode::recorded_effective_mode(&repo.state, cfg) == Mode::Cutover
}

/// A READY candidate whose queue item is blocked is BLOCKED, with the queue's reason.
fn mark_blocked(candidates: &mut [CandidateView], q: &Queue) {
    for c in candidates.iter_mut().filter(|c| c.state == State::Ready) {
        let blocked = q.items.iter().find(|i| i.status == Status::Blocked && i.slug == c.slug && i.sha == c.sha);
        if let Some(i) = blocked {
            c.state = State::Blocked;
            c.reasons = vec![i.status_reason.clone()];
        }
    }
}

/// The last decision on an item, for the text views: ` — shadow would_block: <reasons>`.
fn verdict(i: &Item) -> String {
    match &i.last_outcome {
        Some(o) if o.reasons.is_empty() => format!(" — {} {}", o.mode, o.outcome),
        Some(o) => format!(" — {} {}: {}", o.mode, o.outcome, o.reasons.join("; ")),
        None => String::new(),
    }
}

pub(crate) fn render_status(s: &StatusReport) -> String {
    let mut out = String::new();
    if let Some(b) = &s.breach {
        out.push_str(&format!("{}\n", crate::breach::describe(b)));
    }
    let eff = s.mode.effective.map(Mode::as_str).unwrap_or("error");
    out.push_str(&format!("mode: {eff} ({})\n", mode_line(&s.mode)));
    out.push_str(&format!("lease: {}\n", render_lease(&s.lease)));
    let counts: Vec<String> = s.queue.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&format!("queue: {}\n", counts.join(", ")));
    for v in &s.queue.items {
        out.push_str(&format!("  {} ({}s){}\n", v.item.render(), v.age_secs, verdict(&v.item)));
    }
    out.push_str("candidates:\n");
    if s.candidates.is_empty() {
        out.push_str("  (none)\n");
    }
    for c in &s.candidates {
        let state = c.state.as_str();
        out.push_str(&format!("  {state:<10} {} {}@{}\n", c.slug, c.branch, crate::git::short(&c.sha)));
        for r in &c.reasons {
            out.push_str(&format!("             - {r}\n"));
        }
    }
    match &s.last_run {
        None if s.last_run_damaged.is_some() => {
            let why = s.last_run_damaged.as_deref().unwrap_or_default();
            out.push_str(&format!("last run: unknown — {}\n", why.replace('\n', " ")));
        }
        Some(cp) => out.push_str(&format!(
            "last run: {} {} (mode {}) phase {}{}\n",
            cp.run_id,
            cp.finished_at.as_deref().unwrap_or(&cp.started_at),
            cp.mode.effective.as_str(),
            cp.phase,
            cp.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
        )),
        None => out.push_str("last run: none\n"),
    }
    if let Some(w) = &s.main_moved_backwards {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!("notifications: {} unseen\n", s.notifications.unseen));
    out.push_str(&format!("log: {} lines, {} skipped, {} torn\n", s.log.lines, s.log.skipped, s.log.torn));
    if let Some(b) = &s.bridge {
        out.push_str(&crate::bridge::render(b));
    }
    out
}

/// Why the effective mode is what it is, naming the requested mode only when it differs.
fn mode_line(m: &ModeView) -> String {
    match m.effective {
        Some(e) if e == m.requested && matches!(m.reason.as_str(), "mode off" | "shadow requested") => {
            "as requested".into()
        }
        Some(e) if e == m.requested => m.reason.clone(),
        _ => format!("requested {}; {}", m.requested.as_str(), m.reason),
    }
}

pub(crate) fn render_lease(l: &LeaseStatus) -> String {
    match (&l.holder, l.held) {
        (Some(h), true) if l.hung => format!(
            "HUNG: held by {} pid {} on {} since {}, expired {} (integrator lease break --force)",
            h.owner, h.pid, h.host, h.acquired_at, h.expires_at
        ),
        (Some(h), true) => {
            format!("held by {} pid {} on {} since {}, expires {}", h.owner, h.pid, h.host, h.acquired_at, h.expires_at)
        }
        (_, true) => "held (no metadata)".into(),
        (Some(h), false) if l.stale => {
            format!("free (stale metadata from {} pid {}, taken over on the next run)", h.owner, h.pid)
        }
        (Some(h), false) => format!("free (last released {})", h.released_at.as_deref().unwrap_or("?")),
        (None, false) => "free".into(),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct QueueReport {
    pub items: Vec<ItemView>,
}

pub(crate) fn render_queue(items: &[ItemView]) -> String {
    if items.is_empty() {
        return "queue is empty\n".into();
    }
    let mut out = String::new();
    for v in items {
        let i = &v.item;
        out.push_str(&format!("{} (ready {}, attempts {}){}\n", i.render(), i.ready_at, i.attempts, verdict(i)));
        for t in &i.transitions {
            out.push_str(&format!(
                "    {} {} → {}: {}\n",
                t.at,
                t.from.map(|s| s.as_str()).unwrap_or("-"),
                t.to.as_str(),
                t.reason
            ));
        }
    }
    out
}

#[derive(Debug, Serialize)]
pub(crate) struct NotificationsReport {
    pub notifications: Vec<Notification>,
}

pub(crate) fn notifications(proj: &Projection, all: bool) -> NotificationsReport {
    let notifications = proj
        .notifications
        .values()
        .filter(|n| all || !(n.seen || n.state == NotificationState::Resolved))
        .cloned()
        .collect();
    NotificationsReport { notifications }
}

/// `integrator notifications seen <slug>`.
pub(crate) fn mark_seen(repo: &Repo, proj: &mut Projection, slug: &str) -> Result<()> {
    events::check_slug(slug).map_err(Error::usage)?;
    proj.take_back_slug(&repo.state, slug)?;
    let Some(n) = proj.notifications.get(slug) else {
        return Err(Error::usage(format!("no notification for slug `{slug}`")));
    };
    let key = format!("{}:{slug}:{}", lifecycle::NOTIFICATION_SEEN, n.updated_at);
    let mut p = serde_json::Map::new();
    p.insert("slug".into(), slug.into());
    p.insert("state".into(), n.state.as_str().into());
    events::record(&repo.state, vec![events::NewEvent::lifecycle(lifecycle::NOTIFICATION_SEEN, key, p)])?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub(crate) struct Followup {
    pub stem: String,
    pub path: String,
    pub modified: Option<String>,
    /// `open` while the candidate it was written for is still blocked, else `resolved`
    /// (re-queued, superseded, landed or dropped).
    pub status: &'static str,
}

/// The follow-up notes, oldest name first; only the open ones unless `all`.
pub(crate) fn followups(repo: &Repo, all: bool) -> Result<Vec<Followup>> {
    let q = Queue::load(&repo.state)?;
    let is_open = |stem: &str| {
        stem.rsplit_once("-integration-blocked-").is_some_and(|(slug, sha7)| {
            q.items.iter().any(|i| i.status == Status::Blocked && i.slug == slug && i.sha.starts_with(sha7))
        })
    };
    let mut notes = followup_files(repo)?;
    for n in &mut notes {
        n.status = if is_open(&n.stem) { "open" } else { "resolved" };
    }
    notes.retain(|n| all || n.status == "open");
    Ok(notes)
}

fn followup_files(repo: &Repo) -> Result<Vec<Followup>> {
    let dir = repo.state.followups();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("md") {
            continue;
        }
        let modified = e.metadata().ok().and_then(|m| m.modified().ok()).map(|t| crate::clock::format(t.into()));
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(Followup { stem, path: path.to_string_lossy().into_owned(), modified, status: "open" });
    }
    out.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(out)
}

/// The events of the log, filtered by slug and type (full name, short form or prefix).
pub(crate) fn log(repo: &Repo, slug: Option<&str>, kind: Option<&str>, from: u64) -> Result<(Vec<Envelope>, u64)> {
    let want = kind.map(|k| events::canonical_type(k).unwrap_or(k).to_string());
    let mut out = Vec::new();
    let mut health = LogHealth::default();
    let end = store::scan_lines(&repo.state.events(), from, &mut health, |_, line| {
        let Ok(e) = serde_json::from_slice::<Envelope>(line) else { return false };
        let slug_ok = slug.is_none_or(|s| e.payload.get("slug").and_then(|v| v.as_str()) == Some(s));
        let kind_ok = want.as_deref().is_none_or(|k| e.kind == k || e.kind.starts_with(&format!("{k}.")));
        if slug_ok && kind_ok {
            out.push(e);
        }
        true
    })?;
    Ok((out, end))
}

pub(crate) fn render_event(e: &Envelope) -> String {
    let p = &e.payload;
    let get = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let mut what = Vec::new();
    for k in ["slug", "branch", "sha", "merge_commit", "remote"] {
        let v = get(k);
        if !v.is_empty() {
            let v = if k.ends_with("sha") || k == "merge_commit" { crate::git::short(v) } else { v };
            what.push(format!("{k}={v}"));
        }
    }
    format!("{} {} {}", e.at, e.kind, what.join(" "))
}
