//! What the `pre-push` hook is given, shared by the hook of a guarded repository
//! ([`super::prepush`]) and the hook a routed push runs ([`super::destination`]): the
//! stdin lines, URLs in a comparable form, and the fail-closed error.

use crate::error::Error;
use crate::events::printable;
use std::path::Path;

/// One line of the hook's stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub local_ref: String,
    pub local_sha: String,
    pub remote_ref: String,
    pub remote_sha: String,
}

impl Update {
    /// A deletion: git sends `(delete)` and the null object name as the local side.
    pub fn is_delete(&self) -> bool {
        self.local_sha.bytes().all(|b| b == b'0')
    }

    /// The branch the remote side names, if it is a branch.
    pub fn remote_branch(&self) -> Option<&str> {
        self.remote_ref.strip_prefix("refs/heads/")
    }
}

pub(crate) fn is_object_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parse the hook's stdin. Any malformed line rejects the whole input (fail closed).
pub fn parse_updates(input: &[u8]) -> std::result::Result<Vec<Update>, String> {
    let text = std::str::from_utf8(input).map_err(|_| "stdin is not UTF-8".to_string())?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let [local_ref, local_sha, remote_ref, remote_sha] = fields[..] else {
            return Err(format!(
                "stdin line {}: expected `<local ref> <local sha> <remote ref> <remote sha>`, got `{}`",
                n + 1,
                printable(line)
            ));
        };
        if local_ref.is_empty() || !remote_ref.starts_with("refs/") {
            return Err(format!("stdin line {}: bad ref names in `{}`", n + 1, printable(line)));
        }
        if !is_object_name(local_sha) || !is_object_name(remote_sha) {
            return Err(format!("stdin line {}: bad object names in `{}`", n + 1, printable(line)));
        }
        out.push(Update {
            local_ref: local_ref.to_string(),
            local_sha: local_sha.to_ascii_lowercase(),
            remote_ref: remote_ref.to_string(),
            remote_sha: remote_sha.to_ascii_lowercase(),
        });
    }
    Ok(out)
}

/// A URL in a comparable form: no `file://`, no trailing `/` or `.git`, local paths absolute.
pub(crate) fn normalise_url(url: &str, cwd: &Path) -> String {
    let mut u = url.strip_prefix("file://").unwrap_or(url).trim_end_matches('/');
    u = u.strip_suffix(".git").unwrap_or(u).trim_end_matches('/');
    let scp_like = u.find(':').is_some_and(|c| !u[..c].contains('/'));
    if u.contains("://") || scp_like {
        return u.to_string();
    }
    let p = cwd.join(u);
    let p = std::fs::canonicalize(&p).or_else(|_| std::fs::canonicalize(format!("{}.git", p.display()))).unwrap_or(p);
    let s = p.to_string_lossy();
    s.strip_suffix(".git").unwrap_or(&s).to_string()
}

/// A push refused because the guard itself failed: the hook never lets an error through.
pub(crate) fn fail_closed(message: String) -> Error {
    Error::failed_hint(
        format!("push refused because the guard could not check it: {message}"),
        "fix the cause above and push again; `integrator doctor` checks the installation",
    )
}

/// Run another `pre-push` (`what` names it in the refusal) with the same argv and stdin
/// bytes, when it exists and is executable; its failure fails the push, and a hook that
/// cannot be started fails it closed.
pub(crate) fn run_chained_hook(
    hook: &Path,
    args: &[std::ffi::OsString],
    input: &[u8],
    what: &str,
) -> Result<(), Error> {
    if !crate::shim_marker::is_executable(hook) {
        return Ok(());
    }
    let status = crate::shell::feed(hook, args, input)
        .map_err(|e| fail_closed(format!("cannot run {}: {e}", hook.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::failed(format!("{what} {} refused the push ({status})", hook.display())))
    }
}

/// Object names and updates for the hooks' unit tests.
#[cfg(test)]
pub(crate) mod test_lines {
    use super::Update;

    pub(crate) const A: &str = "1111111111111111111111111111111111111111";
    pub(crate) const Z: &str = "0000000000000000000000000000000000000000";

    pub(crate) fn line(l: &str, ls: &str, r: &str, rs: &str) -> Update {
        Update { local_ref: l.into(), local_sha: ls.into(), remote_ref: r.into(), remote_sha: rs.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::test_lines::{line, A, Z};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_updates_and_deletions() {
        let input = format!("refs/heads/f {A} refs/heads/main {Z}\n(delete) {Z} refs/heads/main {A}\n");
        let u = parse_updates(input.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert!(!u[0].is_delete());
        assert!(u[1].is_delete());
        assert_eq!(u[1].remote_branch(), Some("main"));
        assert_eq!(parse_updates(b"").unwrap(), vec![]);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse_updates(b"refs/heads/f abc refs/heads/main def\n").is_err());
        assert!(parse_updates(format!("refs/heads/f {A} refs/heads/main\n").as_bytes()).is_err());
        assert!(parse_updates(format!("refs/heads/f {A} main {Z}\n").as_bytes()).is_err());
        assert!(parse_updates(&[0xff, b'\n']).is_err());
    }

    #[test]
    fn urls_normalise() {
        let cwd = Path::new("/nonexistent");
        assert_eq!(normalise_url("file:///srv/x.git/", cwd), "/srv/x");
        assert_eq!(normalise_url("git@h:o/r.git", cwd), "git@h:o/r");
        assert_eq!(normalise_url("https://h/o/r", cwd), "https://h/o/r");
    }

    proptest! {
        #[test]
        fn well_formed_lines_round_trip(
            l in "[A-Za-z0-9/_.-]{1,30}", r in "refs/[a-z0-9/_-]{1,30}",
            ls in "[0-9a-f]{40}", rs in "[0-9a-f]{40}",
        ) {
            let u = parse_updates(format!("{l} {ls} {r} {rs}\n").as_bytes()).unwrap();
            prop_assert_eq!(u, vec![line(&l, &ls, &r, &rs)]);
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_updates(&bytes);
        }
    }
}
