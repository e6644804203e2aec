//! The fleet's sandbox: the bare origin served by a real `git daemon --enable=receive-pack`
//! on 127.0.0.1 and a free port (killed on drop), and clones of it as computers — each
//! with its own state dir and its own host name (`TELECLAUDE_HOSTNAME`).

use super::{bin, Sandbox};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The local config of every computer: cutover, the fleet on.
pub(crate) const FLEET: &str = "[integrator]\nmode = \"cutover\"\nlease_ttl_secs = 30\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n[fleet]\nenabled = true\n";

pub(crate) struct Daemon {
    child: Child,
    pub port: u16,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Daemon {
    /// Serve every repository under `base` on `port` (a free one when None).
    pub(crate) fn start(sb: &Sandbox, port: Option<u16>) -> Daemon {
        // git-daemon itself, not `git daemon`: killing the wrapper would leave it serving.
        let exec_path = sb.git(&sb.root, &["--exec-path"]);
        serve("git daemon", port, |port| {
            let mut cmd = sb.cmd(Path::new(&exec_path).join("git-daemon"), &sb.root);
            cmd.args(["--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", sb.root.display()));
            cmd
        })
    }
}

/// Start a server, `command(port)`, on `port` (a free one when None; up to 10 tries), its
/// output discarded, and wait until 127.0.0.1:`port` accepts connections. Killed on drop.
pub(crate) fn serve(what: &str, port: Option<u16>, mut command: impl FnMut(u16) -> Command) -> Daemon {
    for _ in 0..10 {
        let port = port.unwrap_or_else(free_port);
        let mut child = command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Daemon { child, port };
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{what} did not start");
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The origin behind a daemon, and the computers that clone it.
pub(crate) struct Fleet {
    pub sb: Sandbox,
    pub daemon: Option<Daemon>,
    pub url: String,
}

/// One computer: a clone with its own state and host name.
#[derive(Clone)]
pub(crate) struct Computer {
    pub host: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Fleet {
    pub(crate) fn new() -> Fleet {
        let sb = Sandbox::new();
        let daemon = Daemon::start(&sb, None);
        let url = format!("git://127.0.0.1:{}/origin.git", daemon.port);
        Fleet { sb, daemon: Some(daemon), url }
    }

    /// Stop the daemon: the remote is unreachable until [`Fleet::restart`].
    pub(crate) fn stop(&mut self) {
        self.daemon = None;
    }

    pub(crate) fn restart(&mut self) {
        let port: u16 = self.url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
        self.daemon = Some(Daemon::start(&self.sb, Some(port)));
    }

    /// A clone through the daemon, with `config` as its local configuration.
    pub(crate) fn computer(&self, host: &str, config: &str) -> Computer {
        let dir = self.sb.root.join(host);
        self.sb.git(&self.sb.root, &["clone", "-q", &self.url, host]);
        std::fs::create_dir_all(dir.join(".git/teleclaude")).unwrap();
        std::fs::write(dir.join(".git/teleclaude/config.toml"), config).unwrap();
        Computer { host: host.into(), dir, env: vec![("TELECLAUDE_HOSTNAME".into(), host.into())] }
    }

    /// The integrator on computer `c`, hermetic.
    pub(crate) fn integrator(&self, c: &Computer) -> Command {
        let mut cmd = self.sb.cmd(bin("integrator"), &c.dir);
        cmd.env("TELECLAUDE_SESSION_ID", "");
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn run(&self, c: &Computer, args: &[&str]) -> (i32, String, String) {
        let out: Output = self.integrator(c).args(args).output().expect("run integrator");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    pub(crate) fn ok(&self, c: &Computer, args: &[&str]) -> String {
        let (code, out, err) = self.run(c, args);
        assert_eq!(code, 0, "{}: integrator {args:?} exited {code}\nstdout:\n{out}\nstderr:\n{err}", c.host);
        out
    }

    /// A branch from origin/main with one commit, pushed from computer `c`. Returns its sha.
    pub(crate) fn branch(&self, c: &Computer, name: &str, file: &str) -> String {
        let sb = &self.sb;
        sb.git(&c.dir, &["fetch", "-q", "origin"]);
        sb.git(&c.dir, &["checkout", "-q", "-B", name, "origin/main"]);
        let sha = sb.commit(&c.dir, file, &format!("{name}\n"), &format!("{name}: add {file}"));
        sb.git(&c.dir, &["push", "-q", "origin", &format!("{name}:refs/heads/{name}")]);
        sb.git(&c.dir, &["checkout", "-q", "main"]);
        sha
    }

    /// review.approved + branch.pushed + deployment.started recorded on computer `c`.
    pub(crate) fn ready(&self, c: &Computer, slug: &str, branch: &str, sha: &str, ready_at: &str) {
        self.ok(c, &["emit", "review-approved", "--slug", slug, "--round", "1"]);
        self.ok(c, &["emit", "branch-pushed", "--branch", branch, "--sha", sha]);
        self.ok(c, &["emit", "deployment-started", "--slug", slug, "--branch", branch, "--sha", sha, "--at", ready_at]);
    }

    /// A candidate made on `c`: branch, events, and a sync so the fleet sees it.
    pub(crate) fn candidate(&self, c: &Computer, slug: &str, ready_at: &str) -> String {
        let sha = self.branch(c, slug, &format!("{slug}.txt"));
        self.ready(c, slug, slug, &sha, ready_at);
        self.ok(c, &["sync", "--quiet"]);
        sha
    }

    /// The slugs on origin's main, oldest first (its first-parent history).
    pub(crate) fn landed(&self) -> Vec<String> {
        let log = self.sb.git(
            &self.sb.origin,
            &["log", "--reverse", "--first-parent", "--format=%(trailers:key=Integrated-Slug,valueonly)", "main"],
        );
        log.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    /// The idempotency keys of a computer's log, in order.
    pub(crate) fn keys(&self, c: &Computer) -> Vec<String> {
        super::jsonl(&c.dir.join(".git/teleclaude/events.jsonl"))
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Every element of `v` once?
pub(crate) fn all_once(v: &[String]) -> bool {
    let set: std::collections::HashSet<&String> = v.iter().collect();
    set.len() == v.len()
}

/// Does `dir` exist as the main checkout of a computer (for hooks)?
pub(crate) fn hooks_dir(c: &Computer) -> PathBuf {
    Path::new(&c.dir).join(".git/hooks")
}

/// A computer's writer id.
pub(crate) fn writer_of(c: &Computer) -> String {
    std::fs::read_to_string(c.dir.join(".git/teleclaude/fleet/writer-id")).unwrap().trim().to_string()
}

impl Fleet {
    /// Run git in origin with `input` on stdin; returns trimmed stdout.
    fn origin_git_stdin(&self, args: &[&str], input: &[u8]) -> String {
        let mut cmd = self.sb.cmd("git", &self.sb.origin);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A batch commit written straight into origin on `writer`'s ref, as another version
    /// (or a broken writer) would leave it: `message` verbatim, on `parent`, its tree
    /// holding `events.jsonl.gz` with `events` (None: the empty tree of the first format).
    pub(crate) fn forge_batch(
        &self,
        writer: &str,
        parent: Option<&str>,
        message: &str,
        events: Option<&[u8]>,
    ) -> String {
        let tree = match events {
            Some(data) => {
                let blob = self.origin_git_stdin(&["hash-object", "-w", "--stdin"], data);
                self.origin_git_stdin(&["mktree"], format!("100644 blob {blob}\tevents.jsonl.gz\n").as_bytes())
            }
            None => self.origin_git_stdin(&["mktree"], b""),
        };
        let mut args = vec!["commit-tree", tree.as_str()];
        args.extend(parent.map(|p| ["-p", p]).into_iter().flatten());
        args.extend(["-F", "-"]);
        let commit = self.origin_git_stdin(&args, message.as_bytes());
        self.sb.git(&self.sb.origin, &["update-ref", &format!("refs/teleclaude/events/{writer}"), &commit]);
        commit
    }

    /// The idempotency keys of every batch on origin's ref of `writer`, oldest first, from
    /// the batches' events files or (the first format) their messages.
    pub(crate) fn published(&self, writer: &str) -> Vec<String> {
        let name = format!("refs/teleclaude/events/{writer}");
        let commits = self.sb.git(&self.sb.origin, &["rev-list", "--reverse", &name]);
        let mut keys = Vec::new();
        for c in commits.lines() {
            let file = self.sb.git_out(&self.sb.origin, &["cat-file", "blob", &format!("{c}:events.jsonl.gz")]);
            let text = if file.status.success() {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&file.stdout[..]).read_to_string(&mut text).unwrap();
                text
            } else {
                self.sb.git(&self.sb.origin, &["log", "-1", "--format=%b", c])
            };
            for line in text.lines().filter(|l| l.starts_with('{')) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                keys.push(v["key"].as_str().unwrap().to_string());
            }
        }
        keys
    }
}

/// Hold a computer's background-sync slot (an exclusive flock), as a running one would.
pub(crate) fn hold_background_slot(c: &Computer) -> std::fs::File {
    let dir = c.dir.join(".git/teleclaude/fleet");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("background.lock")).unwrap();
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    assert_eq!(rc, 0);
    file
}
