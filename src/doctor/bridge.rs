//! The event bus (README "Event bus"): Redis reachable, our consumer group there, how far
//! behind it is, whether the outbox is waiting, and any gap of trimmed, unread entries.

use super::Finding;
use crate::bridge::{self, Probe};
use crate::config::Config;
use crate::repo::Repo;

/// No finding while the bridge is off.
pub(super) fn check(repo: &Repo, cfg: &Config) -> Vec<Finding> {
    let Some(p) = bridge::probe(&repo.state, cfg) else { return Vec::new() };
    let s = &p.settings;
    let once = "integrator bridge --once";
    let mut out = Vec::new();
    match &p.reached {
        Err(why) => out.push(Finding::fail(
            "bridge connection",
            format!("{why}; runs integrate from the local log and the outbox keeps {} event(s)", p.outbox),
            format!("start Redis at {} (or fix [bridge] redis_url / {}), then {once}", s.shown, bridge::PASSWORD_ENV),
        )),
        Ok(()) => {
            out.push(Finding::pass("bridge connection", format!("Redis at {} answers", s.shown)));
            out.push(group(&p, once));
            out.push(if p.outbox == 0 {
                Finding::pass("bridge outbox", "empty")
            } else {
                Finding::fail("bridge outbox", format!("{} event(s) not delivered yet", p.outbox), once)
            });
        }
    }
    for g in &p.gaps {
        // Lost entries cannot be read back: a warning to act on, not a broken install.
        out.push(Finding::pass("bridge gap", format!("warning: {}", bridge::gap_line(g))));
    }
    out
}

fn group(p: &Probe, once: &str) -> Finding {
    let s = &p.settings;
    if !p.group {
        return Finding::fail("bridge group", format!("no group {} on stream {}", s.group, s.stream), once);
    }
    let n = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    Finding::pass(
        "bridge group",
        format!(
            "group {} on {}: lag {}, pending {} (consumer {})",
            s.group,
            s.stream,
            n(p.lag),
            n(p.pending),
            s.consumer
        ),
    )
}
