//! `git push` flags read the way git's option parser reads them: any unambiguous prefix
//! of a long option.

/// The long options of `git push` (and their `no-` forms) as its option parser knows them.
const PUSH_LONG: &[(&str, bool)] = &[
    ("all", false),
    ("atomic", false),
    ("branches", false),
    ("delete", false),
    ("dry-run", false),
    ("exec", true),
    ("follow-tags", false),
    ("force", false),
    ("force-if-includes", false),
    ("force-with-lease", false),
    ("ipv4", false),
    ("ipv6", false),
    ("mirror", false),
    ("no-atomic", false),
    ("no-all", false),
    ("no-branches", false),
    ("no-delete", false),
    ("no-dry-run", false),
    ("no-exec", false),
    ("no-follow-tags", false),
    ("no-force", false),
    ("no-force-if-includes", false),
    ("no-force-with-lease", false),
    ("no-mirror", false),
    ("no-porcelain", false),
    ("no-progress", false),
    ("no-prune", false),
    ("no-push-option", false),
    ("no-quiet", false),
    ("no-receive-pack", false),
    ("no-recurse-submodules", false),
    ("no-repo", false),
    ("no-set-upstream", false),
    ("no-signed", false),
    ("no-tags", false),
    ("no-thin", false),
    ("no-verbose", false),
    ("no-verify", false),
    ("porcelain", false),
    ("progress", false),
    ("prune", false),
    ("push-option", true),
    ("quiet", false),
    ("receive-pack", true),
    ("recurse-submodules", true),
    ("repo", true),
    ("set-upstream", false),
    ("signed", false),
    ("tags", false),
    ("thin", false),
    ("verbose", false),
    ("verify", false),
];

/// What a `git push` command line asks for, as far as the guard cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Push {
    /// `--no-verify` or any abbreviation git could read as it: the hook would not run.
    pub no_verify: bool,
    pub mirror: bool,
    /// `--receive-pack` / `--exec`: another program on the remote side.
    pub receive_pack: bool,
    /// The repository named (`--repo` or the first positional argument).
    pub repo: Option<String>,
}

/// The long options `name` (without `--` and `=value`) may mean: the exact one, else
/// every option it is a prefix of (git refuses ambiguous prefixes; we assume the worst).
pub(super) fn long_candidates(name: &str) -> Vec<(&'static str, bool)> {
    if let Some(exact) = PUSH_LONG.iter().find(|(o, _)| *o == name) {
        return vec![*exact];
    }
    if name.is_empty() {
        return Vec::new();
    }
    PUSH_LONG.iter().filter(|(o, _)| o.starts_with(name)).copied().collect()
}

/// Analyse the arguments after `push`.
pub fn analyse_push(args: &[String]) -> Push {
    let mut p = Push::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let cands = long_candidates(name);
            let names: Vec<&str> = cands.iter().map(|(n, _)| *n).collect();
            p.no_verify |= names.contains(&"no-verify");
            p.mirror |= names.contains(&"mirror");
            p.receive_pack |= names.contains(&"receive-pack") || names.contains(&"exec");
            let takes_value = cands.len() == 1 && cands[0].1;
            let value = match value {
                Some(v) => Some(v),
                None if takes_value => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
                None => None,
            };
            if names == ["repo"] {
                p.repo = value;
            }
        } else if a.len() > 1 && a.starts_with('-') {
            // Bundled short flags; `-o` takes the rest of the word or the next argument.
            if let Some(pos) = a[1..].find('o') {
                if pos + 2 == a.len() {
                    i += 1;
                }
            }
        } else {
            positional.push(a.to_string());
        }
    }
    if p.repo.is_none() {
        p.repo = positional.first().cloned();
    }
    p
}

/// The options git's HTTP remote helper (`remote-curl.c`, `push_git`) passes to the
/// `git send-pack --stateless-rpc --helper-status` it runs, besides the URL.
const HELPER_SEND_PACK: &[&str] = &[
    "--thin",
    "--dry-run",
    "--signed=yes",
    "--signed=if-asked",
    "--atomic",
    "--quiet",
    "--verbose",
    "--progress",
    "--no-progress",
    "--force-with-lease",
    "--force-if-includes",
    "--stdin",
];

/// Are `send-pack`'s `args` exactly the form git's HTTP remote helper runs: first
/// `--stateless-rpc --helper-status`, then only the options it passes, one URL, and
/// `--stdin`? In that form send-pack opens no connection: it reads the refs and the
/// refspecs on stdin and writes its request to stdout for the helper to POST (README
/// "Pushes over HTTP"). Any other option — `--no-stateless-rpc`, `--receive-pack`, `--`
/// — is not that form.
pub(crate) fn is_http_helper_send_pack(args: &[String]) -> bool {
    let [rpc, status, rest @ ..] = args else {
        return false;
    };
    if rpc != "--stateless-rpc" || status != "--helper-status" || !rest.iter().any(|a| a == "--stdin") {
        return false;
    }
    let urls = rest.iter().filter(|a| !a.starts_with('-')).count();
    urls == 1
        && rest.iter().filter(|a| a.starts_with('-')).all(|a| {
            HELPER_SEND_PACK.contains(&a.as_str())
                || a.starts_with("--push-option=")
                || a.starts_with("--force-with-lease=")
        })
}
