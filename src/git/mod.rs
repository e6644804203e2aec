//! The one gateway to the git binary. Two verbs: *captured* (stdin null or given,
//! `LC_ALL=C`, stderr kept in the error with the argv) and *pass-through* (inherit stdio).
//! Small pure parsers for git's machine-readable output live beside it.

use crate::error::{Error, Result};
use crate::shell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) mod push;

/// Variables that would point git at another repository than the one we name: these, and
/// those named once in [`shell`] ([`shell::GIT_REPO_ENV`], [`shell::GIT_PREFIX_ENV`]).
const MORE_REPO_ENV: [&str; 3] = ["GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"];

#[derive(Clone, Debug)]
pub(crate) struct Git {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(OsString, OsString)>,
    removed: Vec<OsString>,
}

/// The result of a captured git command that may legitimately fail.
#[derive(Debug)]
pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub(crate) fn ok(&self) -> bool {
        self.code == 0
    }
}

impl Git {
    /// A gateway running the real `git` in `dir`: the first on PATH that is not one of our
    /// shims (the integrator is the trusted writer; its git must not depend on the shims).
    pub(crate) fn new(dir: &Path) -> Result<Git> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let exe = crate::shim_marker::real_program("git", &path)
            .ok_or_else(|| Error::failed_hint("git was not found on PATH", "install git 2.38 or newer"))?;
        Ok(Git::with_exe(&exe, dir))
    }

    /// A gateway running the git binary at `exe` in `dir`.
    pub(crate) fn with_exe(exe: &Path, dir: &Path) -> Git {
        Git { exe: exe.to_path_buf(), dir: dir.to_path_buf(), env: Vec::new(), removed: Vec::new() }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same gateway in another directory.
    pub(crate) fn in_dir(&self, dir: &Path) -> Git {
        Git { dir: dir.to_path_buf(), ..self.clone() }
    }

    /// The same gateway with `key` removed from the environment of every command.
    pub(crate) fn without_env(&self, key: impl AsRef<OsStr>) -> Git {
        let mut g = self.clone();
        g.removed.push(key.as_ref().to_os_string());
        g
    }

    /// The same gateway with one more environment variable for every command.
    pub(crate) fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Git {
        let mut g = self.clone();
        g.env.push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        g
    }

    /// The value this gateway sets for `key`, if it sets one.
    pub(crate) fn env_value(&self, key: &str) -> Option<&OsStr> {
        self.env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_os_str())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args).current_dir(&self.dir).env("LC_ALL", "C").env("GIT_TERMINAL_PROMPT", "0");
        for k in shell::GIT_REPO_ENV.iter().chain([&shell::GIT_PREFIX_ENV]).chain(&MORE_REPO_ENV) {
            c.env_remove(k);
        }
        for k in &self.removed {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run git and return its output whatever the exit code.
    pub(crate) fn output(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
        Ok(lossy(self.raw(args, stdin)?))
    }

    /// Run git feeding `input`; its stdout as bytes (object contents need not be text).
    /// A non-zero exit is an error carrying the argv and git's stderr.
    pub(crate) fn capture_bytes(&self, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
        let out = self.raw(args, Some(input))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(command_failed(args, &lossy(out)))
    }

    fn raw(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<std::process::Output> {
        let mut c = self.command(args);
        c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| Error::io(format_args!("cannot run {}", self.exe.display()), e))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            let input = input.to_vec();
            // Write from a thread so a large input cannot deadlock against a full stdout pipe.
            let writer = std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
            let out = child.wait_with_output();
            let _ = writer.join();
            return out.map_err(|e| Error::io(format_args!("git {}", args.join(" ")), e));
        }
        child.wait_with_output().map_err(|e| Error::io(format_args!("git {}", args.join(" ")), e))
    }

    /// Run git; a non-zero exit is an error carrying the argv and git's stderr.
    pub(crate) fn capture(&self, args: &[&str]) -> Result<String> {
        let out = self.output(args, None)?;
        if out.ok() {
            Ok(out.stdout)
        } else {
            Err(command_failed(args, &out))
        }
    }

    /// Like [`capture`](Self::capture), feeding `input` on stdin.
    pub(crate) fn capture_stdin(&self, args: &[&str], input: &[u8]) -> Result<String> {
        let out = self.output(args, Some(input))?;
        if out.ok() {
            Ok(out.stdout)
        } else {
            Err(command_failed(args, &out))
        }
    }
}

/// The error for a failed git command: argv and git's own words.
pub(crate) fn command_failed(args: &[&str], out: &Output) -> Error {
    Error::failed(format!("`git {}` failed (exit {}): {}", args.join(" "), out.code, out.stderr.trim()))
}

/// The abbreviated form of an object name for messages (never panics on short input).
pub(crate) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Is `s` a full object name (40-hex SHA-1 or 64-hex SHA-256), lower-case?
pub(crate) fn is_full_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parse `git for-each-ref --format='%(objectname) %(refname)'` output.
pub(crate) fn parse_ref_list(out: &str) -> Vec<(String, String)> {
    out.lines().filter_map(|l| l.split_once(' ')).map(|(sha, name)| (name.to_string(), sha.to_string())).collect()
}

/// Parse `git cat-file --batch-check='%(objectname) %(objecttype)'` output:
/// the names (as given) whose object is a commit.
pub(crate) fn parse_batch_check(input: &[&str], out: &str) -> Vec<bool> {
    input.iter().zip(out.lines()).map(|(_, line)| line.ends_with(" commit")).collect()
}

/// A process's output as [`Output`]: its exit code (128 when killed by a signal) and its
/// streams as text, read lossily.
fn lossy(out: std::process::Output) -> Output {
    Output {
        code: out.status.code().unwrap_or(128),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Parse `git cat-file --batch` output: per name asked, in order, the object's type and
/// contents, or None when git found no such object (`<name> missing` / `ambiguous`).
/// Stops at the first malformed record.
pub(crate) fn parse_cat_file_batch(mut out: &[u8]) -> Vec<Option<(&str, &[u8])>> {
    let mut objects = Vec::new();
    while let Some(eol) = out.iter().position(|&b| b == b'\n') {
        let Ok(header) = std::str::from_utf8(&out[..eol]) else { break };
        out = &out[eol + 1..];
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            objects.push(None);
            continue;
        }
        let fields: Vec<&str> = header.split(' ').collect();
        let [_, kind, size] = fields.as_slice() else { break };
        let Some(size) = size.parse::<usize>().ok().filter(|&n| n < out.len()) else { break };
        objects.push(Some((*kind, &out[..size])));
        out = &out[size + 1..];
    }
    objects
}

/// What `git merge-tree --write-tree --name-only` said.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MergeTree {
    pub tree: String,
    pub conflicts: Vec<String>,
    pub messages: Vec<String>,
}

/// Parse `git merge-tree --write-tree --name-only` output (exit 0 or 1): the tree, the
/// conflicted paths, then after a blank line the informational messages.
pub(crate) fn parse_merge_tree(out: &str) -> Option<MergeTree> {
    let mut lines = out.lines();
    let tree = lines.next()?.trim().to_string();
    if !is_full_sha(&tree) {
        return None;
    }
    let mut conflicts = Vec::new();
    let mut messages = Vec::new();
    let mut in_messages = false;
    for l in lines {
        if !in_messages && l.is_empty() {
            in_messages = true;
        } else if in_messages {
            if !l.is_empty() {
                messages.push(l.to_string());
            }
        } else {
            conflicts.push(l.to_string());
        }
    }
    let conflicts = real_paths(conflicts, &messages);
    Some(MergeTree { tree, conflicts, messages })
}

/// `git rev-list --parents` output as commit → parents.
pub(crate) fn parse_parents(out: &str) -> HashMap<&str, Vec<&str>> {
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_ascii_whitespace();
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// Every commit of `graph` reachable from `from` (itself included), walking parents that
/// the graph holds.
pub(crate) fn walk<'a>(graph: &HashMap<&'a str, Vec<&'a str>>, from: &'a str) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    let mut todo = vec![from];
    while let Some(c) = todo.pop() {
        if seen.insert(c) {
            todo.extend(graph.get(c).into_iter().flatten().copied());
        }
    }
    seen
}

/// A file/directory conflict makes git record the file under a name that exists on
/// neither side (`dir~<commit>`): report the path both sides actually use.
fn real_paths(conflicts: Vec<String>, messages: &[String]) -> Vec<String> {
    let moved: Vec<(&str, &str)> = messages
        .iter()
        .filter_map(|m| {
            let rest = m.strip_prefix("CONFLICT (file/directory): ")?;
            let (head, to) = rest.rsplit_once("; moving it to ")?;
            let to = to.strip_suffix(" instead.")?;
            let (_, of) = head.split_once(" in the way of ")?;
            let (path, _) = of.rsplit_once(" from ")?;
            Some((to, path))
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for c in conflicts {
        let real = moved.iter().find(|(to, _)| *to == c).map_or(c, |(_, path)| path.to_string());
        if !out.contains(&real) {
            out.push(real);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output of `git merge-tree --write-tree --name-only main feature` on a conflict.
    const CONFLICT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904\nshared.txt\n\nAuto-merging shared.txt\nCONFLICT (content): Merge conflict in shared.txt\n";

    #[test]
    fn merge_tree_conflict_output() {
        let m = parse_merge_tree(CONFLICT).unwrap();
        assert_eq!(m.tree, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
        assert_eq!(m.conflicts, vec!["shared.txt"]);
        assert_eq!(m.messages.len(), 2);
    }

    // Real output for a file `d` on main against a directory `d/` on the candidate.
    const FILE_DIRECTORY: &str = "7398430798b46cf727aac3aff7c418568514e2b0\nd~0f1c2a3\n\nCONFLICT (file/directory): directory in the way of d from 0f1c2a3; moving it to d~0f1c2a3 instead.\n";

    #[test]
    fn a_file_directory_conflict_names_the_real_path() {
        let m = parse_merge_tree(FILE_DIRECTORY).unwrap();
        assert_eq!(m.conflicts, vec!["d"]);
        assert_eq!(m.messages.len(), 1);
    }

    // Real output of `git cat-file --batch` asked for `HEAD:f` (holding "ab\n") and `HEAD:nope`.
    const CAT_FILE_BATCH: &[u8] = b"81bf396956110ad81c14860af1bbcc9dfbe4df20 blob 3\nab\n\nHEAD:nope missing\n";

    #[test]
    fn cat_file_batch_output_parses_per_name() {
        assert_eq!(parse_cat_file_batch(CAT_FILE_BATCH), vec![Some(("blob", &b"ab\n"[..])), None]);
        // A record cut short ends the parse: nothing is made up from what is missing.
        assert_eq!(parse_cat_file_batch(b"81bf396956110ad81c14860af1bbcc9dfbe4df20 blob 9\nab\n"), vec![]);
    }

    #[test]
    fn merge_tree_clean_output() {
        let m = parse_merge_tree("4b825dc642cb6eb9a060e54bf8d69288fbee4904\n").unwrap();
        assert!(m.conflicts.is_empty());
        assert!(parse_merge_tree("fatal: bad\n").is_none());
    }

    #[test]
    fn sha_shapes() {
        assert!(is_full_sha(&"a".repeat(40)));
        assert!(is_full_sha(&"0".repeat(64)));
        assert!(!is_full_sha(&"A".repeat(40)));
        assert!(!is_full_sha("abc"));
    }
}
