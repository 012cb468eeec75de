//! Small text helpers: bounding what the pack stores and what an alert
//! field lists.

/// How many items an alert field lists before saying how many more there are.
pub const SAMPLE: usize = 10;

/// Values the pack remembers are cut to this many bytes: a user agent is
/// whatever the client sends, and memory must not depend on it.
pub const MAX_VALUE_BYTES: usize = 256;

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// The first [`SAMPLE`] of `items` joined by `sep`, then `(+N more)` when
/// `total` says there were more.
pub fn sample<S: AsRef<str>>(
    items: impl IntoIterator<Item = S>,
    total: usize,
    sep: &str,
) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for item in items.into_iter().take(SAMPLE) {
        if shown > 0 {
            out.push_str(sep);
        }
        out.push_str(item.as_ref());
        shown += 1;
    }
    if total > shown {
        out.push_str(&format!(" (+{} more)", total - shown));
    }
    out
}

/// Milliseconds as whole seconds with up to three decimals (`12`, `0.25`).
pub fn seconds(millis: i64) -> String {
    if millis % 1_000 == 0 {
        (millis / 1_000).to_string()
    } else {
        let s = format!("{:.3}", millis as f64 / 1_000.0);
        s.trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_characters() {
        assert_eq!(clip("kubectl", 3), "kub");
        assert_eq!(clip("ééé", 3), "é");
        assert_eq!(clip("short", 256), "short");
    }

    #[test]
    fn sample_says_how_many_are_left_out() {
        assert_eq!(sample(["a", "b"], 2, ", "), "a, b");
        let many: Vec<String> = (0..15).map(|i| i.to_string()).collect();
        assert_eq!(
            sample(&many, many.len(), ","),
            "0,1,2,3,4,5,6,7,8,9 (+5 more)"
        );
        assert_eq!(sample(["x"], 40, ","), "x (+39 more)");
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(12_000), "12");
        assert_eq!(seconds(250), "0.25");
        assert_eq!(seconds(1_001), "1.001");
    }
}
