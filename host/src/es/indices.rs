//! Index names. K8sCop's convention: one index per day, `<prefix>-YYYY.MM.DD`,
//! for logs and for alerts (dated by the alert, in UTC).

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Where the logs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogIndices {
    /// Daily indices `<prefix>-YYYY.MM.DD`.
    DailyPrefix(String),
    /// Any index pattern or data stream, e.g. `logs-kubernetes.audit_logs-*`.
    Pattern(String),
}

/// Beyond this many days a window targets `<prefix>-*` (the time range
/// still bounds the search) instead of naming every day.
const MAX_NAMED_DAYS: i64 = 62;

impl LogIndices {
    /// The search target covering `[from, to)`. Each day is a wildcard
    /// (`<prefix>-2024.03.01*`) so a missing day matches nothing instead of
    /// failing the search.
    pub fn target(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        match self {
            LogIndices::Pattern(p) => p.clone(),
            LogIndices::DailyPrefix(prefix) => {
                let days = days_covering(from, to);
                if days.is_empty() {
                    return format!("{prefix}-{}*", from.format("%Y.%m.%d"));
                }
                if days.len() as i64 > MAX_NAMED_DAYS {
                    return format!("{prefix}-*");
                }
                days.iter()
                    .map(|d| format!("{prefix}-{}*", d.format("%Y.%m.%d")))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
    }
}

/// The UTC days that `[from, to)` touches.
pub fn days_covering(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    if to <= from {
        return Vec::new();
    }
    let last = (to - Duration::nanoseconds(1)).date_naive();
    let mut day = from.date_naive();
    let mut days = Vec::new();
    while day <= last {
        days.push(day);
        day = day.succ_opt().expect("a date before the end of time");
    }
    days
}

/// The alert index for an alert at `time`: `<prefix>-YYYY.MM.DD`.
pub fn daily_index(prefix: &str, time: DateTime<Utc>) -> String {
    format!("{prefix}-{}", time.format("%Y.%m.%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn daily_targets_cover_the_window() {
        let logs = LogIndices::DailyPrefix("logs".into());
        assert_eq!(
            logs.target(t("2024-03-01T12:00:00Z"), t("2024-03-03T06:00:00Z")),
            "logs-2024.03.01*,logs-2024.03.02*,logs-2024.03.03*"
        );
        // `to` is exclusive: a window ending at midnight does not touch the next day.
        assert_eq!(
            logs.target(t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z")),
            "logs-2024.03.01*"
        );
        assert_eq!(
            logs.target(t("2024-01-01T00:00:00Z"), t("2024-12-31T00:00:00Z")),
            "logs-*"
        );
        let ds = LogIndices::Pattern("logs-kubernetes.audit_logs-*".into());
        assert_eq!(
            ds.target(t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z")),
            "logs-kubernetes.audit_logs-*"
        );
    }

    #[test]
    fn alert_indices_are_dated_in_utc() {
        let time: DateTime<Utc> = DateTime::parse_from_rfc3339("2024-03-01T23:30:00-02:00")
            .unwrap()
            .into();
        assert_eq!(
            daily_index("k8scop-alerts", time),
            "k8scop-alerts-2024.03.02"
        );
    }
}
