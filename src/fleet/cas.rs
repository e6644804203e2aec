//! The fleet's compare-and-swap pushes: `git push --porcelain [--atomic]` with one
//! `--force-with-lease` per ref it expects, and what git's report says of the lease ref.

use super::LEASE_REF;
use crate::apply;
use crate::error::Result;
use crate::git::push::Flag;
use crate::git::{self, Git, Output};

/// How a push that names the lease ref ended.
pub(crate) enum Cas {
    Done,
    /// The lease ref was not where this process expected: someone else moved it.
    Moved(String),
    /// Another ref of the push was refused because it moved (main, non-fast-forward).
    OtherMoved(String),
    /// The remote does not advertise the atomic capability.
    NoAtomic,
    Failed(String),
}

impl Cas {
    /// git's words on a push that did not land.
    pub(crate) fn text(self) -> String {
        match self {
            Cas::Done => String::new(),
            Cas::Moved(t) | Cas::OtherMoved(t) | Cas::Failed(t) => t,
            Cas::NoAtomic => "the remote does not support --atomic push".into(),
        }
    }
}

/// `git push --porcelain [--atomic] --force-with-lease=<ref>:<expect>… <remote> <specs>`
/// (an expectation of None: the ref must not exist yet). Fleet records skip the hooks
/// (`hooks` false); main's push runs them, as ever.
pub(crate) fn push(
    git: &Git,
    remote: &str,
    leases: &[(&str, Option<&str>)],
    specs: &[String],
    atomic: bool,
    hooks: bool,
) -> Result<Output> {
    let leases: Vec<String> =
        leases.iter().map(|(r, expect)| format!("--force-with-lease={r}:{}", expect.unwrap_or(""))).collect();
    let mut args = vec!["push", "--porcelain"];
    args.extend((!hooks).then_some("--no-verify"));
    args.extend(atomic.then_some("--atomic"));
    args.extend(leases.iter().map(String::as_str));
    args.extend(["--end-of-options", remote]);
    args.extend(specs.iter().map(String::as_str));
    git.output(&args, None)
}

/// How a [`push`] that names the lease ref ended.
pub(crate) fn classify(out: &Output) -> Cas {
    if out.ok() {
        return Cas::Done;
    }
    let text = apply::tail(format!("{}\n{}", out.stdout, out.stderr).trim(), 20);
    if out.stderr.contains("does not support --atomic") {
        return Cas::NoAtomic;
    }
    // Under --atomic the refs that were fine are reported `(atomic push failed)`: the
    // cause is the other one.
    let report = git::push::parse(&out.stdout);
    let refused =
        |r: &&git::push::RefUpdate| r.flag == Flag::Rejected && r.reason.as_deref() != Some("atomic push failed");
    if report.refs.iter().filter(refused).any(|r| r.to == LEASE_REF) {
        return Cas::Moved(text);
    }
    if report.refs.iter().filter(refused).any(|r| r.remote_moved()) {
        return Cas::OtherMoved(text);
    }
    Cas::Failed(text)
}
