//! The block install.sh writes into a hooks dir's `pre-push`: the lines around it, and
//! what it says (the `pre-push` it execs, the shim dir at install time). Read by `doctor`,
//! by the guards (is our hook the one git will run?) and written by `integrator shims`.

use std::path::PathBuf;

/// The lines install.sh writes around its block (kept identical to install.sh).
pub const HOOK_BEGIN: &str = "# >>> teleclaude-integrator pre-push >>>";
pub const HOOK_END: &str = "# <<< teleclaude-integrator pre-push <<<";

/// What a hook's marker block says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookBlock {
    /// The absolute `pre-push` the block execs (`hook='…'`).
    pub target: PathBuf,
    /// The shim dir recorded at install time (`# shims: …`).
    pub shim_dir: Option<PathBuf>,
}

/// Parse the install.sh block out of a hook script; None when there is no complete block.
pub fn parse_hook_block(text: &str) -> Option<HookBlock> {
    let mut lines = text.lines().skip_while(|l| *l != HOOK_BEGIN);
    lines.next()?;
    let mut target = None;
    let mut shim_dir = None;
    for line in lines {
        if line == HOOK_END {
            return Some(HookBlock { target: target?, shim_dir });
        }
        if let Some(v) = line.strip_prefix("hook=") {
            target = sh_unquote(v).map(PathBuf::from);
        } else if let Some(v) = line.strip_prefix("# shims: ") {
            shim_dir = Some(PathBuf::from(v));
        }
    }
    None
}

/// Undo install.sh's quoting: `'…'` pieces joined by `\'`.
fn sh_unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else {
            let r = rest.strip_prefix('\'')?;
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_block_round_trip() {
        let text = format!(
            "#!/bin/sh\n{HOOK_BEGIN}\n# shims: /h/.teleclaude/shims\nhook='/h/it'\\''s/pre-push'\nexec \"$hook\" \"$@\"\n{HOOK_END}\n"
        );
        assert_eq!(
            parse_hook_block(&text),
            Some(HookBlock {
                target: PathBuf::from("/h/it's/pre-push"),
                shim_dir: Some(PathBuf::from("/h/.teleclaude/shims")),
            })
        );
        assert_eq!(parse_hook_block("#!/bin/sh\necho foreign\n"), None);
        // A block cut short is not a block.
        assert_eq!(parse_hook_block(&format!("{HOOK_BEGIN}\nhook='/x'\n")), None);
    }
}
