//! One lock type for every state file that needs one (the state, the projection, the
//! lease, the waiter slot, each JSONL log): an exclusive flock on a file that is never
//! truncated or deleted, so the kernel releases it when the holder dies — a `kill -9`
//! never leaves a lock behind.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;

/// An exclusive flock, held until the value drops (the file closes).
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Wait for the exclusive lock on `path` (created if missing, never truncated).
    pub(crate) fn lock(path: &Path) -> Result<FileLock> {
        FileLock::take(open_lock_file(path)?, path, true).map(|l| l.expect("a blocking lock is always taken"))
    }

    /// Take the exclusive lock on `path` if no other process holds it.
    pub(crate) fn try_lock(path: &Path) -> Result<Option<FileLock>> {
        FileLock::take(open_lock_file(path)?, path, false)
    }

    /// Lock an already-open file (a log opened for appending), waiting for it.
    pub(crate) fn lock_file(file: File, path: &Path) -> Result<FileLock> {
        FileLock::take(file, path, true).map(|l| l.expect("a blocking lock is always taken"))
    }

    /// Is the lock on `path` held by some process right now? A shared probe, released at once.
    pub(crate) fn is_held(path: &Path) -> Result<bool> {
        let lock = fd_lock::RwLock::new(open_lock_file(path)?);
        let held = match lock.try_read() {
            Ok(_probe) => false,
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) => return Err(Error::io(format_args!("cannot probe the lock {}", path.display()), e)),
        };
        Ok(held)
    }

    fn take(file: File, path: &Path, wait: bool) -> Result<Option<FileLock>> {
        let mut lock = fd_lock::RwLock::new(file);
        let taken = match if wait { lock.write() } else { lock.try_write() } {
            // The flock belongs to the open file, not to the guard: forgetting the guard keeps
            // it until the file closes, which is what lets the lock own its file.
            Ok(guard) => {
                std::mem::forget(guard);
                Ok(true)
            }
            Err(e) if !wait && e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        };
        match taken {
            Ok(true) => Ok(Some(FileLock { file: lock.into_inner() })),
            Ok(false) => Ok(None),
            Err(e) => Err(Error::io(format_args!("cannot lock {}", path.display()), e)),
        }
    }

    /// The locked file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

/// Open (creating) a lock file without truncating it.
fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(format_args!("cannot open {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_and_refused_until_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        assert!(!FileLock::is_held(&p).unwrap());
        let held = FileLock::lock(&p).unwrap();
        assert!(FileLock::is_held(&p).unwrap());
        assert!(FileLock::try_lock(&p).unwrap().is_none());
        drop(held);
        assert!(!FileLock::is_held(&p).unwrap());
        assert!(FileLock::try_lock(&p).unwrap().is_some());
    }
}
