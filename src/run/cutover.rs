//! Cutover (SPEC §8.1, §8.3, §8.4): merge the checked sha onto the current main, verify
//! and bookkeep in a private worktree, push exactly the commit that was tested (retrying
//! on a moved main), then announce and clean up — or block the candidate with evidence.

use super::speculate::{Guard, Tried, Which};
use super::{obj, Outcome, Phase, Runner};
use crate::apply::{self, Checked, Merge, Push};
use crate::candidate::Named;
use crate::clock;
use crate::error::{Error, Result};
use crate::events::{self, lifecycle};
use crate::followup::{self, Cause};
use crate::queue::{self, Item, Status};
use crate::readiness::{CandidateView, GitFacts, State};
use serde_json::{json, Map};

/// How one merge-verify-push attempt ended.
enum Attempt {
    /// The candidate was settled (delivered, already merged or blocked).
    Settled,
    /// The remote refused the push because main moved.
    Rejected { commit: String, why: String },
}

impl Runner<'_> {
    /// Merge, verify, bookkeeping, push — retrying on a moved main — then announce.
    pub(super) fn integrate(&mut self, item: Item, mut facts: GitFacts) -> Result<()> {
        let item = self.dequeue(&item)?;
        let mut rejections = Vec::new();
        loop {
            let Attempt::Rejected { commit, why } = self.attempt(&item, &facts)? else { return Ok(()) };
            if self.rejected(&item, &commit, why, &mut rejections)? {
                return Ok(());
            }
            self.fetch()?;
            match self.recheck(&item)? {
                Some(fresh) => facts = fresh,
                None => return Ok(()),
            }
        }
    }

    /// Take `item` from the queue: `in_progress`, one more attempt, announced.
    pub(super) fn dequeue(&mut self, item: &Item) -> Result<Item> {
        let item = queue::update(&self.dir, item, |i| {
            i.attempts += 1;
            i.transition(Status::InProgress, "integrating")
        })?;
        self.journal.lifecycle(lifecycle::CANDIDATE_DEQUEUED, Some(&item), Map::new())?;
        crate::failpoint::point!("after-dequeued");
        Ok(item)
    }

    /// One attempt on the main `facts` describe.
    fn attempt(&mut self, item: &Item, facts: &GitFacts) -> Result<Attempt> {
        self.lease.check()?;
        if facts.is_on_main(&item.sha) {
            self.mark_integrated(item, facts, &format!("already on {}", self.remote_main()))?;
            return Ok(Attempt::Settled);
        }
        let Some(tip) = facts.main_tip.clone() else {
            return Err(Error::failed(format!("{} does not exist", self.remote_main())));
        };
        let merged = apply::merge(&self.git, self.cfg.integrator.merge, &tip, &item.slug, &item.branch, &item.sha)?;
        let Some(merge_commit) = self.merged_or_block(item, merged)? else { return Ok(Attempt::Settled) };
        let p = obj(json!({"commit": merge_commit, "main_sha": tip}));
        self.journal.lifecycle(lifecycle::MERGE_SUCCEEDED, Some(item), p)?;
        crate::failpoint::point!("after-merge");
        let commit = match self.verify_and_bookkeep(item, &merge_commit)? {
            Ok(c) => c,
            Err(cause) => {
                self.block(item, cause)?;
                return Ok(Attempt::Settled);
            }
        };
        self.lease.check()?;
        match self.push_main(&commit)? {
            Push::Pushed => {
                crate::failpoint::point!("after-push");
                self.delivered(item, &merge_commit, &commit)?;
                Ok(Attempt::Settled)
            }
            Push::Rejected(why) => Ok(Attempt::Rejected { commit, why }),
            Push::Refused(message) => {
                self.block(item, Cause::PushRefused { message })?;
                Ok(Attempt::Settled)
            }
            Push::Failed(why) => Err(self.push_failed(&why)),
        }
    }

    /// A push that failed without a verdict on the ref (network, a local hook): the run
    /// fails, the candidate stays in progress for the next run.
    pub(super) fn push_failed(&self, why: &str) -> Error {
        Error::failed_hint(
            format!("pushing {} failed: {why}", self.remote_main()),
            "the candidate stays in progress; the next `integrator run` re-examines it",
        )
    }

    /// The commit of a clean merge; a conflict or a failed merge blocks `item` (None).
    pub(super) fn merged_or_block(&mut self, item: &Item, merge: Merge) -> Result<Option<String>> {
        match merge {
            Merge::Clean { commit, .. } => Ok(Some(commit)),
            Merge::Conflict { paths, messages } => {
                self.journal.lifecycle(lifecycle::MERGE_CONFLICTED, Some(item), obj(json!({"paths": paths})))?;
                self.block(item, Cause::Conflict { paths, messages })?;
                Ok(None)
            }
            Merge::Failed { message } => {
                self.block(item, Cause::GitFailure { message })?;
                Ok(None)
            }
        }
    }

    /// Re-check readiness before applying again after a rejected push (SPEC §8 step 4):
    /// the slug may have a newer candidate by now, or the branch may no longer hold the
    /// sha. Some(fresh facts) to try again; None when the item was settled otherwise.
    fn recheck(&mut self, item: &Item) -> Result<Option<GitFacts>> {
        let (views, fresh) = self.evaluate()?;
        Ok(self.still_ready(item, &views, "no longer READY after a rejected push")?.then_some(fresh))
    }

    /// Is `item` still READY (or already on main) by `views`? A superseded one becomes
    /// `superseded`; one no longer READY goes back to `queued`, its reason after `context`.
    pub(super) fn still_ready(&mut self, item: &Item, views: &[CandidateView], context: &str) -> Result<bool> {
        let view = views.iter().find(|v| v.names(item));
        match view.map(|v| (v.state, v.reasons.join("; "))) {
            Some((State::Ready | State::Integrated, _)) => Ok(true),
            Some((State::Superseded, why)) => {
                let it = queue::update(&self.dir, item, |i| i.transition(Status::Superseded, why.clone()))?;
                self.journal.outcome(&it, Outcome::Superseded, vec![why])?;
                Ok(false)
            }
            Some((_, why)) => {
                let why = format!("{context}: {why}");
                queue::update(&self.dir, item, |i| i.transition(Status::Queued, why))?;
                Ok(false)
            }
            None => Err(Error::failed(format!("candidate {} vanished from the log", item.key()))),
        }
    }

    /// Run `verify` and `bookkeeping` in the private worktree. Ok(Ok(commit to push)) or
    /// Ok(Err(cause to block with)).
    fn verify_and_bookkeep(&mut self, item: &Item, commit: &str) -> Result<std::result::Result<String, Cause>> {
        let cfg = &self.cfg.integrator;
        if cfg.verify.is_empty() && cfg.bookkeeping.is_empty() {
            return Ok(Ok(commit.to_string()));
        }
        let label = format!("verify {}: running `{}`", item.slug, cfg.verify);
        self.journal.checkpoint(Phase::Verify, Some(item), None)?;
        let wt = self.worktree_at(commit)?;
        let shown = self.timed(label);
        let tried = self.checks().run((&wt, &commit.to_string(), item), Guard::Each);
        drop(shown);
        match tried? {
            Tried::Passed { commit } => Ok(Ok(commit)),
            Tried::Stopped { which, checked } => Ok(Err(self.stopped(item, which, checked)?)),
        }
    }

    /// What a check that did not pass means for `item`: the cause to block it with (a
    /// failed verify announced), or the run's error when the check could not run at all.
    pub(super) fn stopped(&mut self, item: &Item, which: Which, checked: Checked) -> Result<Cause> {
        let i = &self.cfg.integrator;
        let command = if which == Which::Verify { i.verify.clone() } else { i.bookkeeping.clone() };
        let cause = match self.judge(item, &command, checked)? {
            Err(cause) => cause,
            Ok(()) => return Err(Error::failed(format!("`{command}` passed and stopped a candidate"))),
        };
        if which == Which::Verify {
            self.verify_failed(item, &cause)?;
        }
        Ok(cause)
    }

    /// A push of `commit` for `item` the remote rejected because main moved: announced and
    /// counted in `rejections`; true when that blocked `item` (more than
    /// `max_push_retries`).
    pub(super) fn rejected(
        &mut self,
        item: &Item,
        commit: &str,
        why: String,
        rejections: &mut Vec<String>,
    ) -> Result<bool> {
        let payload = obj(json!({"commit": commit, "message": why}));
        self.journal.lifecycle(lifecycle::PUSH_REJECTED, Some(item), payload)?;
        rejections.push(why);
        if rejections.len() <= self.cfg.integrator.max_push_retries as usize {
            return Ok(false);
        }
        self.block(item, Cause::PushRejected { messages: std::mem::take(rejections) })?;
        Ok(true)
    }

    /// `integration.verify.failed` for a verify that blocks `item` with `cause`.
    pub(super) fn verify_failed(&mut self, item: &Item, cause: &Cause) -> Result<()> {
        let (exit, tail) = match cause {
            Cause::VerifyFailed { code, output_tail, .. } => (Some(*code), output_tail.as_str()),
            Cause::CheckBroke { output_tail, .. } => (None, output_tail.as_str()),
            _ => (None, ""),
        };
        let command = &self.cfg.integrator.verify;
        let p = obj(json!({"command": command, "exit": exit, "reason": cause.reason(), "output_tail": tail}));
        self.journal.lifecycle(lifecycle::VERIFY_FAILED, Some(item), p)
    }

    /// What a check's end means for `item`: Ok(Ok) passed, Ok(Err(cause)) blocks it. A
    /// check that cannot run at all is a configuration error: the run stops with one
    /// message and the candidate goes back to the queue, blocked by nobody.
    pub(super) fn judge(&mut self, item: &Item, command: &str, ran: Checked) -> Result<std::result::Result<(), Cause>> {
        let command = command.to_string();
        Ok(Err(match ran {
            Checked::Passed { .. } => return Ok(Ok(())),
            Checked::Failed { code, output } => {
                Cause::VerifyFailed { command, code, output_tail: apply::tail(&output, 40) }
            }
            Checked::TimedOut { secs, output } => Cause::CheckBroke {
                command,
                what: format!("timed out after {secs} s"),
                output_tail: apply::tail(&output, 40),
            },
            Checked::ChangedConfig { output } => Cause::CheckBroke {
                command,
                what: "changed the repository configuration (the change was undone)".into(),
                output_tail: apply::tail(&output, 40),
            },
            Checked::CannotRun { code, output } => {
                queue::update(&self.dir, item, |i| i.transition(Status::Queued, "the check could not run"))?;
                return Err(Error::failed_hint(
                    format!("`{command}` could not run (exit {code}): {}", apply::tail(&output, 3)),
                    "fix integrator.verify / integrator.bookkeeping in the configuration; no candidate was blocked",
                ));
            }
        }))
    }

    /// `pushed` (the merge, or the bookkeeping commit on top of it) is on main now;
    /// `merge_commit` is what `deployment.completed` names (SPEC §5: the first commit of
    /// main's first-parent history that contains the sha).
    pub(super) fn delivered(&mut self, item: &Item, merge_commit: &str, pushed: &str) -> Result<()> {
        self.journal.main_tip = Some(pushed.to_string());
        let reason = format!("{} {merge_commit}", super::DELIVERED);
        let it = queue::update(&self.dir, item, |i| i.transition(Status::Integrated, reason.clone()))?;
        self.completed_event(&it, merge_commit)?;
        self.journal.lifecycle(lifecycle::PUSH_SUCCEEDED, Some(&it), obj(json!({"commit": pushed})))?;
        crate::failpoint::point!("after-push-succeeded");
        self.journal.lifecycle(
            lifecycle::CANDIDATE_DELIVERED,
            Some(&it),
            obj(json!({"merge_commit": merge_commit})),
        )?;
        crate::failpoint::point!("after-delivered");
        // The outcome comes last: an integrated item without it is a delivery a killed run
        // left unfinished, which the next run's recovery completes.
        self.cleanup(&it)?;
        self.journal.outcome(&it, Outcome::Integrated, vec![reason])
    }

    /// After delivery: delete the merged branch (only while it still points at the sha)
    /// and run `after_push`.
    pub(super) fn cleanup(&mut self, item: &Item) -> Result<()> {
        let protected = self.cfg.is_protected(&item.branch);
        if self.cfg.integrator.delete_merged_branches && !protected {
            apply::delete_branch(&self.git, &self.cfg, &item.branch, &item.sha, self.lease.token())?;
        }
        if self.cfg.integrator.cleanup_worktrees {
            for wt in super::tidy::remove_landed_worktrees(&self.git, &item.branch, &item.sha)? {
                if self.opts.announce {
                    println!("removed the worktree {} ({} landed)", wt.display(), item.slug);
                }
            }
        }
        if !self.cfg.integrator.after_push.is_empty() {
            let clean = crate::shell::Clean::AfterPush;
            let ran =
                crate::shell::check(&self.cfg.integrator.after_push, self.git.dir(), clean, &item_env(item), None);
            if let Ok(ran) = ran {
                if ran.code != Some(0) {
                    eprintln!("integrator: warning: after_push for {} exited {:?}", item.slug, ran.code);
                }
            }
        }
        Ok(())
    }

    /// Block the candidate: queue status, follow-up note, `deployment.failed`, outcome.
    pub(super) fn block(&mut self, item: &Item, cause: Cause) -> Result<()> {
        let blocked_at = clock::now_string();
        let note = followup::Note::new(&self.cfg, item, self.journal.main_tip.as_deref(), &cause, &blocked_at);
        let reason = cause.reason();
        let it = queue::update(&self.dir, item, |i| i.transition(Status::Blocked, reason.clone()))?;
        note.write(&self.dir)?;
        let p = json!({
            "slug": it.slug, "branch": it.branch, "sha": it.sha,
            "conflict_evidence": cause.evidence(), "diagnostics": cause.diagnostics(),
            "next_action": note.next_action, "blocked_at": blocked_at, "follow_up": note.stem,
        });
        events::record_canonical(&self.dir, events::DEPLOYMENT_FAILED, obj(p), "integrator")?;
        self.journal.lifecycle(lifecycle::CANDIDATE_BLOCKED, Some(&it), obj(json!({"reason": reason})))?;
        self.journal.outcome(&it, Outcome::Blocked, vec![reason])
    }
}

/// What `bookkeeping` and `after_push` are told about the candidate they run for.
pub(super) fn item_env(item: &Item) -> [(&'static str, &str); 3] {
    [("TELECLAUDE_SLUG", item.slug.as_str()), ("TELECLAUDE_BRANCH", &item.branch), ("TELECLAUDE_SHA", &item.sha)]
}
