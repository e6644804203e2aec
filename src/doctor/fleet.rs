//! The fleet's findings (README "Fleet"), from [`crate::fleet::report`].

use super::Finding;
use crate::config::Config;
use crate::repo::Repo;

pub(super) fn check(repo: &Repo) -> Vec<Finding> {
    let Ok(cfg) = Config::load(&repo.loc.config_sources()) else { return Vec::new() };
    crate::fleet::report::facts(repo, &cfg)
        .into_iter()
        .map(|(check, ok, message, fix)| Finding { check: check.into(), ok, message, fix })
        .collect()
}
