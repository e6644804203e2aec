//! Guard by destination (README "Guarded remotes"): a push from *any* repository to a
//! remote that `install.sh` registered is guarded, also from a fresh clone with no hook.
//!
//! `install.sh` (through `integrator shims`) writes the URLs git resolves for the
//! repository's remote into `<shim-dir>/guarded-remotes`, one `<key> TAB <common-dir>`
//! line each, and a hooks dir `<shim-dir>/hooks` whose `pre-push` runs ours. For a push
//! from a repository that is not guarded itself, the git shim makes git run that hook
//! (`-c core.hooksPath=<shim-dir>/hooks`), naming the registry and the hooks dir git would
//! have used in the environment. git hands the hook the URL it resolved (`insteadOf`,
//! `pushInsteadOf` applied); the hook refuses protected lines when that URL is registered —
//! under the registered repository's policy, lease and log — and always runs the
//! repository's own `pre-push`.

use super::hook_input::{self, Update};
use super::{Context, Refusal};
use crate::error::Result;
use crate::repo::{discover_native, Location};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The registry's file name in the shim dir.
pub(crate) const FILE: &str = "guarded-remotes";
/// The hooks dir (holding our `pre-push`) in the shim dir.
pub(crate) const HOOKS: &str = "hooks";
/// Set by the shim for the hook: the registry to check the URL against.
pub(crate) const REGISTRY_ENV: &str = "TELECLAUDE_GUARDED_REMOTES";
/// Set by the shim for the hook: the hooks dir git would have used (its `pre-push` is run).
pub(crate) const CHAIN_ENV: &str = "TELECLAUDE_CHAINED_HOOKS";

/// One registered remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    /// The common dir of the repository whose policy guards it.
    pub repo: PathBuf,
}

/// The registry's entries; a missing or unreadable file has none.
pub(crate) fn read(registry: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(registry).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(key, repo)| Entry { key: key.to_string(), repo: PathBuf::from(repo) })
        .collect()
}

/// Add `keys` for the repository `repo` (its common dir); the keys newly added.
pub(crate) fn register(registry: &Path, keys: &[String], repo: &Path) -> Result<Vec<String>> {
    let mut entries = read(registry);
    let mut added = Vec::new();
    for key in keys {
        let entry = Entry { key: key.clone(), repo: repo.to_path_buf() };
        if !entries.contains(&entry) {
            entries.push(entry);
            added.push(key.clone());
        }
    }
    if !added.is_empty() {
        let text: String = entries.iter().map(|e| format!("{}\t{}\n", e.key, e.repo.display())).collect();
        crate::store::write_atomic(registry, text.as_bytes())?;
    }
    Ok(added)
}

/// A URL as a comparison key: a local repository (a path or `file://`) is `file://` and its
/// canonical path; a network URL is `host[:port]/path` — scheme and user dropped (ssh and
/// https name the same repository), host *and path* lower-cased (GitHub and GitLab treat
/// `Acme/Widgets` and `acme/widgets` as one repository; for a server whose paths are
/// case-sensitive the guard matches more, never less); no trailing `/` or `.git` either way.
pub(crate) fn url_key(url: &str, cwd: &Path) -> String {
    let n = hook_input::normalise_url(url, cwd);
    if n.starts_with('/') {
        return format!("file://{n}");
    }
    let (rest, scheme) = match n.split_once("://") {
        Some((_, rest)) => (rest, true),
        None => (n.as_str(), false),
    };
    // `host/path` after a scheme, `host:path` in scp form.
    let (host, path) = rest.split_once(if scheme { '/' } else { ':' }).unwrap_or((rest, ""));
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h).to_ascii_lowercase();
    format!("{host}/{}", path.trim_start_matches('/').to_ascii_lowercase())
}

/// The hook for a push the shim routed here. Only a push to a registered URL can be refused.
pub(crate) fn run(argv: &[OsString], input: &[u8], registry: &Path, cwd: &Path) -> Result<()> {
    let url = match argv {
        [_, _name, url, ..] => url.to_string_lossy().into_owned(),
        _ => return Err(hook_input::fail_closed("expected `pre-push <remote-name> <url>` (git passes them)".into())),
    };
    let key = url_key(&url, cwd);
    if let Some(entry) = read(registry).into_iter().find(|e| same_key(&e.key, &key)) {
        let updates = hook_input::parse_updates(input).map_err(hook_input::fail_closed)?;
        let ctx = registered_context(&entry.repo, cwd)?;
        let refusals = refusals(&ctx, &updates, &url);
        if !refusals.is_empty() {
            return Err(super::refuse(&ctx, argv, &refusals));
        }
    }
    chain(argv, input)
}

/// Do two keys name one repository? A network key compares without case, also one
/// registered before keys were lower-cased; a local path exactly.
fn same_key(registered: &str, key: &str) -> bool {
    if key.starts_with("file://") {
        registered == key
    } else {
        registered.eq_ignore_ascii_case(key)
    }
}

/// The registered repository's policy (its config files, lease, mode), seen from `cwd`.
fn registered_context(repo: &Path, cwd: &Path) -> Result<Context> {
    let loc: Location = discover_native(repo, Some(repo)).ok_or_else(|| {
        hook_input::fail_closed(format!("the guarded repository {} registered for this remote is gone", repo.display()))
    })?;
    let cfg =
        crate::config::Config::from_files(&loc.config_sources()).map_err(|e| hook_input::fail_closed(e.sentence()))?;
    Ok(Context { loc: Some(loc), cfg, cwd: cwd.to_path_buf() })
}

/// Every protected line, unless the integrator pushes: another repository is never the
/// old delivery path.
fn refusals(ctx: &Context, updates: &[Update], url: &str) -> Vec<Refusal> {
    if ctx.integrator_authorised() {
        return Vec::new();
    }
    updates
        .iter()
        .filter(|u| u.remote_branch().is_some_and(|b| ctx.is_protected(b)))
        .map(|u| {
            Refusal::main(
                format!(
                    "{url} is a guarded remote: pushes that update or delete its protected branch {} are refused \
                     from any repository; only the integrator moves it",
                    u.remote_ref
                ),
                Some(u.remote_ref.clone()),
            )
        })
        .collect()
}

/// Run the `pre-push` of the hooks dir git would have used, with the same argv and stdin.
fn chain(argv: &[OsString], input: &[u8]) -> Result<()> {
    let Some(dir) = std::env::var_os(CHAIN_ENV).filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let hook = Path::new(&dir).join("pre-push");
    hook_input::run_chained_hook(&hook, &argv[1..], input, "the repository's own hook")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_key_by_repository() {
        let cwd = Path::new("/nonexistent");
        let key = |u: &str| url_key(u, cwd);
        assert_eq!(key("git://127.0.0.1:9418/o.git/"), "127.0.0.1:9418/o");
        assert_eq!(key("git@GitHub.com:o/r.git"), "github.com/o/r");
        assert_eq!(key("https://github.com/o/r"), "github.com/o/r");
        assert_eq!(key("https://github.com/Acme/Widgets.git"), "github.com/acme/widgets");
        assert_eq!(key("git@GITHUB.COM:Acme/Widgets"), "github.com/acme/widgets");
        assert!(same_key("github.com/Acme/Widgets", "github.com/acme/widgets"));
        assert!(!same_key("file:///srv/X", "file:///srv/x"));
        assert_eq!(key("ssh://git@github.com/o/r.git"), "github.com/o/r");
        assert_eq!(key("file:///srv/x.git/"), "file:///srv/x");
        assert_eq!(key("/srv/x"), "file:///srv/x");
    }

    #[test]
    fn the_registry_adds_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join(FILE);
        let keys = vec!["h/o/r".to_string(), "file:///srv/x".to_string()];
        assert_eq!(register(&reg, &keys, Path::new("/r/.git")).unwrap(), keys);
        assert_eq!(register(&reg, &keys, Path::new("/r/.git")).unwrap(), Vec::<String>::new());
        assert_eq!(read(&reg)[1], Entry { key: "file:///srv/x".into(), repo: "/r/.git".into() });
    }
}
