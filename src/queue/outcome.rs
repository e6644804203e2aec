//! What the last evaluation of a queue item decided.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What happened to one candidate (SPEC §8, §8.2): a cutover result or a shadow verdict.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Integrated,
    Blocked,
    Superseded,
    WouldIntegrate,
    WouldBlock,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Integrated => "integrated",
            Outcome::Blocked => "blocked",
            Outcome::Superseded => "superseded",
            Outcome::WouldIntegrate => "would_integrate",
            Outcome::WouldBlock => "would_block",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The last evaluation of an item (shadow decision or cutover result).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct LastOutcome {
    pub mode: String,
    pub outcome: Outcome,
    pub main_sha: Option<String>,
    pub at: String,
    pub reasons: Vec<String>,
}
