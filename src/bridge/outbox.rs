//! The outbox: at-least-once delivery of our `deployment.completed` / `.failed` to the
//! stream. Each event the log gained since the last look is written durably as a file of
//! `bridge/outbox/` before anything is sent; a file is removed only after its XADD
//! succeeded. A crash or a dead Redis in between leaves the file for the next delivery.

use super::client::Client;
use super::state::{outbox_dir, BridgeState};
use super::wire;
use crate::error::{Error, Result};
use crate::events::Envelope;
use crate::store::{self, LogHealth, StateDir};
use std::path::PathBuf;

/// Put the publishable events recorded since `outbox_offset` into the outbox, then move
/// the offset past them (saved by the caller after this returns). Returns how many.
pub(crate) fn fill(state: &StateDir, bs: &mut BridgeState) -> Result<usize> {
    let mut found = Vec::new();
    let mut health = LogHealth::default();
    let end = store::scan_lines(&state.events(), bs.outbox_offset, &mut health, |offset, line| {
        // Cheap test first: most lines are not deployments.
        if !line.windows(11).any(|w| w == b"deployment.") {
            return true;
        }
        match serde_json::from_slice::<Envelope>(line) {
            Ok(e) => {
                if wire::is_published(&e) {
                    found.push((offset, e));
                }
                true
            }
            Err(_) => false,
        }
    })?;
    if end < bs.outbox_offset {
        // The log was replaced (a fresh start): read it from the beginning next time.
        bs.outbox_offset = 0;
        return Ok(0);
    }
    let dir = outbox_dir(state);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    for (offset, e) in &found {
        // Named by log offset: delivered in the order recorded, and a second fill of the same
        // line rewrites the same file.
        store::write_json(&dir.join(format!("{offset:020}.json")), e)?;
    }
    bs.outbox_offset = end;
    Ok(found.len())
}

/// The files waiting in the outbox, oldest first.
pub(crate) fn pending(state: &StateDir) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(outbox_dir(state)) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    files
}

/// XADD every outbox file, removing each after its XADD. Returns how many were sent.
pub(crate) fn deliver(state: &StateDir, client: &mut Client, instance: &str) -> Result<u64> {
    let mut sent = 0;
    for path in pending(state) {
        let env: Option<Envelope> = match store::read_json(&path) {
            Ok(e) => e,
            Err(e) => {
                // A damaged file is reported and set aside, never retried forever.
                eprintln!("integrator: warning: outbox: {}; moved aside", e.sentence());
                let _ = std::fs::rename(&path, path.with_extension("damaged"));
                continue;
            }
        };
        if let Some(env) = env {
            client.add(&wire::write(&env, instance))?;
            sent += 1;
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(format_args!("cannot remove {}", path.display()), e))?;
    }
    Ok(sent)
}
