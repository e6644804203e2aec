//! The queue page (`status --html FILE`, `integrator.status_html`, `integrator serve`):
//! one self-contained HTML document — no network, no script, refreshed by a meta tag —
//! with what merge-queue users look for: the queue in order with each candidate's state
//! and reasons, what is running and for how long, recent landings and blocks with their
//! follow-ups, parity and the lease holder.

use crate::config::Mode;
use crate::error::Result;
use crate::parity::{self, ParityReport};
use crate::queue::{Item, Queue, Status};
use crate::repo::Repo;
use crate::status::{self, StatusReport};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Seconds between the page's own reloads.
const REFRESH_SECS: u32 = 30;
/// How many recent landings and blocks the page lists.
const RECENT: usize = 10;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}code{font-size:13px}.state{font-weight:bold}\
.queued{color:#05a}.in_progress{color:#a50}.blocked{color:#b00}.integrated{color:#070}.superseded{color:#777}";

/// Escape text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything the page shows, read once.
pub(crate) fn render_repo(repo: &Repo) -> Result<String> {
    let s = status::status(repo, false, false)?;
    let proj = status::projection(repo)?;
    let par = parity::compute(repo, &proj)?;
    let all = Queue::load_all(&repo.state)?;
    let followups = status::followups(repo, true)?;
    Ok(render(&s, &par, &all, &followups))
}

fn render(s: &StatusReport, par: &ParityReport, all: &Queue, followups: &[status::Followup]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\"><title>integrator queue</title>\
         <style>{STYLE}</style></head><body>\n<h1>Merge queue</h1>\n<p id=\"generated\">generated {}</p>\n",
        esc(&crate::clock::now_string())
    );
    summary(&mut h, s, par);
    queue_table(&mut h, s);
    recent(&mut h, all, followups);
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, s: &StatusReport, par: &ParityReport) {
    let eff = s.mode.effective.map(Mode::as_str).unwrap_or("error");
    let _ = writeln!(h, "<p id=\"mode\">mode <b>{}</b> — {}</p>", esc(eff), esc(&s.mode.reason));
    let lease = status::render_lease(&s.lease);
    let _ = writeln!(h, "<p id=\"lease\">lease: {}</p>", esc(&lease));
    if let (true, Some(cp)) = (s.lease.held, &s.last_run) {
        let secs = crate::clock::parse(&cp.started_at).map(|t| (crate::clock::now() - t).whole_seconds()).unwrap_or(0);
        let what = cp.candidate.as_deref().unwrap_or("-");
        let _ = writeln!(
            h,
            "<p id=\"running\">running: phase {} on {} for {secs}s</p>",
            esc(&cp.phase.to_string()),
            esc(what)
        );
    }
    let accepted = if par.accepted { ", accepted" } else { "" };
    let _ = writeln!(h, "<p id=\"parity\">parity: {}{accepted}</p>", esc(&parity::summary(par)));
}

fn queue_table(h: &mut String, s: &StatusReport) {
    h.push_str("<h2>Queue</h2>\n<table id=\"queue\"><tr><th>#</th><th>slug</th><th>branch@sha</th><th>state</th><th>reason</th><th>last verdict</th><th>for</th></tr>\n");
    let mut items: Vec<_> = s.queue.items.iter().collect();
    items.sort_by(|a, b| {
        (crate::clock::nanos(&a.item.ready_at), &a.item.slug)
            .cmp(&(crate::clock::nanos(&b.item.ready_at), &b.item.slug))
    });
    for (n, v) in items.iter().enumerate() {
        let i = &v.item;
        let verdict = i.last_outcome.as_ref().map(|o| format!("{} {}", o.mode, o.outcome)).unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr class=\"item\" data-slug=\"{slug}\" data-state=\"{st}\"><td>{}</td><td>{slug}</td><td><code>{}@{}</code></td>\
             <td class=\"state {st}\">{st}</td><td>{}</td><td>{}</td><td>{}s</td></tr>",
            n + 1,
            esc(&i.branch),
            crate::git::short(&i.sha),
            esc(&i.status_reason),
            esc(&verdict),
            v.age_secs,
            slug = esc(&i.slug),
            st = i.status.as_str(),
        );
    }
    if items.is_empty() {
        h.push_str("<tr><td colspan=\"7\">the queue is empty</td></tr>\n");
    }
    h.push_str("</table>\n");
}

fn recent(h: &mut String, all: &Queue, followups: &[status::Followup]) {
    let mut done: Vec<&Item> =
        all.items.iter().filter(|i| matches!(i.status, Status::Integrated | Status::Blocked)).collect();
    done.sort_by_key(|i| std::cmp::Reverse(crate::clock::nanos(&i.status_at)));
    h.push_str("<h2>Recent landings and blocks</h2>\n<table id=\"recent\"><tr><th>when</th><th>slug</th><th>state</th><th>reason</th><th>follow-up</th></tr>\n");
    for i in done.into_iter().take(RECENT) {
        let stem = format!("{}-integration-blocked-{}", i.slug, crate::git::short(&i.sha));
        let link = followups
            .iter()
            .find(|f| f.stem == stem)
            .map(|f| format!("<a href=\"file://{}\">{} ({})</a>", esc(&f.path), esc(&f.stem), f.status))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr class=\"recent\" data-slug=\"{slug}\" data-state=\"{st}\"><td>{}</td><td>{slug}</td><td class=\"state {st}\">{st}</td><td>{}</td><td>{link}</td></tr>",
            esc(&i.status_at),
            esc(&i.status_reason),
            slug = esc(&i.slug),
            st = i.status.as_str(),
        );
    }
    h.push_str("</table>\n");
}

/// After a run: rewrite the page `integrator.status_html` names, if any. A page that
/// cannot be written is a warning, never a failed run.
pub(crate) fn rewrite_configured(repo: &Repo) {
    let Ok(cfg) = repo.config() else { return };
    if cfg.integrator.status_html.is_empty() {
        return;
    }
    let path = configured_path(repo, &cfg.integrator.status_html);
    if let Err(e) = write(repo, &path) {
        eprintln!("integrator: warning: cannot write the queue page {}: {}", path.display(), e.sentence());
    }
}

/// Where `integrator.status_html` points: absolute as given, relative to the state dir
/// (nothing is written into a user's working tree).
pub(crate) fn configured_path(repo: &Repo, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo.state.root().join(p)
    }
}

/// Render the page and replace `path` atomically.
pub(crate) fn write(repo: &Repo, path: &Path) -> Result<()> {
    let page = render_repo(repo)?;
    // A bare file name has an empty parent, where no temp file can be made.
    let path = std::path::absolute(path).map_err(|e| crate::error::Error::io("cannot resolve the page's path", e))?;
    crate::store::write_atomic(&path, page.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
