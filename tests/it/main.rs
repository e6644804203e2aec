//! The one integration-test binary: a module per area.

mod support;

mod guard_gh_shim;
mod guard_git_shim;
mod guard_prepush;
