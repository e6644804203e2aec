//! A pure classifier of `git` command lines: global options resolved, the command word
//! found, `push` flags analysed the way git's option parser reads them (any unambiguous
//! prefix of a long option), the agent policy's verdict on destructive commands.
//! No I/O here: the shim asks the real git only for what argv cannot tell (aliases, remotes).

mod agent;
mod alias;
mod commands;
mod config_keys;
mod globals;
mod push;
#[cfg(test)]
mod tests;

pub use agent::{agent_verdict, confirmed_index, AgentVerdict};
pub use alias::split_alias;
pub(crate) use commands::is_builtin;
pub use config_keys::{env_config_keys, is_sensitive_config_key};
pub use globals::{parse, Invocation};
pub(crate) use push::is_http_helper_send_pack;
pub use push::{analyse_push, Push};
