//! The one integration-test binary: a module per area, sharing the sandbox in `support`.

mod support;

mod doctor;
mod install;
