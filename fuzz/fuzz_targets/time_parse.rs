//! Times and durations from the command line and the config file: any
//! text parses to a value that means what the text says, or to an error.
#![no_main]

use chrono::{Datelike, Timelike};
use k8scop::cli::time::{parse_seconds, parse_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(t) = parse_time(text) {
        let parts: Vec<&str> = text.split('-').collect();
        let k8scop_style =
            parts.len() == 6 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if k8scop_style {
            // K8sCop's Y-M-D-h-m-s: every number must be the one written.
            let written: Vec<Option<i64>> = parts.iter().map(|p| p.parse().ok()).collect();
            let parsed: Vec<Option<i64>> = [
                i64::from(t.year()),
                t.month().into(),
                t.day().into(),
                t.hour().into(),
                t.minute().into(),
                t.second().into(),
            ]
            .into_iter()
            .map(Some)
            .collect();
            assert_eq!(parsed, written, "{text:?} parsed as {t}");
        } else {
            assert!(
                chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                "{text:?} parsed as {t}"
            );
        }
    }
    if let Ok(d) = parse_seconds(text) {
        let secs: f64 = text.parse().expect("accepted durations are numbers");
        assert!(
            (d.as_secs_f64() - secs).abs() <= 1e-6 * secs.max(1.0),
            "{text:?} parsed as {d:?}"
        );
    }
});
