//! Bulk ingest (`integrator emit --json`): one `{"type","payload","source"}` object per
//! line, every line validated, the good ones recorded in one batch.

use super::{record, NewEvent, Recorded, MAX_LINE, MAX_TEXT};
use crate::error::Result;
use crate::store::StateDir;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Counts reported by bulk ingest.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct IngestReport {
    pub recorded: u64,
    pub duplicate: u64,
    pub rejected: u64,
    #[serde(skip)]
    pub errors: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestLine {
    #[serde(rename = "type")]
    kind: String,
    payload: Map<String, Value>,
    #[serde(default)]
    source: Option<String>,
}

/// Parse one bulk-ingest line into a validated event.
pub fn parse_ingest_line(line: &[u8], default_source: &str) -> std::result::Result<NewEvent, Vec<String>> {
    if line.len() > MAX_LINE {
        return Err(vec![format!("{} bytes long (at most {MAX_LINE} per event)", line.len())]);
    }
    let parsed: IngestLine = serde_json::from_slice(line).map_err(|e| vec![format!("not an event object: {e}")])?;
    let source = parsed.source.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default_source.to_string());
    if source.len() > MAX_TEXT || source.contains(|c: char| c.is_control()) {
        return Err(vec![format!("source must be one line of at most {MAX_TEXT} bytes without control characters")]);
    }
    NewEvent::canonical(&parsed.kind, &parsed.payload, &source)
}

/// Bulk ingest: validate every line, record the good ones in one batch, report the rest.
pub(crate) fn ingest(dir: &StateDir, input: &[u8], default_source: &str) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut good = Vec::new();
    for (n, line) in input.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match parse_ingest_line(line, default_source) {
            Ok(e) => good.push(e),
            Err(v) => {
                report.rejected += 1;
                report.errors.push(format!("line {}: {}", n + 1, v.join("; ")));
            }
        }
    }
    for r in record(dir, good)? {
        match r {
            Recorded::Recorded => report.recorded += 1,
            Recorded::Duplicate => report.duplicate += 1,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A bulk-ingest line of arbitrary bytes never panics the parser.
        #[test]
        fn ingest_lines_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(v) = parse_ingest_line(&bytes, "src") {
                prop_assert!(!v.is_empty());
            }
        }
    }
}
