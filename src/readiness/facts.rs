//! What git says about the remote-tracking refs (SPEC §5), gathered in a fixed number of
//! git processes whatever the number of candidates: the ref listing, one `cat-file` for
//! which shas exist, one `rev-list --parents` that answers both "on main?" and "reachable
//! from its branch?" in memory, and (squash merges only) one `log` for main's trailers.

use super::{is_ancestor, Trailers};
use crate::config::{Config, MergeStyle};
use crate::error::Result;
use crate::git::{self, Git};
use crate::projection::Projection;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What git says about the remote, gathered once per evaluation.
#[derive(Debug, Default)]
pub(crate) struct GitFacts {
    /// `<remote>/<main>` tip, if the remote has the branch.
    pub main_tip: Option<String>,
    /// branch → tip on the remote-tracking refs.
    pub branch_tips: HashMap<String, String>,
    /// Asked shas present in the object store as commits.
    pub present: HashSet<String>,
    /// Asked shas that are ancestors of (or equal to) `<remote>/<main>`.
    pub on_main: HashSet<String>,
    /// Shas named by an `Integrated-Sha:` trailer on main's first-parent history.
    pub trailers: HashSet<String>,
    /// (branch, sha) pairs where sha is reachable from the branch tip.
    pub reachable: HashSet<(String, String)>,
}

/// What one evaluation asks git about.
#[derive(Debug, Default)]
pub(crate) struct Ask {
    /// Every sha: each candidate's, each recorded merge commit, and any extra.
    pub shas: BTreeSet<String>,
    /// The shas whose mere presence changes an answer (recorded merge commits, the tip
    /// the last run left): git may gain or lose them without any ref moving.
    pub loose: BTreeSet<String>,
    /// `(branch, sha)` of each slug's winner: whether the sha is reachable from the branch.
    /// Superseded candidates are never asked (their state does not depend on git).
    pub pairs: BTreeSet<(String, String)>,
}

impl Ask {
    /// The questions readiness has about `p`, plus whether each of `also` is on main.
    pub(crate) fn of(p: &Projection, also: &[&str]) -> Ask {
        let mut ask = Ask::default();
        for c in p.candidates() {
            ask.shas.insert(c.sha.clone());
        }
        for w in p.winners().into_values() {
            ask.pairs.insert((w.branch.clone(), w.sha.clone()));
        }
        let merges = p.completed.values().map(String::as_str);
        ask.loose = merges.chain(also.iter().copied()).filter(|s| git::is_full_sha(s)).map(str::to_string).collect();
        ask.shas.extend(ask.loose.iter().cloned());
        ask
    }
}

/// The remote-tracking branches of `cfg`'s remote, by name without the prefix: one
/// `for-each-ref`, the only git process a warm evaluation needs.
pub(crate) fn remote_tips(git: &Git, cfg: &Config) -> Result<HashMap<String, String>> {
    let prefix = format!("refs/remotes/{}/", cfg.integrator.remote);
    let refs = git.capture(&["for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options", &prefix])?;
    Ok(git::parse_ref_list(&refs)
        .into_iter()
        .filter_map(|(name, sha)| Some((name.strip_prefix(&prefix)?.to_string(), sha)))
        .collect())
}

/// Which of `shas` git has as commits: one `cat-file --batch-check`.
pub(crate) fn commits_among<'a>(git: &Git, shas: impl Iterator<Item = &'a String>) -> Result<HashSet<String>> {
    let shas: Vec<&str> = shas.map(String::as_str).collect();
    if shas.is_empty() {
        return Ok(HashSet::new());
    }
    let input = shas.join("\n") + "\n";
    let out = git.capture_stdin(&["cat-file", "--batch-check=%(objectname) %(objecttype)"], input.as_bytes())?;
    let flags = git::parse_batch_check(&shas, &out);
    Ok(shas.iter().zip(flags).filter(|(_, c)| *c).map(|(s, _)| s.to_string()).collect())
}

impl GitFacts {
    /// Is `sha` already on main — as an ancestor, or squashed with our trailer?
    pub(crate) fn is_on_main(&self, sha: &str) -> bool {
        self.on_main.contains(sha) || self.trailers.contains(sha)
    }

    /// Does a recorded `deployment.completed` still hold? Its merge commit is on main, or
    /// unknown here (a record of the old path git cannot check). A merge commit git has
    /// but main no longer contains means main was reset below the integration.
    pub(crate) fn completion_holds(&self, merge_commit: &str) -> bool {
        self.on_main.contains(merge_commit) || !self.present.contains(merge_commit)
    }

    /// Gather the facts for the candidates of `p`, reading main's trailers through
    /// `trailers` (kept across the evaluations of one run). No cache: a run asks again
    /// after every move it makes.
    pub(crate) fn gather_with(git: &Git, cfg: &Config, p: &Projection, trailers: &mut Trailers) -> Result<GitFacts> {
        let tips = remote_tips(git, cfg)?;
        Self::compute(git, cfg, tips, &Ask::of(p, &[]), trailers)
    }

    /// The facts `ask` needs with the remote-tracking refs at `tips`.
    pub(crate) fn compute(
        git: &Git,
        cfg: &Config,
        tips: HashMap<String, String>,
        ask: &Ask,
        trailers: &mut Trailers,
    ) -> Result<GitFacts> {
        let mut facts = GitFacts { main_tip: tips.get(&cfg.integrator.main).cloned(), ..GitFacts::default() };
        facts.branch_tips = tips;
        facts.present = commits_among(git, ask.shas.iter())?;
        let Some(main_tip) = facts.main_tip.clone() else {
            facts.reachable = facts.reachable_without_main(git, ask)?;
            return Ok(facts);
        };
        // One listing of every commit the asked shas and the winners' tips reach that main
        // does not: an asked sha missing from it is on main, and a sha off main is
        // reachable from a tip only through commits of that listing.
        let wanted = facts.wanted(ask);
        let mut input = format!("^{main_tip}\n");
        for s in facts.present.iter().map(String::as_str).chain(wanted.iter().map(|w| w.1)).collect::<BTreeSet<_>>() {
            input.push_str(s);
            input.push('\n');
        }
        let listed = git.capture_stdin(&["rev-list", "--parents", "--stdin"], input.as_bytes())?;
        let graph = git::parse_parents(&listed);
        let on_main: HashSet<String> =
            facts.present.iter().filter(|s| !graph.contains_key(s.as_str())).cloned().collect();
        let mut reachable = HashSet::new();
        let mut reach: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (branch, tip, sha) in wanted {
            // On main, a sha is INTEGRATED whatever its branch says: no walk for it.
            let off_main = || !on_main.contains(sha);
            if tip == sha || (off_main() && reach.entry(tip).or_insert_with(|| git::walk(&graph, tip)).contains(sha)) {
                reachable.insert((branch.to_string(), sha.to_string()));
            }
        }
        (facts.on_main, facts.reachable) = (on_main, reachable);
        // A trailer proves a squash. In merge mode the integrator's merge commit has the
        // candidate as second parent (ancestry already says it); a commit whose message
        // merely carries the trailers proves nothing.
        if cfg.integrator.merge == MergeStyle::Squash {
            facts.trailers = trailers.at(git, &main_tip)?;
        }
        Ok(facts)
    }

    /// `(branch, tip, sha)` of each asked pair whose sha git has and whose branch exists.
    fn wanted<'a>(&'a self, ask: &'a Ask) -> Vec<(&'a str, &'a str, &'a str)> {
        ask.pairs
            .iter()
            .filter(|(_, sha)| self.present.contains(sha))
            .filter_map(|(branch, sha)| Some((branch.as_str(), self.branch_tips.get(branch)?.as_str(), sha.as_str())))
            .collect()
    }

    /// Reachability when the remote has no main to cut a listing short: a sha at its tip,
    /// else one `merge-base` per pair rather than a listing of all history.
    fn reachable_without_main(&self, git: &Git, ask: &Ask) -> Result<HashSet<(String, String)>> {
        let mut out = HashSet::new();
        for (branch, tip, sha) in self.wanted(ask) {
            if tip == sha || is_ancestor(git, sha, tip)? {
                out.insert((branch.to_string(), sha.to_string()));
            }
        }
        Ok(out)
    }

    /// The warning for a main that moved backwards: `seen` (the tip the last run left, an
    /// asked sha) is a commit git has and is no longer on `<remote>/<main>`.
    pub(crate) fn rewound(&self, cfg: &Config, seen: Option<&str>) -> Option<String> {
        let (seen, now) = (seen?, self.main_tip.as_deref()?);
        if seen == now || !self.present.contains(seen) || self.on_main.contains(seen) {
            return None;
        }
        Some(super::rewound_message(cfg, seen, now))
    }
}
