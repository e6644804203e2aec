//! `integrator demo`: placeholder replaced below.
use crate::error::{Error, Result};
pub fn run(_keep: bool) -> Result<i32> {
    Err(Error::failed("demo is not implemented yet"))
}
