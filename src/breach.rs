//! The breach alarm: after cutover only the integrator moves `<remote>/<main>`, so every
//! first-parent commit it gains carries our trailers and every move is a fast-forward.
//! `run` (after its fetch), `status` and `doctor` compare the remote-tracking tip with the
//! last tip checked (`breach.json`); a commit without trailers or a non-fast-forward is
//! recorded once as `integration.guardrail.breached` (with the guardrail log's matching
//! entry, when there is one) and shown until acknowledged with
//! `integrator notifications seen guardrail-breach`.

use crate::config::Config;
use crate::error::Result;
use crate::events::{self, lifecycle, NewEvent};
use crate::git::Git;
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

pub(crate) const BREACHED: &str = "integration.guardrail.breached";
/// The notification name that acknowledges an open breach.
pub(crate) const ACK_SLUG: &str = "guardrail-breach";
const STATE_FILE: &str = "breach.json";

/// `breach.json`: the last tip of `<remote>/<main>` checked, and the open breach.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct BreachState {
    #[serde(default)]
    pub checked: Option<String>,
    #[serde(default)]
    pub open: Option<Value>,
}

fn load(dir: &StateDir) -> BreachState {
    store::read_json(&dir.file(STATE_FILE)).ok().flatten().unwrap_or_default()
}

/// Check `<remote>/<main>` (as of the last fetch) when `cutover`; return the open breach.
/// Before cutover nothing is checked (the old path lands commits without trailers) and the
/// first check after it only records the tip it starts from.
pub(crate) fn check(git: &Git, dir: &StateDir, cfg: &Config, cutover: bool) -> Result<Option<Value>> {
    if !cutover || !dir.root().is_dir() {
        return Ok(load(dir).open);
    }
    let (remote, main) = (&cfg.integrator.remote, &cfg.integrator.main);
    let tip_ref = format!("refs/remotes/{remote}/{main}^{{commit}}");
    let tip = git.capture(&["rev-parse", "--verify", "--quiet", "--end-of-options", &tip_ref]).ok();
    check_at(git, dir, cfg, cutover, tip.as_deref().map(str::trim), None)
}

/// The tip the last check saw (`status` asks readiness whether it is still on main).
pub(crate) fn last_checked(dir: &StateDir) -> Option<String> {
    load(dir).checked
}

/// [`check`] with `<remote>/<main>`'s tip already known (`status` has it from its ref
/// listing): no git process while the tip is the one last checked. `on_main`, when given,
/// holds every known sha on the tip — among them [`last_checked`] if it still is.
pub(crate) fn check_at(
    git: &Git,
    dir: &StateDir,
    cfg: &Config,
    cutover: bool,
    tip: Option<&str>,
    on_main: Option<&HashSet<String>>,
) -> Result<Option<Value>> {
    let mut st = load(dir);
    let (true, true, Some(tip)) = (cutover, dir.root().is_dir(), tip) else {
        return Ok(st.open);
    };
    let (remote, main) = (&cfg.integrator.remote, &cfg.integrator.main);
    let tip = tip.to_string();
    let Some(base) = st.checked.clone().filter(|b| *b != tip) else {
        if st.checked.is_none() {
            st.checked = Some(tip);
            store::write_json(&dir.file(STATE_FILE), &st)?;
        }
        return Ok(st.open);
    };
    let fast_forward = match on_main {
        Some(on) => on.contains(&base),
        None => git.output(&["merge-base", "--is-ancestor", &base, &tip], None)?.code == 0,
    };
    let format = "--format=%H%x1f%s%x1f%an%x1f%(trailers:key=Integrated-Slug,valueonly,separator=%x2C)";
    let log = git.capture(&["log", "--first-parent", format, &tip, &format!("^{base}"), "--"])?;
    let foreign = foreign_commits(&log);
    if !fast_forward || !foreign.is_empty() {
        let payload = json!({
            "remote": remote, "main": main, "tip": tip, "base": base,
            "non_fast_forward": !fast_forward, "commits": foreign,
            "guardrail": matching_guardrail(dir, main),
        });
        let Value::Object(map) = payload.clone() else { unreachable!("a JSON object") };
        events::record(dir, vec![NewEvent::lifecycle(BREACHED, format!("{BREACHED}:{tip}"), map)])?;
        st.open = Some(payload);
    }
    st.checked = Some(tip);
    store::write_json(&dir.file(STATE_FILE), &st)?;
    Ok(st.open)
}

/// First-parent commits of `git log` output (`sha US subject US author US trailer`) whose
/// `Integrated-Slug` trailer is missing.
fn foreign_commits(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\u{1f}').collect();
            let [sha, subject, author, trailer] = f.as_slice() else { return None };
            trailer.trim().is_empty().then(|| json!({"sha": sha, "subject": subject, "author": author}))
        })
        .collect()
}

/// The last `guardrails.jsonl` record that concerned `refs/heads/<main>`, if any.
fn matching_guardrail(dir: &StateDir, main: &str) -> Value {
    let want = format!("refs/heads/{main}");
    std::fs::read_to_string(dir.guardrails())
        .unwrap_or_default()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["remote_ref"] == want.as_str())
        .unwrap_or(Value::Null)
}

/// Acknowledge the open breach; false when there was none.
pub(crate) fn acknowledge(dir: &StateDir) -> Result<bool> {
    let mut st = load(dir);
    let Some(open) = st.open.take() else {
        return Ok(false);
    };
    let tip = open["tip"].as_str().unwrap_or_default().to_string();
    let mut p = Map::new();
    p.insert("slug".into(), Value::from(ACK_SLUG));
    p.insert("tip".into(), Value::from(tip.clone()));
    let key = format!("{}:{ACK_SLUG}:{tip}", lifecycle::NOTIFICATION_SEEN);
    events::record(dir, vec![NewEvent::lifecycle(lifecycle::NOTIFICATION_SEEN, key, p)])?;
    store::write_json(&dir.file(STATE_FILE), &st)?;
    Ok(true)
}

/// One line for people: what moved main around the integrator, and how to acknowledge.
pub(crate) fn describe(open: &Value) -> String {
    let shas: Vec<&str> = open["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["sha"].as_str())
        .map(crate::git::short)
        .collect();
    let how = if open["non_fast_forward"] == true { "a non-fast-forward (history rewritten)" } else { "commits" };
    format!(
        "GUARDRAIL BREACH: {}/{} moved to {} around the integrator: {how} without integrator trailers [{}]; \
         the server-side fence (`integrator fence`) stops this; acknowledge with \
         `integrator notifications seen {ACK_SLUG}`",
        open["remote"].as_str().unwrap_or_default(),
        open["main"].as_str().unwrap_or_default(),
        crate::git::short(open["tip"].as_str().unwrap_or_default()),
        shas.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn commits_without_the_trailer_are_foreign() {
        let log = "aaa\u{1f}Integrate x\u{1f}integrator\u{1f}x\nbbb\u{1f}sneaky\u{1f}agent\u{1f}\n";
        let f = super::foreign_commits(log);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["sha"], "bbb");
    }
}
