//! A candidate (SPEC §5): this branch at this sha, for this slug — the identity the log,
//! readiness, the queue and the run all speak of.

use crate::clock;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `(slug, branch, sha)`. Ordered by slug, then branch, then sha.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Candidate {
    pub slug: String,
    pub branch: String,
    pub sha: String,
}

impl Candidate {
    pub(crate) fn new(slug: impl Into<String>, branch: impl Into<String>, sha: impl Into<String>) -> Candidate {
        Candidate { slug: slug.into(), branch: branch.into(), sha: sha.into() }
    }

    /// The identity as one string, `slug:branch:sha` (queue keys, outcome keys, recorded
    /// drops). Slugs and shas hold no `:`, so it splits back unambiguously.
    pub(crate) fn key(&self) -> String {
        format!("{}:{}:{}", self.slug, self.branch, self.sha)
    }
}

/// "slug (branch@abc1234)", as messages name a candidate.
impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}@{})", self.slug, self.branch, crate::git::short(&self.sha))
    }
}

/// Anything that names a candidate: queue items, readiness views, `deployment.started`s.
pub(crate) trait Named {
    fn slug(&self) -> &str;
    fn branch(&self) -> &str;
    fn sha(&self) -> &str;

    /// The candidate it names.
    fn candidate(&self) -> Candidate {
        Candidate::new(self.slug(), self.branch(), self.sha())
    }

    /// Does it name the same candidate as `other`?
    fn names(&self, other: &impl Named) -> bool {
        self.sha() == other.sha() && self.branch() == other.branch() && self.slug() == other.slug()
    }
}

/// Implements [`Named`] for a struct with `slug`, `branch` and `sha` fields.
macro_rules! named {
    ($($t:ty),*) => {$(
        impl $crate::candidate::Named for $t {
            fn slug(&self) -> &str {
                &self.slug
            }
            fn branch(&self) -> &str {
                &self.branch
            }
            fn sha(&self) -> &str {
                &self.sha
            }
        }
    )*};
}
pub(crate) use named;

named!(Candidate);

/// A `deployment.started`: this branch at this sha is declared ready to merge.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Started {
    pub slug: String,
    pub branch: String,
    pub sha: String,
    pub ready_at: String,
}

named!(Started);

impl Started {
    /// The supersession order of SPEC §5: `(ready_at, branch, sha)` with real timestamps.
    pub(crate) fn order_key(&self) -> (i128, &str, &str) {
        (clock::nanos(&self.ready_at), &self.branch, &self.sha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_shows_its_slug_branch_and_short_sha() {
        let c = Candidate::new("login", "feat/login", "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(c.to_string(), "login (feat/login@0123456)");
        assert_eq!(c.key(), "login:feat/login:0123456789abcdef0123456789abcdef01234567");
        let later = Candidate::new("login", "feat/login", "1123456789abcdef0123456789abcdef01234567");
        assert!(c < later && c.names(&c.clone()) && !c.names(&later));
    }
}
