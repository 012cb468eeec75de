//! The OpenMetrics text a scrape gets.

use std::sync::atomic::Ordering;

use chrono::Utc;
use prometheus_client::encoding::text;

use super::Metrics;

impl Metrics {
    /// All metrics in the OpenMetrics text format (ends with `# EOF`); serve
    /// it with [`crate::ops::METRICS_CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        self.update_lag();
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder only forwards writer
        // errors.
        if let Err(err) = text::encode(&mut out, &self.inner.registry) {
            tracing::error!(%err, "encoding metrics failed");
        }
        out
    }

    /// The lag as of now, from the cursor last recorded (0 before any).
    fn update_lag(&self) {
        let cursor = self.inner.cursor_millis.load(Ordering::Relaxed);
        if cursor == i64::MIN {
            return;
        }
        let now = Utc::now().timestamp_millis();
        let lag = now.saturating_sub(cursor).max(0) as f64 / 1000.0;
        self.inner.lag_seconds.set(lag);
    }
}
