//! The one integration-test binary: a module per area, real git, real repositories.

mod support;

mod doctor;
mod events;
mod install;
mod readiness;
mod shadow;
