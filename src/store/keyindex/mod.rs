//! The idempotency-key index beside the event log (`events.keys`): a memory-mapped
//! open-addressing table of `(hash of key, offset of its line)`, with the log offset it
//! covers. Recording an event asks it "is this key in the log?" in O(1) instead of
//! parsing the whole log, which kept single emits and the `pre-push` hook linear in the
//! log's length.
//!
//! It is a cache, used only under the log's exclusive lock: a missing, damaged or stale
//! index (another file, a truncated or rewritten log) is rebuilt from the log, and a
//! hash hit is confirmed by reading the key from the line it points at, so a collision
//! can never turn a new event into a duplicate.

use crate::error::{Error, Result};
use crate::store::{self, LogHealth};
use serde::Deserialize;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TCKEYS01";
const HEADER: usize = 64;
const SLOT: usize = 16;
const MIN_SLOTS: u64 = 1024;
/// How many bytes before the covered offset identify the log the index was built from.
const CHECK_LEN: u64 = 64;

/// The open index, mapped read-write.
pub(crate) struct KeyIndex {
    map: Map,
    slots: u64,
    path: PathBuf,
}

#[derive(Deserialize)]
struct KeyOnly<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
}

/// The idempotency key of a log line, if it has one.
pub(crate) fn line_key(line: &[u8]) -> Option<Cow<'_, str>> {
    serde_json::from_slice::<KeyOnly>(line).ok().map(|k| k.key)
}

fn hash(key: &str) -> u64 {
    // FNV-1a: stable across builds and platforms (the index outlives the binary).
    fnv(key.as_bytes())
}

/// A set of keys hashed like the index (FNV-1a, cheaper than SipHash for a batch of
/// many thousand keys; the keys are not adversarial to the recorder's own process).
pub(crate) type KeySet<'a> = std::collections::HashSet<&'a str, std::hash::BuildHasherDefault<Fnv>>;

/// FNV-1a as a [`std::hash::Hasher`].
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

impl KeyIndex {
    /// Open the index of `log` (held under its lock), rebuilding it when it does not
    /// describe this log, and fold in the lines appended since it was last written.
    pub(crate) fn open(path: &Path, log: &Path) -> Result<KeyIndex> {
        let meta = std::fs::metadata(log).map_err(|e| Error::io(format_args!("cannot stat {}", log.display()), e))?;
        let check = tail_check(log, meta.len())?;
        let idx = match Self::open_existing(path, &meta, &check) {
            Some(idx) => idx,
            None => Self::create(path, &meta, MIN_SLOTS)?,
        };
        idx.catch_up(log)
    }

    fn open_existing(path: &Path, log: &std::fs::Metadata, check: &dyn Fn(u64) -> Option<u64>) -> Option<KeyIndex> {
        let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut head = [0u8; HEADER];
        file.read_exact_at(&mut head, 0).ok()?;
        let field = |i: usize| u64::from_le_bytes(head[8 + 8 * i..16 + 8 * i].try_into().unwrap_or_default());
        let (dev, ino, covered, slots, sum) = (field(0), field(1), field(2), field(4), field(5));
        let sane = &head[..8] == MAGIC
            && slots.is_power_of_two()
            && len == HEADER as u64 + slots * SLOT as u64
            && dev == log.dev()
            && ino == log.ino()
            && covered <= log.len()
            && check(covered) == Some(sum);
        if !sane {
            return None;
        }
        Some(KeyIndex { map: Map::new(file, len as usize).ok()?, slots, path: path.to_path_buf() })
    }

    /// A new, empty index for `log` covering nothing yet (its lines are folded by `catch_up`).
    fn create(path: &Path, log: &std::fs::Metadata, slots: u64) -> Result<KeyIndex> {
        let ctx = || format!("cannot write {}", path.display());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(ctx(), e))?;
        let len = HEADER as u64 + slots * SLOT as u64;
        file.set_len(len).map_err(|e| Error::io(ctx(), e))?;
        let map = Map::new(file, len as usize).map_err(|e| Error::io(ctx(), e))?;
        let mut idx = KeyIndex { map, slots, path: path.to_path_buf() };
        let b = idx.map.bytes_mut();
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&log.dev().to_le_bytes());
        b[16..24].copy_from_slice(&log.ino().to_le_bytes());
        idx.set_field(4, slots);
        idx.set_covered(0, fnv(&[]));
        Ok(idx)
    }

    fn field(&self, i: usize) -> u64 {
        u64::from_le_bytes(self.map.bytes()[8 + 8 * i..16 + 8 * i].try_into().unwrap_or_default())
    }

    fn set_field(&mut self, i: usize, v: u64) {
        self.map.bytes_mut()[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }

    /// The log offset up to which every line is indexed.
    pub(crate) fn covered(&self) -> u64 {
        self.field(2)
    }

    fn count(&self) -> u64 {
        self.field(3)
    }

    fn set_covered(&mut self, offset: u64, check: u64) {
        self.set_field(2, offset);
        self.set_field(5, check);
    }

    fn slot(&self, i: u64) -> (u64, u64) {
        let at = HEADER + i as usize * SLOT;
        let b = &self.map.bytes()[at..at + SLOT];
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
        )
    }

    fn set_slot(&mut self, i: u64, h: u64, offset: u64) {
        let at = HEADER + i as usize * SLOT;
        let b = &mut self.map.bytes_mut()[at..at + SLOT];
        b[..8].copy_from_slice(&h.to_le_bytes());
        // Stored plus one: zero marks an empty slot.
        b[8..].copy_from_slice(&(offset + 1).to_le_bytes());
    }

    /// Is `key` in the log? Every hash hit is confirmed against the line it points at.
    pub(crate) fn contains(&self, log: &File, key: &str) -> Result<bool> {
        let mut found = false;
        self.visit(log, key, |_| {
            found = true;
            false
        })?;
        Ok(found)
    }

    /// Every line of the log whose key is `key` (in no particular order).
    pub(crate) fn lines(&self, log: &File, key: &str) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.visit(log, key, |line| {
            out.push(line);
            true
        })?;
        Ok(out)
    }

    /// Hand each line whose key is `key` to `f` until it returns false. Every hash hit is
    /// confirmed against the line it points at.
    fn visit(&self, log: &File, key: &str, mut f: impl FnMut(Vec<u8>) -> bool) -> Result<()> {
        let h = hash(key);
        let mut i = h & (self.slots - 1);
        loop {
            match self.slot(i) {
                (_, 0) => return Ok(()),
                (sh, off) if sh == h => {
                    let line = read_line_at(log, off - 1)?;
                    if line_key(&line).is_some_and(|k| k == key) && !f(line) {
                        return Ok(());
                    }
                }
                _ => {}
            }
            i = (i + 1) & (self.slots - 1);
        }
    }

    /// Index `key` as the key of the line at `offset`.
    fn insert(&mut self, key: &str, offset: u64) {
        let h = hash(key);
        let mut i = h & (self.slots - 1);
        while self.slot(i).1 != 0 {
            if self.slot(i) == (h, offset + 1) {
                return;
            }
            i = (i + 1) & (self.slots - 1);
        }
        self.set_slot(i, h, offset);
        let n = self.count() + 1;
        self.set_field(3, n);
    }

    /// Make room for `more` keys, keeping the table at most half full.
    fn reserve(self, log: &std::fs::Metadata, more: u64) -> Result<KeyIndex> {
        let need = (self.count() + more) * 2;
        if need <= self.slots {
            return Ok(self);
        }
        let mut slots = self.slots;
        while slots < need {
            slots *= 2;
        }
        let path = self.path.clone();
        let tmp = path.with_extension("keys.tmp");
        let mut bigger = KeyIndex::create(&tmp, log, slots)?;
        for i in 0..self.slots {
            let (h, off) = self.slot(i);
            if off != 0 {
                let mut j = h & (slots - 1);
                while bigger.slot(j).1 != 0 {
                    j = (j + 1) & (slots - 1);
                }
                bigger.set_slot(j, h, off - 1);
            }
        }
        bigger.set_field(3, self.count());
        bigger.set_covered(self.covered(), self.field(5));
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(format_args!("cannot write {}", path.display()), e))?;
        bigger.path = path;
        Ok(bigger)
    }

    /// Fold the log lines after the covered offset.
    fn catch_up(mut self, log: &Path) -> Result<KeyIndex> {
        let mut found = Vec::new();
        let mut health = LogHealth::default();
        let end = store::scan_lines(log, self.covered(), &mut health, |off, line| match line_key(line) {
            Some(k) => {
                found.push((k.into_owned(), off));
                true
            }
            None => false,
        })?;
        if end == self.covered() {
            return Ok(self);
        }
        let meta = std::fs::metadata(log).map_err(|e| Error::io(format_args!("cannot stat {}", log.display()), e))?;
        self = self.reserve(&meta, found.len() as u64)?;
        for (k, off) in &found {
            self.insert(k, *off);
        }
        let check = tail_check(log, meta.len())?(end).unwrap_or_default();
        self.set_covered(end, check);
        Ok(self)
    }

    /// Index the lines just appended (each key with its line's offset), ending at `end`.
    /// When they did not start where the index ends (a torn line was closed before them),
    /// the covered offset stays put and the next `open` folds the gap.
    pub(crate) fn extend(mut self, log: &Path, keys: &[(&str, u64)], end: u64) -> Result<KeyIndex> {
        let contiguous = keys.first().is_some_and(|(_, start)| *start == self.covered());
        let meta = std::fs::metadata(log).map_err(|e| Error::io(format_args!("cannot stat {}", log.display()), e))?;
        self = self.reserve(&meta, keys.len() as u64)?;
        for (k, off) in keys {
            self.insert(k, *off);
        }
        if contiguous {
            let check = tail_check(log, meta.len())?(end).unwrap_or_default();
            self.set_covered(end, check);
        }
        Ok(self)
    }
}

/// A function giving the checksum of the `CHECK_LEN` bytes before an offset of the log.
fn tail_check(log: &Path, len: u64) -> Result<impl Fn(u64) -> Option<u64>> {
    let file = File::open(log).map_err(|e| Error::io(format_args!("cannot read {}", log.display()), e))?;
    Ok(move |offset: u64| {
        if offset > len {
            return None;
        }
        let start = offset.saturating_sub(CHECK_LEN);
        let mut buf = vec![0u8; (offset - start) as usize];
        file.read_exact_at(&mut buf, start).ok()?;
        Some(fnv(&buf))
    })
}

/// The line starting at `offset` (without its newline).
fn read_line_at(log: &File, offset: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut at = offset;
    loop {
        let n = log.read_at(&mut buf, at).map_err(|e| Error::io("cannot read an indexed line", e))?;
        if n == 0 {
            return Ok(out);
        }
        if let Some(end) = buf[..n].iter().position(|b| *b == b'\n') {
            out.extend_from_slice(&buf[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
}

/// A shared read-write mapping of a whole file.
struct Map {
    map: memmap2::MmapMut,
}

impl Map {
    fn new(file: File, len: usize) -> std::io::Result<Map> {
        // SAFETY: the file is exactly `len` bytes and is only written (or truncated) by a
        // holder of the log's exclusive lock, which is held for the life of this mapping.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file)? };
        Ok(Map { map })
    }

    fn bytes(&self) -> &[u8] {
        &self.map
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

#[cfg(test)]
mod tests;
