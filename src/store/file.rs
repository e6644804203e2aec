//! Whole-file state: atomic rewrites and JSON documents.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replace `path` atomically: temp file in the same dir, fsync, rename, fsync the dir.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    let ctx = || format!("cannot write {}", path.display());
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(ctx(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Replace a cache file (rebuilt from the log when missing or damaged): temp file and
/// rename, without the fsyncs of [`write_atomic`] — a crash leaves the old file, or at
/// worst a damaged one that readers discard. Syncing a large snapshot was a noticeable
/// share of a cold `status`.
pub(crate) fn write_cache(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let ctx = || format!("cannot write {}", path.display());
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

/// Serialize `value` as pretty JSON and replace `path` atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &pretty_json(path, value)?)
}

/// [`write_json`] for a file that is only a cache: replaced as by [`write_cache`].
pub(crate) fn write_json_cache<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_cache(path, &pretty_json(path, value)?)
}

fn pretty_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::failed(format!("cannot encode {}: {e}", path.display())))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Read a JSON state file. `Ok(None)` when it does not exist; a precise error when it is damaged.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::failed_hint(
                format!("{} is damaged: {e}", path.display()),
                "the next `integrator run` rewrites it; move it aside to keep a copy",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format_args!("cannot read {}", path.display()), e)),
    }
}
