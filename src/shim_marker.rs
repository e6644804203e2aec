//! How a `git` / `gh` shim is told apart from the real program on PATH: every shim binary
//! embeds [`SHIM_MARKER`]. `integrator doctor` scans for it; nothing else is needed to
//! recognise a copy of a shim wherever it was installed.

use std::ffi::OsStr;
use std::io::Read;
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
    std::fs::File::open(path).is_ok_and(|f| contains(f, SHIM_MARKER).unwrap_or(false))
}

/// Stream `reader` looking for the ASCII `needle`, in chunks that overlap by its length.
/// The search is the C library's `memmem` (vectorised, and fast in unoptimised builds
/// too): viewing the bytes as UTF-8 first cost ~20 ms per git binary scanned, on every
/// `integrator` command, since the gateway checks that the git it runs is not a shim.
fn contains(mut reader: impl Read, needle: &str) -> std::io::Result<bool> {
    const CHUNK: usize = 1 << 20;
    let keep = needle.len() - 1;
    let mut buf = vec![0u8; CHUNK + keep];
    let mut filled = 0;
    loop {
        let n = reader.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if find(&buf[..filled], needle.as_bytes()) {
            return Ok(true);
        }
        if filled > keep {
            buf.copy_within(filled - keep..filled, 0);
            filled = keep;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    // SAFETY: both pointers are valid for their lengths for the duration of the call,
    // and memmem only reads them.
    let at = unsafe { libc::memmem(hay.as_ptr().cast(), hay.len(), needle.as_ptr().cast(), needle.len()) };
    !at.is_null()
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

/// Where a real program usually lives when PATH has none.
pub const USUAL_BIN_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin", "/bin"];

/// The real `name`: the first one on `path_var` that is not a shim, else one in the usual
/// system dirs. For tools that must keep working while the shims on PATH are broken.
pub fn real_program(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    let usual = USUAL_BIN_DIRS.iter().map(|d| Path::new(d).join(name)).filter(|p| is_executable(p));
    on_path(name, path_var).into_iter().chain(usual).find(|p| !is_shim(p))
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
        let mut bytes = vec![0xFFu8; 100];
        assert!(!contains(&bytes[..], SHIM_MARKER).unwrap());
        bytes.extend_from_slice(marker);
        bytes.extend_from_slice(b"\0tail");
        assert!(contains(&bytes[..], SHIM_MARKER).unwrap());
        assert!(!contains(&marker[..marker.len() - 1], SHIM_MARKER).unwrap());
    }

    #[test]
    fn finds_the_marker_across_chunk_boundaries() {
        for at in [(1 << 20) - 10, (1 << 20) - 1, 1 << 20, 3 << 20] {
            let mut bytes = vec![0xC3u8; at];
            bytes.extend_from_slice(SHIM_MARKER.as_bytes());
            bytes.extend_from_slice(&[0x80; 7]);
            assert!(contains(&bytes[..], SHIM_MARKER).unwrap(), "marker at {at}");
            bytes.truncate(at + SHIM_MARKER.len() - 1);
            assert!(!contains(&bytes[..], SHIM_MARKER).unwrap(), "partial marker at {at}");
        }
    }
}
