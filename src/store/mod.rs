//! Storage: the state directory (`<common-dir>/teleclaude/`, SPEC §3) and how its files
//! are written — atomic rewrites ([`file`]), JSONL logs appended under a lock and read past
//! torn and corrupt lines ([`jsonl`]), one lock type ([`lock`]), the key index beside a log
//! ([`keyindex`]) and the projection's archive ([`archive`]).

pub(crate) mod archive;
pub(crate) mod file;
pub(crate) mod jsonl;
pub(crate) mod keyindex;
pub(crate) mod lock;

pub(crate) use file::{read_json, write_atomic, write_cache, write_json, write_json_cache};
pub(crate) use jsonl::{append_lines, open_log, read_jsonl, scan_lines, LogHealth};
pub(crate) use lock::FileLock;

use crate::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Where every state file of one repository lives.
#[derive(Clone, Debug)]
pub(crate) struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state dir of a git common dir (`<common-dir>/teleclaude`).
    pub(crate) fn for_common_dir(common_dir: &Path) -> Self {
        StateDir { root: common_dir.join("teleclaude") }
    }
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
    pub(crate) fn ensure(&self) -> Result<()> {
        fs::create_dir_all(self.root.join("followups"))
            .map_err(|e| Error::io(format_args!("cannot create {}", self.root.display()), e))
    }
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    pub(crate) fn events(&self) -> PathBuf {
        self.file("events.jsonl")
    }
    /// The idempotency-key index of `events.jsonl` (a cache, rebuilt when stale).
    pub(crate) fn event_keys(&self) -> PathBuf {
        self.file("events.keys")
    }
    pub(crate) fn queue(&self) -> PathBuf {
        self.file("queue.json")
    }
    pub(crate) fn lease_lock(&self) -> PathBuf {
        self.file("lease.lock")
    }
    pub(crate) fn lease_json(&self) -> PathBuf {
        self.file("lease.json")
    }
    pub(crate) fn checkpoint(&self) -> PathBuf {
        self.file("checkpoint.json")
    }
    pub(crate) fn outcomes(&self) -> PathBuf {
        self.file("outcomes.jsonl")
    }
    pub(crate) fn guardrails(&self) -> PathBuf {
        self.file("guardrails.jsonl")
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.file("config.toml")
    }
    pub(crate) fn followups(&self) -> PathBuf {
        self.file("followups")
    }
    pub(crate) fn projection(&self) -> PathBuf {
        self.file("projection.json")
    }
    /// Resolved history moved out of the snapshot (see [`crate::store::archive`]).
    pub(crate) fn projection_archive(&self) -> PathBuf {
        self.file("projection.archive.jsonl")
    }
    /// The key index of the projection archive (a cache, rebuilt when stale).
    pub(crate) fn projection_archive_keys(&self) -> PathBuf {
        self.file("projection.archive.keys")
    }
    pub(crate) fn projection_lock(&self) -> PathBuf {
        self.file("projection.lock")
    }
    /// Queue items of resolved slugs, moved out of `queue.json` by `integrator run`.
    pub(crate) fn queue_archive(&self) -> PathBuf {
        self.file("queue.archive.jsonl")
    }
    pub(crate) fn state_lock(&self) -> PathBuf {
        self.file("state.lock")
    }
    pub(crate) fn worktree(&self) -> PathBuf {
        self.file("worktree")
    }
    /// Where the private worktrees of speculative verify live, one per slot
    /// (`worktree1`, `worktree2`, …).
    pub(crate) fn speculative(&self) -> PathBuf {
        self.file("speculative")
    }
    pub(crate) fn run_log(&self) -> PathBuf {
        self.file("run.log")
    }
    /// A state dir under a new temp dir (removed when the first value drops), for tests.
    #[cfg(test)]
    pub(crate) fn temp() -> (tempfile::TempDir, StateDir) {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = StateDir::for_common_dir(tmp.path());
        dir.ensure().expect("a state dir");
        (tmp, dir)
    }
    pub(crate) fn waiter_lock(&self) -> PathBuf {
        self.file("waiter.lock")
    }
}

/// Run `f` holding the exclusive state lock (queue and projection writers).
pub(crate) fn with_state_lock<T>(dir: &StateDir, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let _lock = FileLock::lock(&dir.state_lock())?;
    f()
}
