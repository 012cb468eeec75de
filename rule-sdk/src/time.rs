//! Event time as a number, for rules that compare times (windows, gaps).
//!
//! The sandbox has no clock: a rule's "now" is the time of the events it
//! sees. Audit events carry RFC 3339 timestamps
//! (`2024-03-01T10:00:00.123456Z`); [`unix_millis`] turns one into
//! milliseconds since the Unix epoch.

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp: a date,
/// `T` (or `t` or a space), a time with optional fraction, and `Z` or an
/// offset (`+02:00`). `None` when the text is not such a timestamp or names
/// an impossible date. Digits past milliseconds are truncated.
pub fn unix_millis(rfc3339: &str) -> Option<i64> {
    let b = rfc3339.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    // A leap second (:60) is allowed by RFC 3339; it counts as the next second.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(b, i + 1, 2)?;
            let minutes = digits(b, i + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// The RFC 3339 UTC timestamp of milliseconds since the Unix epoch, with
/// milliseconds (`2024-03-01T10:00:00.123Z`): the inverse of [`unix_millis`]
/// for alert fields that report a time a rule remembered as a number.
pub fn format_rfc3339(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

impl crate::Event<'_> {
    /// [`crate::Event::time`] as milliseconds since the Unix epoch, if it
    /// is a valid RFC 3339 timestamp.
    pub fn unix_millis(&self) -> Option<i64> {
        unix_millis(self.time())
    }
}

fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    b.get(at..at + len)?.iter().try_fold(0i64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of days since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{format_rfc3339, unix_millis};

    #[test]
    fn formats_back_what_it_parses() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1_000), "1969-12-31T23:59:59.000Z");
        for t in [
            "2024-03-01T10:00:00.123Z",
            "2024-02-29T23:59:59.999Z",
            "2000-12-31T00:00:00.000Z",
            "2100-03-01T00:00:00.001Z",
        ] {
            assert_eq!(format_rfc3339(unix_millis(t).unwrap()), t);
        }
    }

    #[test]
    fn audit_timestamps() {
        assert_eq!(unix_millis("1970-01-01T00:00:00Z"), Some(0));
        // date -d 2024-03-01T10:00:00Z +%s -> 1709287200
        assert_eq!(
            unix_millis("2024-03-01T10:00:00.123456Z"),
            Some(1_709_287_200_123)
        );
        assert_eq!(
            unix_millis("2024-03-01T10:00:00.5Z"),
            Some(1_709_287_200_500)
        );
        assert_eq!(unix_millis("2024-03-01t10:00:00z"), Some(1_709_287_200_000));
        assert_eq!(
            unix_millis("2024-03-01T12:00:00+02:00"),
            Some(1_709_287_200_000)
        );
        assert_eq!(
            unix_millis("2024-03-01T05:30:00-04:30"),
            Some(1_709_287_200_000)
        );
        assert_eq!(unix_millis("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(unix_millis("1969-12-31T23:59:59Z"), Some(-1_000));
    }

    #[test]
    fn not_timestamps() {
        for bad in [
            "",
            "2024-03-01",
            "2024-03-01T10:00:00",
            "2024-13-01T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T10:00:00+0200",
            "2024-03-01T10:00:00Zjunk",
            "2024/03/01T10:00:00Z",
            "２０２4-03-01T10:00:00Z",
        ] {
            assert_eq!(unix_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_time_in_millis() {
        let e = crate::Event::from_json(
            r#"{"stageTimestamp":"2024-03-01T10:00:01.000000Z","requestReceivedTimestamp":"2024-03-01T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(e.unix_millis(), Some(1_709_287_201_000));
        assert_eq!(crate::Event::default().unix_millis(), None);
    }
}
