//! Shadow mode (SPEC §8.2): record what the integrator would do with a candidate —
//! would_integrate or would_block — without writing any ref of the remote or local main.

use super::{Outcome, Runner};
use crate::apply::{self, Checked, Merge};
use crate::error::{Error, Result};
use crate::queue::Item;
use crate::readiness::GitFacts;

impl Runner<'_> {
    /// Record what would happen, only when main or the candidate changed.
    pub(super) fn shadow(&mut self, item: Item, facts: &GitFacts) -> Result<()> {
        let Some(tip) = facts.main_tip.clone() else {
            return Err(Error::failed(format!("{} does not exist", self.remote_main())));
        };
        if item.last_outcome.as_ref().is_some_and(|o| o.mode == "shadow" && o.main_sha.as_deref() == Some(tip.as_str()))
        {
            return Ok(());
        }
        let merged = apply::merge(&self.git, self.cfg.integrator.merge, &tip, &item.slug, &item.branch, &item.sha)?;
        let (outcome, reasons, tree) = match merged {
            Merge::Clean { commit, tree } => match self.verify_in_shadow(&commit)? {
                None => (
                    Outcome::WouldIntegrate,
                    vec![format!("merges cleanly onto {}", crate::git::short(&tip))],
                    Some(tree),
                ),
                Some(fail) => (Outcome::WouldBlock, vec![fail], Some(tree)),
            },
            Merge::Conflict { paths, .. } => {
                (Outcome::WouldBlock, paths.iter().map(|p| format!("conflict in {p}")).collect(), None)
            }
            Merge::Failed { message } => (Outcome::WouldBlock, vec![message], None),
        };
        self.journal.record_outcome(&item, outcome, reasons.clone(), tree)?;
        self.journal.done(&item, outcome, reasons);
        Ok(())
    }

    fn verify_in_shadow(&mut self, commit: &str) -> Result<Option<String>> {
        if !self.cfg.integrator.verify_in_shadow || self.cfg.integrator.verify.is_empty() {
            return Ok(None);
        }
        let wt = self.worktree_at(commit)?;
        let shown = self.timed(format!("verify (shadow): running `{}`", self.cfg.integrator.verify));
        let cfg = &self.cfg.integrator;
        let verify = &cfg.verify;
        let checked = wt.run_check(verify, &self.cfg.guard.agent_env, cfg.verify_timeout_secs, &[], true);
        drop(shown);
        Ok(match checked? {
            Checked::Passed { .. } => None,
            Checked::Failed { code, output } | Checked::CannotRun { code, output } => {
                Some(format!("verify `{verify}` failed (exit {code}): {}", apply::tail(&output, 5)))
            }
            Checked::TimedOut { secs, .. } => Some(format!("verify `{verify}` timed out after {secs} s")),
            Checked::ChangedConfig { .. } => {
                Some(format!("verify `{verify}` changed the repository configuration (the change was undone)"))
            }
        })
    }
}
