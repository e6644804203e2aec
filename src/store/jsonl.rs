//! Append-only JSONL logs: appends as one write under the log's lock, a torn tail closed
//! before the next record, and readers that skip torn and corrupt lines.

use super::lock::FileLock;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An append-only JSONL file opened for appending; [`LockedLog::with`] holds its lock.
pub(crate) struct LockedLog {
    file: File,
    path: PathBuf,
}

/// Open `path` for appending; call [`LockedLog::with`] to hold its lock.
pub(crate) fn open_log(path: &Path) -> Result<LockedLog> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io(format_args!("cannot open {}", path.display()), e))?;
    Ok(LockedLog { file, path: path.to_path_buf() })
}

/// The log while its lock is held.
pub(crate) struct LogWriter<'a> {
    file: &'a mut File,
    path: &'a Path,
}

impl LockedLog {
    /// Hold the exclusive lock for the duration of `f`.
    pub(crate) fn with<T>(self, f: impl FnOnce(&mut LogWriter<'_>) -> Result<T>) -> Result<T> {
        let mut lock = FileLock::lock_file(self.file, &self.path)?;
        let mut w = LogWriter { file: lock.file(), path: &self.path };
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
    pub(crate) fn file(&self) -> &File {
        self.file
    }

    /// Append `lines` (each without its newline) in one write. A torn last line left by a
    /// crashed writer is closed with a newline first so it never swallows a record.
    /// Returns the offset at which the first line starts.
    pub(crate) fn append(&mut self, lines: &[String]) -> Result<u64> {
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>());
        for l in lines {
            debug_assert!(!l.contains('\n'));
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        self.append_buf(buf)
    }

    /// Append `buf` (whole lines, each ending in a newline) in one write, as [`append`](Self::append).
    pub(crate) fn append_buf(&mut self, mut buf: Vec<u8>) -> Result<u64> {
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
pub(crate) fn append_lines(path: &Path, lines: &[String]) -> Result<()> {
    open_log(path)?.with(|w| w.append(lines)).map(|_| ())
}

/// What a reader found in a JSONL file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LogHealth {
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
pub(crate) fn scan_lines(
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
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(Vec<T>, LogHealth)> {
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
