//! Event validation and bulk-ingest parsing: never panics; a rejected line lists at least
//! one violation; an accepted one is normalised (validating it again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use teleclaude_integrator::parse::{parse_ingest_line, validate, NewEvent};

fuzz_target!(|data: &[u8]| {
    match parse_ingest_line(data, "fuzz") {
        Err(v) => assert!(!v.is_empty()),
        Ok(e) => {
            let again = NewEvent::canonical(&e.kind, &e.payload, &e.source).expect("normalised payload validates");
            assert_eq!(again.payload, e.payload);
            assert_eq!(again.key, e.key);
            assert!(validate(&e.kind, &e.payload).is_ok());
        }
    }
});
