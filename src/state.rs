//! The state directory (`<common-dir>/teleclaude/`, SPEC §3): paths, atomic file rewrites,
//! JSONL appends under a lock, and readers that survive torn and corrupt lines.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where every state file of one repository lives.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state dir of a git common dir (`<common-dir>/teleclaude`).
    pub fn for_common_dir(common_dir: &Path) -> Self {
        StateDir { root: common_dir.join("teleclaude") }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn ensure(&self) -> Result<()> {
        fs::create_dir_all(self.root.join("followups"))
            .map_err(|e| Error::io(format_args!("cannot create {}", self.root.display()), e))
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    pub fn events(&self) -> PathBuf {
        self.file("events.jsonl")
    }
    /// The idempotency-key index of `events.jsonl` (a cache, rebuilt when stale).
    pub fn event_keys(&self) -> PathBuf {
        self.file("events.keys")
    }
    pub fn queue(&self) -> PathBuf {
        self.file("queue.json")
    }
    pub fn lease_lock(&self) -> PathBuf {
        self.file("lease.lock")
    }
    pub fn lease_json(&self) -> PathBuf {
        self.file("lease.json")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.file("checkpoint.json")
    }
    pub fn outcomes(&self) -> PathBuf {
        self.file("outcomes.jsonl")
    }
    pub fn guardrails(&self) -> PathBuf {
        self.file("guardrails.jsonl")
    }
    pub fn config(&self) -> PathBuf {
        self.file("config.toml")
    }
    pub fn followups(&self) -> PathBuf {
        self.file("followups")
    }
    pub fn projection(&self) -> PathBuf {
        self.file("projection.json")
    }
    /// Resolved history moved out of the snapshot (see [`crate::archive`]).
    pub fn projection_archive(&self) -> PathBuf {
        self.file("projection.archive.jsonl")
    }
    /// The key index of the projection archive (a cache, rebuilt when stale).
    pub fn projection_archive_keys(&self) -> PathBuf {
        self.file("projection.archive.keys")
    }
    pub fn projection_lock(&self) -> PathBuf {
        self.file("projection.lock")
    }
    /// Queue items of resolved slugs, moved out of `queue.json` by `integrator run`.
    pub fn queue_archive(&self) -> PathBuf {
        self.file("queue.archive.jsonl")
    }
    pub fn state_lock(&self) -> PathBuf {
        self.file("state.lock")
    }
    pub fn worktree(&self) -> PathBuf {
        self.file("worktree")
    }
    pub fn run_log(&self) -> PathBuf {
        self.file("run.log")
    }
    /// A state dir under a new temp dir (removed when the first value drops), for tests.
    #[cfg(test)]
    pub fn temp() -> (tempfile::TempDir, StateDir) {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = StateDir::for_common_dir(tmp.path());
        dir.ensure().expect("a state dir");
        (tmp, dir)
    }
    pub fn waiter_lock(&self) -> PathBuf {
        self.file("waiter.lock")
    }
}

/// Replace `path` atomically: temp file in the same dir, fsync, rename, fsync the dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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
pub fn write_cache(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let ctx = || format!("cannot write {}", path.display());
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

/// Serialize `value` as pretty JSON and replace `path` atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::failed(format!("cannot encode {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Read a JSON state file. `Ok(None)` when it does not exist; a precise error when it is damaged.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
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

/// Open (creating) a lock file without truncating it.
pub fn open_lock_file(path: &Path) -> Result<File> {
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

/// Run `f` holding the exclusive state lock (queue and projection writers).
pub fn with_state_lock<T>(dir: &StateDir, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let file = open_lock_file(&dir.state_lock())?;
    let mut lock = fd_lock::RwLock::new(file);
    let _guard = lock.write().map_err(|e| Error::io("cannot lock the state", e))?;
    f()
}

/// An append-only JSONL file opened and exclusively locked for writing.
pub struct LockedLog {
    lock: fd_lock::RwLock<File>,
    path: PathBuf,
}

/// Open `path` for appending; call [`LockedLog::with`] to hold its lock.
pub fn open_log(path: &Path) -> Result<LockedLog> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io(format_args!("cannot open {}", path.display()), e))?;
    Ok(LockedLog { lock: fd_lock::RwLock::new(file), path: path.to_path_buf() })
}

/// The log while its lock is held.
pub struct LogWriter<'a> {
    file: &'a mut File,
    path: &'a Path,
}

impl LockedLog {
    /// Hold the exclusive lock for the duration of `f`.
    pub fn with<T>(&mut self, f: impl FnOnce(&mut LogWriter<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let mut guard = self.lock.write().map_err(|e| Error::io(format_args!("cannot lock {}", path.display()), e))?;
        let mut w = LogWriter { file: &mut guard, path: &path };
        f(&mut w)
    }
}

impl LogWriter<'_> {
    fn size(&mut self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(format_args!("cannot stat {}", self.path.display()), e))
    }

    /// The file the lock guards.
    pub fn file(&self) -> &File {
        self.file
    }

    /// Append `lines` (each without its newline) in one write. A torn last line left by a
    /// crashed writer is closed with a newline first so it never swallows a record.
    /// Returns the offset at which the first line starts.
    pub fn append(&mut self, lines: &[String]) -> Result<u64> {
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>());
        for l in lines {
            debug_assert!(!l.contains('\n'));
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        self.append_buf(buf)
    }

    /// Append `buf` (whole lines, each ending in a newline) in one write, as [`append`](Self::append).
    pub fn append_buf(&mut self, mut buf: Vec<u8>) -> Result<u64> {
        let len = self.size()?;
        if buf.is_empty() {
            return Ok(len);
        }
        debug_assert!(buf.ends_with(b"\n"));
        let mut leading = 0;
        if len > 0 {
            let mut last = [0u8; 1];
            self.file
                .seek(SeekFrom::Start(len - 1))
                .and_then(|_| self.file.read_exact(&mut last))
                .map_err(|e| Error::io(format_args!("cannot read {}", self.path.display()), e))?;
            if last[0] != b'\n' {
                buf.insert(0, b'\n');
                leading = 1;
            }
        }
        self.file
            .write_all(&buf)
            .map_err(|e| Error::io(format_args!("cannot append to {}", self.path.display()), e))?;
        self.file.sync_data().map_err(|e| Error::io(format_args!("cannot sync {}", self.path.display()), e))?;
        Ok(len + leading)
    }
}

/// Append lines to a JSONL file under its lock.
pub fn append_lines(path: &Path, lines: &[String]) -> Result<()> {
    open_log(path)?.with(|w| w.append(lines)).map(|_| ())
}

/// What a reader found in a JSONL file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogHealth {
    /// Complete lines read.
    pub lines: u64,
    /// Complete lines that could not be parsed (skipped).
    pub skipped: u64,
    /// 1 when the file ends in an unterminated (torn) line, which is ignored.
    pub torn: u64,
}

/// Visit every complete line of `path` starting at byte `from`. Returns the offset just
/// past the last complete line and whether a torn (unterminated) tail was seen.
/// `visit` returns false for a line it could not parse (counted as skipped).
pub fn scan_lines(
    path: &Path,
    from: u64,
    health: &mut LogHealth,
    mut visit: impl FnMut(u64, &[u8]) -> bool,
) -> Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(format_args!("cannot read {}", path.display()), e)),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if from > len { 0 } else { from };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(from)).map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
    let mut offset = from;
    let mut line = Vec::with_capacity(512);
    health.torn = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            health.torn = 1;
            break;
        }
        let body = &line[..line.len() - 1];
        if !body.iter().all(|b| b.is_ascii_whitespace()) {
            health.lines += 1;
            if !visit(offset, body) {
                health.skipped += 1;
            }
        }
        offset += n as u64;
    }
    Ok(offset)
}

/// Read every parseable record of a JSONL file (skipping torn and corrupt lines).
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(Vec<T>, LogHealth)> {
    let mut out = Vec::new();
    let mut health = LogHealth::default();
    scan_lines(path, 0, &mut health, |_, line| match serde_json::from_slice(line) {
        Ok(v) => {
            out.push(v);
            true
        }
        Err(_) => false,
    })?;
    Ok((out, health))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_closed_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        fs::write(&p, "{\"a\":1}\n{\"b\":").unwrap();
        let (v, h): (Vec<serde_json::Value>, _) = read_jsonl(&p).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(h, LogHealth { lines: 1, skipped: 0, torn: 1 });
        append_lines(&p, &["{\"c\":3}".to_string()]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"a\":1}\n{\"b\":\n{\"c\":3}\n");
        let (v, h): (Vec<serde_json::Value>, _) = read_jsonl(&p).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(h, LogHealth { lines: 3, skipped: 1, torn: 0 });
    }
}
