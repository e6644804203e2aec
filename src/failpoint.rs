//! Named failpoints: places in a run where a test kills or pauses the process exactly
//! (RELIABILITY.md, "`kill -9` at any point"). Compiled in only with the cargo feature
//! `failpoints` (`cargo test --locked --features failpoints`); without it [`point!`] is
//! nothing and [`setup`] reads no environment variable.
//!
//! With the feature, `TELECLAUDE_FAILPOINTS=<name>=<action>;...` configures them at binary
//! start. `kill` sends SIGKILL to the process itself (a crash no code can clean up after);
//! any other action is the `fail` crate's (`sleep(<ms>)`, `pause`, `panic`, `off`, …).
//!
//! The points: `after-dequeued`, `after-merge`, `after-push` (the push landed, nothing
//! recorded yet), `after-completed` (each `deployment.completed` the run records),
//! `after-push-succeeded`, `after-delivered`, `after-speculative-verify` (a round of
//! speculative verify checked, and the round before it landed), and in the event bus
//! `bridge-after-append`
//! (a batch appended to the log, not yet acknowledged on the stream).

/// The environment variable a test sets to configure failpoints.
#[cfg(feature = "failpoints")]
const ENV: &str = "TELECLAUDE_FAILPOINTS";

/// A named failpoint (a no-op without the `failpoints` feature).
macro_rules! point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name);
    };
}
pub(crate) use point;

/// Configure the failpoints `TELECLAUDE_FAILPOINTS` names (only with the feature).
/// A malformed setting is a test's mistake: say so and exit 2.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    if let Some(spec) = std::env::var_os(ENV) {
        if let Err(why) = configure(&spec.to_string_lossy()) {
            eprintln!("integrator: error: {ENV}: {why}");
            std::process::exit(2);
        }
    }
}

#[cfg(feature = "failpoints")]
fn configure(spec: &str) -> Result<(), String> {
    for entry in spec.split(';').filter(|e| !e.trim().is_empty()) {
        let (name, action) = entry.split_once('=').ok_or_else(|| format!("`{entry}` is not <name>=<action>"))?;
        let (name, action) = (name.trim(), action.trim());
        if action == "kill" {
            fail::cfg_callback(name, || {
                // SAFETY: signalling this very process.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            })?;
        } else {
            fail::cfg(name, action)?;
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    #[test]
    fn a_setting_without_an_action_is_refused() {
        assert_eq!(super::configure("after-merge").unwrap_err(), "`after-merge` is not <name>=<action>");
        assert!(super::configure("after-merge=bogus(").is_err());
        assert!(super::configure(" ; after-merge=off ;").is_ok());
    }
}
