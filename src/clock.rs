//! Time and randomness behind one seam: `TELECLAUDE_NOW` pins the clock for tests.

use std::io::Read;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

pub(crate) type Timestamp = OffsetDateTime;

/// The current time, or `TELECLAUDE_NOW` when it is set: an RFC 3339 time pins the clock;
/// `+N` / `-N` seconds shifts the real one (a computer whose clock is skewed).
pub(crate) fn now() -> Timestamp {
    if let Some(v) = std::env::var_os("TELECLAUDE_NOW") {
        let v = v.to_str().unwrap_or_default();
        if let Ok(t) = parse(v) {
            return t;
        }
        if let Some(secs) = skew_secs(v) {
            return OffsetDateTime::now_utc() + time::Duration::seconds(secs);
        }
    }
    OffsetDateTime::now_utc()
}

/// `+20` / `-20`: a clock skew in seconds.
fn skew_secs(v: &str) -> Option<i64> {
    let digits = v.strip_prefix('+').or_else(|| v.strip_prefix('-'))?;
    let n: i64 = digits.parse().ok()?;
    Some(if v.starts_with('-') { -n } else { n })
}

/// Parse RFC 3339 with an explicit offset (`Z` or `±hh:mm`), normalised to UTC.
pub(crate) fn parse(s: &str) -> Result<Timestamp, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|_| format!("`{s}` is not an RFC 3339 timestamp with an offset (e.g. 2026-01-31T12:00:00Z)"))
}

/// `s` as nanoseconds since the epoch, for ordering; an unparseable time sorts first.
pub(crate) fn nanos(s: &str) -> i128 {
    parse(s).map(|t| t.unix_timestamp_nanos()).unwrap_or(i128::MIN)
}

/// Format as RFC 3339 in UTC (`Z`), keeping sub-second precision when there is any.
pub(crate) fn format(t: Timestamp) -> String {
    t.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn now_string() -> String {
    format(now())
}

/// `n` random bytes from the kernel, hex-encoded.
pub(crate) fn random_hex(n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = vec![0u8; n];
    fill_random(&mut buf);
    let mut out = String::with_capacity(2 * n);
    for b in buf {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// Fill `buf` from a process-wide pool of kernel randomness, refilled 4 KiB at a time:
/// bulk ingest draws an id per event, and one `open` + `read` of `/dev/urandom` per
/// event was a fifth of its time.
fn fill_random(buf: &mut [u8]) {
    const POOL: usize = 4096;
    static STATE: std::sync::Mutex<(usize, [u8; POOL])> = std::sync::Mutex::new((POOL, [0; POOL]));
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (used, pool) = &mut *state;
    for b in buf.iter_mut() {
        if *used == POOL {
            refill(pool);
            *used = 0;
        }
        *b = pool[*used];
        // Never hand out the same bytes twice.
        pool[*used] = 0;
        *used += 1;
    }
}

fn refill(pool: &mut [u8]) {
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(pool));
    if filled.is_err() {
        // Never expected on Unix; fall back to time and pid so ids stay unique.
        let seed = OffsetDateTime::now_utc().unix_timestamp_nanos() as u128 ^ ((std::process::id() as u128) << 64);
        for (i, b) in pool.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
}

/// A random (version 4) UUID.
pub(crate) fn uuid() -> String {
    let h = random_hex(16);
    let mut b: Vec<char> = h.chars().collect();
    b[12] = '4';
    b[16] = ['8', '9', 'a', 'b'][(b[16].to_digit(16).unwrap_or(0) & 3) as usize];
    let s: String = b.into_iter().collect();
    format!("{}-{}-{}-{}-{}", &s[0..8], &s[8..12], &s[12..16], &s[16..20], &s[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skew_is_signed_seconds() {
        assert_eq!(skew_secs("+20"), Some(20));
        assert_eq!(skew_secs("-20"), Some(-20));
        for bad in ["20", "+", "-x", "+1.5", ""] {
            assert_eq!(skew_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_offsets_to_utc() {
        let t = parse("2026-01-31T14:00:00+02:00").unwrap();
        assert_eq!(format(t), "2026-01-31T12:00:00Z");
        assert!(parse("2026-01-31T12:00:00").is_err());
        assert!(parse("yesterday").is_err());
    }

    #[test]
    fn uuid_has_v4_shape() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
