//! The pre-push hook's stdin parser: never panics; whatever it accepts is well formed
//! (full object names, lower-cased; a remote side under `refs/`), and it accepts every
//! line git itself would send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teleclaude_integrator::parse::parse_updates;

fn object_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(updates) = parse_updates(data) {
        for u in &updates {
            assert!(object_name(&u.local_sha) && object_name(&u.remote_sha), "{u:?}");
            assert!(u.remote_ref.starts_with("refs/") && !u.local_ref.is_empty(), "{u:?}");
            assert!(!u.local_ref.contains([' ', '\n']) && !u.remote_ref.contains([' ', '\n']), "{u:?}");
            // A deletion is exactly the null object name on the local side.
            assert_eq!(u.is_delete(), u.local_sha.bytes().all(|b| b == b'0'));
        }
        let lines = std::str::from_utf8(data).unwrap().lines().filter(|l| !l.is_empty()).count();
        assert_eq!(updates.len(), lines, "one update per non-empty line");
    }
});
