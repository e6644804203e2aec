//! `git-facts.json`: the git facts of the last evaluation, kept with the ref values they
//! were computed from and the questions they answer. The facts are a function of those
//! ref values alone (every git process after the ref listing is given shas, never ref
//! names), so a reader whose refs are unchanged and whose questions are covered needs no
//! git process but the `for-each-ref`. Anything else — another remote, main or merge
//! style, a moved ref, a new question, a damaged or foreign file — is a miss: the facts are
//! computed afresh and the file replaced (temp file and rename; a crash leaves the old
//! file or none, and a file that does not check out is ignored, never trusted).

use super::facts::{commits_among, remote_tips, Ask, GitFacts};
use super::Trailers;
use crate::config::{Config, MergeStyle};
use crate::error::Result;
use crate::git::{self, Git};
use crate::projection::Projection;
use crate::store::{self, StateDir};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The file's name in the state dir.
pub(crate) const FILE: &str = "git-facts.json";
const VERSION: u32 = 1;

/// `git-facts.json` (state-schema/git-facts.schema.json).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cached {
    version: u32,
    remote: String,
    main: String,
    merge: MergeStyle,
    /// `<remote>/<main>` when the facts were computed (null: the remote had no main).
    main_tip: Option<String>,
    /// The tip of each branch of `pairs` (null: the remote had no such branch).
    tips: BTreeMap<String, Option<String>>,
    /// Every sha asked about.
    asked: BTreeSet<String>,
    /// Every `(branch, sha)` whose reachability was asked.
    pairs: BTreeSet<(String, String)>,
    present: BTreeSet<String>,
    on_main: BTreeSet<String>,
    trailers: BTreeSet<String>,
    reachable: BTreeSet<(String, String)>,
}

/// The facts readiness needs about `p` (and whether each of `also` is on main): from
/// `git-facts.json` when it answers them for the refs as they are, else from git.
pub(crate) fn facts(git: &Git, cfg: &Config, p: &Projection, dir: &StateDir, also: &[&str]) -> Result<GitFacts> {
    let tips = remote_tips(git, cfg)?;
    let ask = Ask::of(p, also);
    let path = dir.file(FILE);
    let cached = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Cached>(&b).ok());
    if let Some(c) = cached.filter(|c| c.answers(cfg, &tips, &ask)) {
        if c.loose_unchanged(git, &ask)? {
            return Ok(c.into_facts(tips));
        }
    }
    let facts = GitFacts::compute(git, cfg, tips, &ask, &mut Trailers::default())?;
    if dir.root().is_dir() {
        // A cache write: losing it only costs the next reader the git processes.
        let _ = serde_json::to_vec(&Cached::of(cfg, &ask, &facts)).map(|b| store::write_cache(&path, &b));
    }
    Ok(facts)
}

impl Cached {
    fn of(cfg: &Config, ask: &Ask, f: &GitFacts) -> Cached {
        let set = |s: &HashSet<String>| s.iter().cloned().collect();
        Cached {
            version: VERSION,
            remote: cfg.integrator.remote.clone(),
            main: cfg.integrator.main.clone(),
            merge: cfg.integrator.merge,
            main_tip: f.main_tip.clone(),
            tips: ask.pairs.iter().map(|(b, _)| (b.clone(), f.branch_tips.get(b).cloned())).collect(),
            asked: ask.shas.clone(),
            pairs: ask.pairs.clone(),
            present: set(&f.present),
            on_main: set(&f.on_main),
            trailers: set(&f.trailers),
            reachable: f.reachable.iter().cloned().collect(),
        }
    }

    /// Were these facts computed for this configuration, from these ref values, for
    /// (at least) these questions — and are they whole?
    fn answers(&self, cfg: &Config, tips: &HashMap<String, String>, ask: &Ask) -> bool {
        let i = &cfg.integrator;
        let same_config =
            self.version == VERSION && self.remote == i.remote && self.main == i.main && self.merge == i.merge;
        let same_refs = self.main_tip.as_ref() == tips.get(&i.main)
            && ask.pairs.iter().all(|(b, _)| self.tips.get(b).is_some_and(|t| t.as_ref() == tips.get(b)));
        let covered = ask.shas.is_subset(&self.asked) && ask.pairs.is_subset(&self.pairs);
        same_config && same_refs && covered && self.is_whole()
    }

    /// The sets hang together (what a torn or edited file is unlikely to keep).
    fn is_whole(&self) -> bool {
        let shas_ok = self.asked.iter().chain(&self.trailers).chain(self.main_tip.iter()).all(|s| git::is_full_sha(s));
        shas_ok
            && self.present.is_subset(&self.asked)
            && self.on_main.is_subset(&self.present)
            && self.reachable.is_subset(&self.pairs)
            && self.pairs.iter().all(|(b, s)| self.tips.contains_key(b) && self.asked.contains(s))
    }

    /// A loose sha off main (a recorded merge commit, the last run's tip) can appear in or
    /// vanish from the object store without any ref moving: its presence is asked again.
    /// One `cat-file`, and only while such a sha exists.
    fn loose_unchanged(&self, git: &Git, ask: &Ask) -> Result<bool> {
        let loose: Vec<&String> = ask.loose.iter().filter(|s| !self.on_main.contains(*s)).collect();
        if loose.is_empty() {
            return Ok(true);
        }
        let now = commits_among(git, loose.iter().copied())?;
        Ok(loose.iter().all(|s| now.contains(*s) == self.present.contains(*s)))
    }

    fn into_facts(self, tips: HashMap<String, String>) -> GitFacts {
        GitFacts {
            main_tip: self.main_tip,
            branch_tips: tips,
            present: self.present.into_iter().collect(),
            on_main: self.on_main.into_iter().collect(),
            trailers: self.trailers.into_iter().collect(),
            reachable: self.reachable.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(40)
    }

    /// Every question counts: a sha never asked (a late, already superseded candidate; a
    /// new recorded merge) is a miss even when every branch question was asked before.
    #[test]
    fn a_sha_or_a_branch_question_never_asked_is_a_miss() {
        let cfg = Config::default();
        let pair = ("feat/x".to_string(), sha('a'));
        let ask = || Ask { shas: [sha('a')].into(), loose: BTreeSet::new(), pairs: [pair.clone()].into() };
        let tips = HashMap::from([("feat/x".to_string(), sha('a'))]);
        let facts = GitFacts {
            branch_tips: tips.clone(),
            present: [sha('a')].into(),
            reachable: [pair.clone()].into(),
            ..GitFacts::default()
        };
        let cached = Cached::of(&cfg, &ask(), &facts);
        assert!(cached.answers(&cfg, &tips, &ask()));
        let mut new_sha = ask();
        new_sha.shas.insert(sha('b'));
        assert!(!cached.answers(&cfg, &tips, &new_sha), "a new sha, the same branch questions");
        let mut new_pair = ask();
        new_pair.pairs.insert(("feat/x".to_string(), sha('b')));
        new_pair.shas.insert(sha('b'));
        assert!(!cached.answers(&cfg, &tips, &new_pair), "a new branch question");
    }

    /// A file whose branch questions do not hang together with its shas and tips (torn or
    /// edited) is never trusted.
    #[test]
    fn a_branch_question_without_its_sha_or_its_tip_is_not_whole() {
        let pair = ("feat/x".to_string(), sha('a'));
        let whole = || Cached {
            version: VERSION,
            remote: "origin".into(),
            main: "main".into(),
            merge: MergeStyle::Merge,
            main_tip: None,
            tips: [("feat/x".to_string(), Some(sha('a')))].into(),
            asked: [sha('a')].into(),
            pairs: [pair.clone()].into(),
            present: BTreeSet::new(),
            on_main: BTreeSet::new(),
            trailers: BTreeSet::new(),
            reachable: BTreeSet::new(),
        };
        assert!(whole().is_whole());
        let mut no_sha = whole();
        no_sha.asked.clear();
        assert!(!no_sha.is_whole(), "a pair whose sha was never asked");
        let mut no_tip = whole();
        no_tip.tips.clear();
        assert!(!no_tip.is_whole(), "a pair whose branch has no recorded tip");
    }
}
