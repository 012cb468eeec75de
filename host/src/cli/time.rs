//! Times on the command line: RFC 3339 (`2024-03-01T10:00:00Z`), or
//! K8sCop's `YYYY-M-D-h-m-s` in UTC (`2019-2-12-12-30-0`).

use chrono::{DateTime, NaiveDate, Utc};

pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() == 6
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        // A number too large for its field is an error, never wrapped into
        // some other date (fuzzing found "202304002112019-2-12-..." read as
        // year -1).
        let Ok(n) = parts
            .iter()
            .map(|p| p.parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
        else {
            return Err(format!("{s:?} is not a valid date and time"));
        };
        let Ok(year) = i32::try_from(n[0]) else {
            return Err(format!("{s:?} is not a valid date and time"));
        };
        return NaiveDate::from_ymd_opt(year, n[1], n[2])
            .and_then(|d| d.and_hms_opt(n[3], n[4], n[5]))
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("{s:?} is not a valid date and time"));
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2024-03-01T10:00:00Z) or K8sCop's Y-M-D-h-m-s in UTC (2019-2-12-12-30-0)"
    ))
}

/// A duration in seconds, as K8sCop gave D and d (`600`, `0.5`).
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s} seconds is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_time_formats() {
        assert_eq!(
            parse_time("2019-2-12-12-30-0").unwrap(),
            "2019-02-12T12:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("2024-03-01T12:00:00+02:00").unwrap(),
            "2024-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(
            parse_time("2019-2-30-12-30-0")
                .unwrap_err()
                .contains("not a valid")
        );
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
        // Regressions found by `make fuzz` (time_parse): numbers too large
        // for their field were wrapped into another date.
        for s in [
            "202304002112019-2-12-9-019-2",
            "4294967295-1-1-0-0-0",
            "2019-4294967298-1-0-0-0",
        ] {
            assert!(parse_time(s).unwrap_err().contains("not a valid"), "{s}");
        }
        assert_eq!(
            parse_seconds("0.5").unwrap(),
            std::time::Duration::from_millis(500)
        );
        assert!(parse_seconds("-1").is_err() && parse_seconds("x").is_err());
    }
}
