//! Canonical events built from arguments rather than read as JSON: the `branch.pushed`
//! the `pre-push` hook records for each pushed branch.

use super::{NewEvent, BRANCH_PUSHED};
use crate::clock;
use crate::error::{Error, Result};
use serde_json::Map;

/// A `branch.pushed` event as the `pre-push` hook records it.
pub fn branch_pushed(branch: &str, sha: &str, remote: &str, pusher: &str) -> Result<NewEvent> {
    let mut p = Map::new();
    p.insert("branch".into(), branch.into());
    p.insert("sha".into(), sha.into());
    p.insert("remote".into(), remote.into());
    p.insert("pushed_at".into(), clock::now_string().into());
    p.insert("pusher".into(), pusher.into());
    NewEvent::canonical(BRANCH_PUSHED, &p, "pre-push")
        .map_err(|violations| Error::Invalid { what: format!("{BRANCH_PUSHED} event"), violations })
}
