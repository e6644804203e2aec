//! The one integration-test binary: a module per area, real git, real repositories.

mod support;

mod cutover;
mod events;
mod readiness;
mod shadow;
