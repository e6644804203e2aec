//! What `git push --porcelain` reports on stdout: one line per ref,
//! `<flag> TAB <from>:<to> TAB <summary>[ (<reason>)]`, after `To <url>`, then `Done`.
//! The exit code stays the authority on success; this says *why* a push did not land.

/// How git says one ref fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    /// `' '`: a fast-forward.
    FastForward,
    /// `'+'`: a forced update.
    Forced,
    /// `'-'`: a deleted ref.
    Deleted,
    /// `'*'`: a new ref.
    New,
    /// `'!'`: refused by git, the remote or its hooks.
    Rejected,
    /// `'='`: already up to date.
    UpToDate,
}

impl Flag {
    fn parse(s: &str) -> Option<Flag> {
        Some(match s {
            " " => Flag::FastForward,
            "+" => Flag::Forced,
            "-" => Flag::Deleted,
            "*" => Flag::New,
            "!" => Flag::Rejected,
            "=" => Flag::UpToDate,
            _ => return None,
        })
    }
}

/// One ref line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefUpdate {
    pub flag: Flag,
    /// The local side (empty for a deletion).
    pub from: String,
    /// The remote ref.
    pub to: String,
    /// `[rejected]`, `[remote rejected]`, `[new branch]`, `old..new`…
    pub summary: String,
    /// The parenthesised reason: `non-fast-forward`, `pre-receive hook declined`…
    pub reason: Option<String>,
}

impl RefUpdate {
    /// Refused because the remote ref is not where the pusher thought it was: it moved
    /// on (`fetch first`, `non-fast-forward`) or a lease no longer holds (`stale info`).
    pub(crate) fn remote_moved(&self) -> bool {
        self.flag == Flag::Rejected
            && (self.summary == "[rejected]"
                || matches!(self.reason.as_deref(), Some("non-fast-forward" | "fetch first" | "stale info")))
    }
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub refs: Vec<RefUpdate>,
    /// git printed `Done`: the transport finished (even when refs were refused).
    pub done: bool,
}

impl Report {
    /// Was any ref refused?
    #[cfg(test)]
    fn rejected(&self) -> bool {
        self.refs.iter().any(|r| r.flag == Flag::Rejected)
    }

    /// Did the remote refuse the content of a ref that reached it — a hook or policy that
    /// *declined* it (`pre-receive hook declined`, `update hook declined`, a forge's
    /// `protected branch hook declined`)? Not when it merely failed to apply it (`failed
    /// to update ref`: a stale lock), which a later push may get past.
    pub(crate) fn remote_refused(&self) -> bool {
        self.refs.iter().any(|r| {
            r.flag == Flag::Rejected
                && r.summary == "[remote rejected]"
                && r.reason.as_deref().is_some_and(|why| why.ends_with("declined"))
        })
    }

    /// Was any ref refused because the remote moved (see [`RefUpdate::remote_moved`])?
    pub(crate) fn remote_moved(&self) -> bool {
        self.refs.iter().any(RefUpdate::remote_moved)
    }
}

/// Parse `git push --porcelain` stdout. Lines of any other shape are skipped.
pub(crate) fn parse(out: &str) -> Report {
    let mut report = Report::default();
    for line in out.lines() {
        if line == "Done" {
            report.done = true;
        } else if let Some(update) = parse_ref_line(line) {
            report.refs.push(update);
        }
    }
    report
}

fn parse_ref_line(line: &str) -> Option<RefUpdate> {
    let mut fields = line.splitn(3, '\t');
    let flag = Flag::parse(fields.next()?)?;
    let (from, to) = fields.next()?.split_once(':')?;
    let rest = fields.next()?;
    let (summary, reason) = match rest.split_once(" (") {
        Some((s, r)) => (s, r.strip_suffix(')').map(str::to_string)),
        None => (rest, None),
    };
    Some(RefUpdate { flag, from: from.to_string(), to: to.to_string(), summary: summary.to_string(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real stdout of `git push --porcelain` (git 2.47) against a bare repository.
    const ACCEPTED: &str = "To /tmp/h2push/origin.git\n \tHEAD:refs/heads/main\t577672c..1841026\nDone\n";
    const NEW_BRANCH: &str = "To /tmp/h2push/origin.git\n*\tHEAD:refs/heads/main\t[new branch]\nDone\n";
    const FETCH_FIRST: &str = "To /tmp/h2push/origin.git\n!\tHEAD:refs/heads/main\t[rejected] (fetch first)\nDone\n";
    const NON_FAST_FORWARD: &str =
        "To /tmp/h2push/origin.git\n!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n";
    // `--force-with-lease=refs/heads/main:<old sha>` after main moved.
    const STALE_LEASE: &str = "To /tmp/h2push/origin.git\n!\tHEAD:refs/heads/main\t[rejected] (stale info)\nDone\n";
    const HOOK_DECLINED: &str =
        "To /tmp/h2push/origin.git\n!\tHEAD:refs/heads/other\t[remote rejected] (pre-receive hook declined)\nDone\n";
    // A stale `refs/heads/main.lock` on the remote.
    const LOCKED: &str = "To /tmp/pl/o.git\n!\tHEAD:refs/heads/main\t[remote rejected] (failed to update ref)\nDone\n";
    const DELETED: &str = "To /tmp/h2push/origin.git\n-\t:refs/heads/feat\t[deleted]\nDone\n";
    const UP_TO_DATE: &str = "To /tmp/h2push/origin.git\n=\tHEAD:refs/heads/feat2\t[up to date]\nDone\n";
    const FORCED: &str =
        "To /tmp/h2push/origin.git\n+\tHEAD~1:refs/heads/feat2\t8f7c022...1841026 (forced update)\nDone\n";
    const TWO_REFS: &str = "To /tmp/h2push/origin.git\n*\tHEAD:refs/heads/x\t[new branch]\n!\tHEAD~1:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n";

    fn only(out: &str) -> RefUpdate {
        let r = parse(out);
        assert!(r.done, "{out}");
        assert_eq!(r.refs.len(), 1, "{out}");
        r.refs[0].clone()
    }

    #[test]
    fn accepted_pushes() {
        let u = only(ACCEPTED);
        assert_eq!((u.flag, u.from.as_str(), u.to.as_str()), (Flag::FastForward, "HEAD", "refs/heads/main"));
        assert_eq!((u.summary.as_str(), u.reason), ("577672c..1841026", None));
        assert_eq!(only(NEW_BRANCH).flag, Flag::New);
        assert_eq!(only(UP_TO_DATE).flag, Flag::UpToDate);
        let f = only(FORCED);
        assert_eq!((f.flag, f.reason.as_deref()), (Flag::Forced, Some("forced update")));
        assert!(!parse(ACCEPTED).rejected() && !parse(FORCED).remote_moved());
    }

    #[test]
    fn refusals_because_main_moved() {
        for (out, reason) in
            [(FETCH_FIRST, "fetch first"), (NON_FAST_FORWARD, "non-fast-forward"), (STALE_LEASE, "stale info")]
        {
            let u = only(out);
            assert_eq!((u.flag, u.summary.as_str(), u.reason.as_deref()), (Flag::Rejected, "[rejected]", Some(reason)));
            assert!(parse(out).rejected() && parse(out).remote_moved(), "{out}");
        }
    }

    #[test]
    fn a_hook_decline_is_rejected_but_not_a_moved_remote() {
        let u = only(HOOK_DECLINED);
        assert_eq!(u.summary, "[remote rejected]");
        assert_eq!(u.reason.as_deref(), Some("pre-receive hook declined"));
        assert!(parse(HOOK_DECLINED).rejected());
        assert!(!parse(HOOK_DECLINED).remote_moved());
        assert!(parse(HOOK_DECLINED).remote_refused());
        assert!(!parse(NON_FAST_FORWARD).remote_refused() && !parse("").remote_refused());
        // A remote that could not apply the update has not judged the commit.
        assert!(!parse(LOCKED).remote_refused() && !parse(LOCKED).remote_moved());
    }

    #[test]
    fn deletions_and_mixed_reports() {
        let u = only(DELETED);
        assert_eq!(
            (u.flag, u.from.as_str(), u.to.as_str(), u.summary.as_str()),
            (Flag::Deleted, "", "refs/heads/feat", "[deleted]")
        );
        let r = parse(TWO_REFS);
        assert_eq!(r.refs.iter().map(|u| u.flag).collect::<Vec<_>>(), vec![Flag::New, Flag::Rejected]);
        assert!(r.remote_moved());
    }

    #[test]
    fn no_report_when_git_never_reached_the_remote() {
        // A refusing pre-push hook or an unknown remote: nothing on stdout.
        assert_eq!(parse(""), Report::default());
        assert!(!parse("fatal: 'nowhere' does not appear to be a git repository\n").rejected());
    }
}
