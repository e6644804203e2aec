//! Speculative verify, the git side: merge a window of candidates one on top of the other
//! (`git merge-tree --write-tree`, no working tree), then run their checks all at once,
//! each in a private worktree of its own. Nothing here writes the queue, the log or a ref
//! of the remote: [`super::pipeline`] decides what the results mean and lands them in order.

use super::Runner;
use crate::apply::{self, Checked, Merge, Worktree};
use crate::error::{Error, Result};
use crate::git::Git;
use crate::queue::Item;
use crate::readiness::{self, GitFacts};

/// One candidate of a round, merged on top of the ones before it.
pub(super) struct Spec {
    pub item: Item,
    /// What it was merged onto: main as it will be once the candidates before it land.
    pub base: String,
    pub built: Built,
}

/// How a speculation was built.
pub(super) enum Built {
    /// Already on main: nothing to merge.
    OnMain,
    Conflict {
        paths: Vec<String>,
        messages: Vec<String>,
    },
    Failed {
        message: String,
    },
    /// A clean merge commit, to check.
    Merged {
        commit: String,
    },
}

/// Which check stopped a speculation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Which {
    Verify,
    Bookkeeping,
}

/// How the checks of one merged speculation ended.
pub(super) enum Tried {
    /// Every check passed: push `commit` (the merge, or bookkeeping's commit on it).
    Passed { commit: String },
    /// `which` check ended as `checked`, anything but a pass.
    Stopped { which: Which, checked: Checked },
}

/// The checks of one round, owned, so that they run beside the landing of the last one.
pub(super) struct Trial {
    git: Git,
    verify: String,
    bookkeeping: String,
    agent_env: String,
    timeout_secs: u64,
    /// Per speculation of the round: its slot and merge commit, when it has one to check.
    jobs: Vec<Option<(Worktree, String, Item)>>,
}

impl Runner<'_> {
    /// Merge `items` in order, each on top of the last clean merge, from `tip`. Stops
    /// before a candidate the chain already contains (another candidate brought its sha
    /// in): the next round, once those before it landed, settles it as already on main.
    pub(super) fn build(&self, items: &[Item], tip: &str, facts: &GitFacts) -> Result<Vec<Spec>> {
        let mut base = tip.to_string();
        let mut chained: Vec<&str> = Vec::new();
        let mut specs = Vec::new();
        for item in items {
            if facts.is_on_main(&item.sha) {
                specs.push(Spec { item: item.clone(), base: base.clone(), built: Built::OnMain });
                continue;
            }
            let speculative = facts.main_tip.as_deref() != Some(base.as_str());
            if chained.contains(&item.sha.as_str())
                || (speculative && readiness::is_ancestor(&self.git, &item.sha, &base)?)
            {
                break;
            }
            let style = self.cfg.integrator.merge;
            let built = match apply::merge(&self.git, style, &base, &item.slug, &item.branch, &item.sha)? {
                Merge::Clean { commit, .. } => Built::Merged { commit },
                Merge::Conflict { paths, messages } => Built::Conflict { paths, messages },
                Merge::Failed { message } => Built::Failed { message },
            };
            let spec = Spec { item: item.clone(), base: base.clone(), built };
            if let Built::Merged { commit } = &spec.built {
                base = commit.clone();
                chained.push(&item.sha);
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    /// The checks of `specs`, each merged one in a slot worktree of its own (created the
    /// first time a round needs that many; moved from merge to merge after that).
    pub(super) fn trial(&mut self, specs: &[Spec]) -> Result<Trial> {
        let mut jobs = Vec::new();
        let mut used = 0;
        for spec in specs {
            let Built::Merged { commit } = &spec.built else {
                jobs.push(None);
                continue;
            };
            if self.slots.len() == used {
                self.slots.push(Worktree::prepare_slot(&self.git, &self.dir, used + 1, commit)?);
            }
            jobs.push(Some((self.slots[used].clone(), commit.clone(), spec.item.clone())));
            used += 1;
        }
        let i = &self.cfg.integrator;
        Ok(Trial {
            git: self.git.clone(),
            verify: i.verify.clone(),
            bookkeeping: i.bookkeeping.clone(),
            agent_env: self.cfg.guard.agent_env.clone(),
            timeout_secs: i.verify_timeout_secs,
            jobs,
        })
    }
}

impl Trial {
    /// Run every check at once; one result per speculation (None: nothing to check).
    pub(super) fn run(self) -> Vec<Option<Result<Tried>>> {
        std::thread::scope(|s| {
            let running: Vec<_> = self.jobs.iter().map(|job| job.as_ref().map(|j| s.spawn(|| self.one(j)))).collect();
            running
                .into_iter()
                .map(|h| h.map(|h| h.join().unwrap_or_else(|_| Err(Error::failed("a speculative check panicked")))))
                .collect()
        })
    }

    /// Verify, then bookkeeping, in the slot moved to the merge (as the serial run does in
    /// its one private worktree).
    fn one(&self, (wt, merge, item): &(Worktree, String, Item)) -> Result<Tried> {
        wt.move_to(&self.git, merge)?;
        if !self.verify.is_empty() {
            let checked = wt.run_check(&self.verify, &self.agent_env, self.timeout_secs, &[])?;
            if !matches!(checked, Checked::Passed { .. }) {
                return Ok(Tried::Stopped { which: Which::Verify, checked });
            }
        }
        if self.bookkeeping.is_empty() {
            return Ok(Tried::Passed { commit: merge.clone() });
        }
        let env = super::cutover::item_env(item);
        let checked = wt.run_check(&self.bookkeeping, &self.agent_env, self.timeout_secs, &env)?;
        if !matches!(checked, Checked::Passed { .. }) {
            return Ok(Tried::Stopped { which: Which::Bookkeeping, checked });
        }
        Ok(Tried::Passed { commit: wt.commit_changes(&self.git, merge, &item.slug, &item.sha)? })
    }
}
