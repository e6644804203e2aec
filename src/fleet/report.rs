//! What `integrator doctor` shows of the fleet: this clone's writer and how far behind
//! its publishing is, every other writer with its last event, refused writer refs
//! (rewritten, or holding a batch that cannot be read), the lease holder and whether the
//! remote takes atomic pushes.

use super::state::{FleetDir, Refused};
use crate::config::Config;
use crate::repo::Repo;

/// One fact: (check, ok, message, fix for a failed one).
pub(crate) type Fact = (&'static str, bool, String, Option<String>);

/// The fleet's facts (none with the fleet off).
pub(crate) fn facts(repo: &Repo, cfg: &Config) -> Vec<Fact> {
    if !cfg.fleet.enabled {
        return Vec::new();
    }
    let fd = FleetDir::of(&repo.state);
    let cursor = fd.cursor().unwrap_or_default();
    let me = std::fs::read_to_string(repo.state.file("fleet/writer-id")).unwrap_or_default().trim().to_string();
    let remote = super::remote(cfg);
    let mut out = Vec::new();
    let synced = cursor.synced_at.as_deref().map_or("never".to_string(), |t| format!("{t} ({} ago)", age(t)));
    if me.is_empty() || cursor.synced_at.is_none() {
        let fix = Some("integrator sync".to_string());
        out.push(("fleet-sync", false, format!("this clone never synced with `{remote}`"), fix));
    } else {
        let pending = if super::sync::unpublished(&repo.state) { "; events wait to be published" } else { "" };
        out.push(("fleet-sync", true, format!("writer {me} on `{remote}`, last sync {synced}{pending}"), None));
    }
    for (w, i) in &cursor.writers {
        let last = i.last_event_at.as_deref().map_or("none".to_string(), |t| format!("{t} (lag {})", age(t)));
        out.push((
            "fleet-writer",
            true,
            format!("writer {w}: {} event(s) ingested, last event {last}", i.events),
            None,
        ));
    }
    for (w, r) in &cursor.refused {
        let (name, found) = (format!("{}{w}", super::EVENTS_NS), crate::git::short(&r.found));
        // Nothing of the writer ingested yet: no batch to put its ref back to. Most often
        // this clone is older than the writer; a ref every clone refuses can be deleted (its
        // writer then publishes everything again) — not one other clones ingested from.
        let (expected, fix) = if r.expected.is_empty() {
            let fix = format!(
                "upgrade this clone if that writer runs a newer version; if every clone refuses it, \
                 delete it so that its writer publishes again: git push --force-with-lease={name}:{} {remote} :{name}",
                r.found
            );
            ("nothing of it ingested yet".to_string(), fix)
        } else {
            let fix = format!("git push --force {remote} {}:{name}", r.expected);
            (format!("expected a descendant of {}", crate::git::short(&r.expected)), fix)
        };
        let what = Refused::what(&name, r.reason.as_deref());
        let msg = format!("{what} ({expected}, found {found}); refused, kept aside as {}{w}", super::ASIDE);
        out.push(("fleet-writer", false, msg, Some(fix)));
    }
    out.push(("fleet-lease", true, lease_line(repo, cfg), None));
    out.push(atomic_fact(&fd, cfg, remote));
    out
}

fn lease_line(repo: &Repo, cfg: &Config) -> String {
    let git = super::fleet_git(&repo.git, cfg);
    match super::remote_lease::read_mirror(&git) {
        Ok(Some((_, Some(r)))) if r.is_open() => format!("{} (as of the last sync)", r.describe()),
        Ok(Some((_, Some(r)))) => format!("free (last held by {} on {})", r.owner, r.host),
        Ok(_) => "never taken".to_string(),
        Err(e) => format!("unreadable: {}", e.sentence()),
    }
}

fn atomic_fact(fd: &FleetDir, cfg: &Config, remote: &str) -> Fact {
    match fd.remote_facts() {
        None => ("fleet-atomic", true, "not checked yet (the first fleet run checks it)".into(), None),
        Some(f) if f.atomic => {
            ("fleet-atomic", true, format!("`{remote}` takes atomic pushes (checked {})", f.checked_at), None)
        }
        Some(_) if cfg.fleet.allow_non_atomic => (
            "fleet-atomic",
            true,
            format!("`{remote}` does not take atomic pushes; fleet.allow_non_atomic = true accepts the window"),
            None,
        ),
        Some(_) => (
            "fleet-atomic",
            false,
            format!("`{remote}` does not take atomic pushes: a fleet cutover run refuses"),
            Some("git -C <remote repository> config receive.advertiseAtomic true".into()),
        ),
    }
}

/// How long ago `t` was, in whole seconds (`?` when unparseable).
fn age(t: &str) -> String {
    let nanos = crate::clock::now().unix_timestamp_nanos() - crate::clock::nanos(t);
    if crate::clock::nanos(t) == i128::MIN {
        return "?".into();
    }
    format!("{}s", nanos / 1_000_000_000)
}
