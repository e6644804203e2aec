//! The state checks: the state dir is writable and on a local filesystem (flock and
//! rename are only trustworthy there), and the JSONL logs read cleanly.

use super::{error_text, sh_quote, Finding};
use crate::error::Error;
use crate::lease;
use crate::queue::Queue;
use crate::repo::Repo;
use crate::store::{scan_lines, LogHealth};
use std::path::Path;

pub(crate) fn check(repo: &Repo) -> Vec<Finding> {
    let root = repo.state.root();
    // Before the first write the state dir may not exist: test the dir it will be made in.
    let dir = if root.is_dir() { root } else { repo.loc.common_dir.as_path() };
    let mut findings = vec![writable(root, dir), local_fs(dir), lease_health(repo)];
    if repo.state.queue().exists() {
        findings.push(queue_health(repo));
    }
    for name in ["events.jsonl", "outcomes.jsonl", "guardrails.jsonl"] {
        let path = repo.state.file(name);
        if name == "events.jsonl" || path.exists() {
            findings.push(log_health(&path));
        }
    }
    findings
}

fn writable(root: &Path, dir: &Path) -> Finding {
    let probe = tempfile::Builder::new().prefix(".doctor-").tempfile_in(dir);
    let made = if dir == root { "" } else { " (it does not exist yet and is created on first use)" };
    match probe.and_then(|f| f.close()) {
        Ok(()) => Finding::pass("state-dir", format!("{} is writable{made}", root.display())),
        Err(e) => {
            let owned = std::fs::metadata(dir).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                // SAFETY: geteuid has no preconditions and cannot fail.
                m.uid() == unsafe { libc::geteuid() }
            });
            let fix = if owned {
                format!("chmod u+w {}", sh_quote(dir))
            } else {
                format!("sudo chown -R \"$(id -un)\" {}", sh_quote(dir))
            };
            Finding::fail("state-dir", format!("cannot create a file in {}: {e}", dir.display()), fix)
        }
    }
}

fn local_fs(dir: &Path) -> Finding {
    match remote_fs_kind(dir) {
        Ok(None) => Finding::pass(
            "state-fs",
            format!("{} is on a local filesystem", dir.display()),
        ),
        Ok(Some(kind)) => Finding::fail(
            "state-fs",
            format!(
                "{} is on {kind}: locks and atomic renames are not reliable there, so the lease cannot guarantee one integrator",
                dir.display()
            ),
            "clone the repository onto a local disk and run install.sh for that clone",
        ),
        Err(e) => Finding::fail(
            "state-fs",
            format!("cannot tell the filesystem of {}: {e}", dir.display()),
            format!("stat -f {}", sh_quote(dir)),
        ),
    }
}

/// The name of a network or FUSE filesystem holding `dir`, or None when it is local.
#[cfg(target_os = "linux")]
fn remote_fs_kind(dir: &Path) -> std::io::Result<Option<&'static str>> {
    use std::os::unix::ffi::OsStrExt;
    const REMOTE: &[(u64, &str)] = &[
        (0x6969, "NFS"),
        (0x517B, "SMB"),
        (0xFE53_4D42, "SMB2"),
        (0xFF53_4D42, "CIFS"),
        (0x6573_5546, "FUSE (e.g. sshfs)"),
        (0x0102_1997, "9P"),
        (0x5346_414F, "AFS"),
        (0x7375_7245, "Coda"),
        (0x00C3_6400, "CephFS"),
        (0x0BD0_0BD0, "Lustre"),
    ];
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // f_type is signed on some targets: compare its low 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let magic = (st.f_type as u64) & 0xFFFF_FFFF;
    Ok(REMOTE.iter().find(|(m, _)| *m == magic).map(|(_, n)| *n))
}

#[cfg(target_os = "macos")]
fn remote_fs_kind(dir: &Path) -> std::io::Result<Option<&'static str>> {
    use std::os::unix::ffi::OsStrExt;
    const REMOTE: &[&str] = &["nfs", "smbfs", "afpfs", "webdav", "macfuse", "osxfuse", "cifs"];
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel NUL-terminates f_fstypename.
    let name = unsafe { std::ffi::CStr::from_ptr(st.f_fstypename.as_ptr()) };
    let name = name.to_string_lossy();
    Ok(REMOTE.iter().find(|n| name.starts_with(*n)).copied())
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn remote_fs_kind(_dir: &Path) -> std::io::Result<Option<&'static str>> {
    Ok(None)
}

fn lease_health(repo: &Repo) -> Finding {
    let status = match lease::inspect(&repo.state) {
        Ok(s) => s,
        Err(e) => {
            return Finding::fail("lease", error_text(&e), format!("ls -l {}", sh_quote(&repo.state.lease_lock())))
        }
    };
    let Some(h) = status.holder.as_ref() else {
        return Finding::pass("lease", "free (never taken)");
    };
    let who = format!("{} pid {} on {}", h.owner, h.pid, h.host);
    if status.hung {
        let fix = if h.host == lease::hostname() {
            "integrator lease break --force".to_string()
        } else {
            format!("on host {}: integrator lease break --force", h.host)
        };
        return Finding::fail(
            "lease",
            format!(
                "hung: held by {who} since {}, but it stopped renewing (expired at {})",
                h.acquired_at, h.expires_at
            ),
            fix,
        );
    }
    let message = if status.held {
        format!("held by {who} since {}, renewed at {}", h.acquired_at, h.renewed_at)
    } else if status.stale {
        format!("note: stale: {who} died holding it (metadata from {}); the next run takes it over", h.acquired_at)
    } else {
        match &h.released_at {
            Some(at) => format!("free (last held by {who}, released at {at})"),
            None => format!("free (last held by {who})"),
        }
    };
    Finding::pass("lease", message)
}

/// A damaged queue stops every run until it is moved aside (then rebuilt from log + git).
fn queue_health(repo: &Repo) -> Finding {
    let path = repo.state.queue();
    match Queue::load(&repo.state) {
        Ok(q) => Finding::pass("queue", format!("{}: {} items", path.display(), q.items.len())),
        Err(Error::Failed { message, .. }) => {
            let moved = path.with_extension("json.damaged");
            Finding::fail("queue", message, format!("mv {} {}", sh_quote(&path), sh_quote(&moved)))
        }
        Err(e) => Finding::fail("queue", error_text(&e), format!("ls -l {}", sh_quote(&path))),
    }
}

fn log_health(path: &Path) -> Finding {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut health = LogHealth::default();
    let mut first_bad = None;
    let scanned = scan_lines(path, 0, &mut health, |offset, line| {
        let ok = serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok();
        if !ok && first_bad.is_none() {
            first_bad = Some(offset);
        }
        ok
    });
    if let Err(e) = scanned {
        return Finding::fail(
            "log",
            format!("cannot read {}: {e}", path.display()),
            format!("ls -l {}", sh_quote(path)),
        );
    }
    if !path.exists() {
        return Finding::pass("log", format!("{name}: no events recorded yet"));
    }
    let mut message = format!("{name}: {} lines", health.lines);
    if let Some(offset) = first_bad {
        message.push_str(&format!(
            "; warning: {} unreadable line{} skipped by every reader (first at byte {offset})",
            health.skipped,
            if health.skipped == 1 { "" } else { "s" }
        ));
    }
    if health.torn > 0 {
        message
            .push_str("; note: the last line is torn (an interrupted write): ignored, and closed by the next append");
    }
    Finding::pass("log", message)
}
