//! How a `git` / `gh` shim is told apart from the real program on PATH: every shim binary
//! embeds [`SHIM_MARKER`]. `integrator doctor` scans for it; nothing else is needed to
//! recognise a copy of a shim wherever it was installed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The byte string every shim binary carries. Change the version suffix, never reuse it.
pub const SHIM_MARKER: &str = "TELECLAUDE_SHIM_MARKER_v1";

/// Keep the marker in a shim binary: call once from each shim's `main` (an unreferenced
/// constant would be dropped by the optimiser).
pub fn embed() {
    std::hint::black_box(SHIM_MARKER.as_bytes());
}

/// Does the file at `path` carry the shim marker? Unreadable files are not shims.
pub fn is_shim(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| contains(&bytes, SHIM_MARKER.as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let first = needle[0];
    haystack.iter().enumerate().filter(|&(_, &b)| b == first).any(|(i, _)| haystack[i..].starts_with(needle))
}

/// Every executable regular file named `name` on the PATH value `path_var`, in lookup
/// order. An empty PATH entry means the current directory, as for the shell.
pub fn on_path(name: &str, path_var: &OsStr) -> Vec<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir })
        .map(|dir| dir.join(name))
        .filter(|p| is_executable(p))
        .collect()
}

/// A regular file (after symlinks) with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_marker_anywhere_in_the_bytes() {
        let marker = SHIM_MARKER.as_bytes();
        let mut bytes = vec![b'T'; 100];
        assert!(!contains(&bytes, marker));
        bytes.extend_from_slice(marker);
        bytes.extend_from_slice(b"\0tail");
        assert!(contains(&bytes, marker));
        assert!(!contains(&marker[..marker.len() - 1], marker));
    }
}
