//! `integrator fence BARE --allowed-signers FILE [--main NAME]`: the server-side fence for
//! a self-hosted bare repository — the only fence a determined process cannot cross. It
//! installs an `update` hook that lets `refs/heads/<main>` move only by fast-forward to
//! commits whose new first-parent chain carries the integrator's trailers and is SSH-signed
//! (`gpg.format=ssh`) by a key in the fence's own copy of the allowed-signers file.

use crate::error::{exit, Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct FenceArgs {
    /// The bare repository on the server (the one agents push to).
    pub bare: PathBuf,
    /// An ssh allowed-signers file (`<principal> <key-type> <key>` per line) naming the
    /// integrator's signing key; copied into the repository.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: PathBuf,
    /// The protected branch.
    #[arg(long, default_value = "main", value_name = "NAME")]
    pub main: String,
}

const BEGIN: &str = "# >>> teleclaude-integrator fence >>>";

pub(crate) fn exec(args: FenceArgs) -> Result<i32> {
    let bare = std::fs::canonicalize(&args.bare)
        .map_err(|e| Error::usage(format!("{}: not a directory: {e}", args.bare.display())))?;
    if !bare.join("objects").is_dir() || !bare.join("refs").is_dir() {
        return Err(Error::usage(format!("{} is not a bare git repository", bare.display())));
    }
    let main = crate::events::check_branch(&args.main).map_err(Error::usage)?;
    let signers = std::fs::read_to_string(&args.allowed_signers)
        .map_err(|e| Error::usage(format!("{}: cannot read: {e}", args.allowed_signers.display())))?;
    if !signers.lines().any(|l| l.split_whitespace().count() >= 3 && !l.trim_start().starts_with('#')) {
        return Err(Error::usage(format!(
            "{}: no `<principal> <key-type> <key>` line: the fence would refuse every push to {}",
            args.allowed_signers.display(),
            args.main
        )));
    }
    let hook_path = bare.join("hooks/update");
    let existing = std::fs::read_to_string(&hook_path).ok();
    if existing.as_deref().is_some_and(|t| !t.contains(BEGIN)) {
        return Err(Error::failed_hint(
            format!("{} already has an update hook that is not the fence", hook_path.display()),
            "merge it into the fence by hand, or move it away and run `integrator fence` again",
        ));
    }
    let dir = bare.join("teleclaude-fence");
    let signers_path = dir.join("allowed_signers");
    let hook = hook_text(&main, &signers_path);
    let same_signers = std::fs::read_to_string(&signers_path).is_ok_and(|t| t == signers);
    if existing.as_deref() == Some(hook.as_str()) && same_signers {
        println!("already fenced: {} (refs/heads/{})", bare.display(), args.main);
        return Ok(exit::OK);
    }
    let io = |what: &Path, e: std::io::Error| Error::io(format_args!("cannot write {}", what.display()), e);
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    crate::store::write_atomic(&signers_path, signers.as_bytes())?;
    std::fs::create_dir_all(bare.join("hooks")).map_err(|e| io(&hook_path, e))?;
    crate::store::write_atomic(&hook_path, hook.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).map_err(|e| io(&hook_path, e))?;
    println!(
        "fenced: {} — refs/heads/{} moves only by fast-forward to integrator-signed merges",
        bare.display(),
        args.main
    );
    println!("allowed signers: {}", signers_path.display());
    Ok(exit::OK)
}

/// Quote for `sh` in single quotes.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `update` hook: `update <ref> <old> <new>`, run by `git receive-pack` in the bare
/// repository for every ref a push updates; a non-zero exit refuses that ref.
fn hook_text(main: &str, signers: &Path) -> String {
    format!(
        r#"#!/bin/sh
{BEGIN}
# Installed by `integrator fence`; only integrator-signed fast-forwards move the branch.
ref="$1" old="$2" new="$3"
main={main_ref}
signers={signers}
[ "$ref" = "$main" ] || exit 0
refuse() {{ echo "FENCE: refusing $ref: $1; only the integrator merges into it" >&2; exit 1; }}
case "$new" in *[!0]*) ;; *) refuse "deleting it" ;; esac
range="$new"
case "$old" in
*[!0]*)
	git merge-base --is-ancestor "$old" "$new" || refuse "not a fast-forward"
	range="$old..$new" ;;
esac
for c in $(git rev-list --first-parent "$range"); do
	slug=$(git log -1 --format='%(trailers:key=Integrated-Slug,valueonly)' "$c")
	[ -n "$slug" ] || refuse "commit $c carries no Integrated-Slug trailer"
	git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$signers" verify-commit "$c" >/dev/null 2>&1 ||
		refuse "commit $c is not signed by a key in $signers"
done
exit 0
# <<< teleclaude-integrator fence <<<
"#,
        main_ref = sh_quote(&format!("refs/heads/{main}")),
        signers = sh_quote(&signers.to_string_lossy()),
    )
}
