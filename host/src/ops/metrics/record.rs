//! What the pipeline records: one typed method per event.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use super::Metrics;
use super::labels::{
    DocumentKindLabel, FoldLabel, PackLabel, RetryKindLabel, RuleLabel, ShapeLabel, ShapeValue,
};
use super::{DocumentKind, RetryKind};

impl Metrics {
    /// Control-plane chatter dropped or labelled, by reduction rule.
    pub fn chatter(&self) -> &crate::ops::chatter_metrics::ChatterMetrics {
        &self.inner.chatter
    }

    /// `n` documents were read from the source.
    pub fn documents_fetched(&self, n: u64) {
        self.inner.documents_fetched.inc_by(n);
    }

    /// Documents read so far (a replay's progress bar follows it).
    pub fn documents_fetched_so_far(&self) -> u64 {
        self.inner.documents_fetched.get()
    }

    /// `n` documents decoded as `kind`.
    pub fn documents_decoded(&self, kind: DocumentKind, n: u64) {
        self.inner
            .documents_decoded
            .get_or_create(&DocumentKindLabel { kind })
            .inc_by(n);
    }

    /// Stages folded into the stage their request counted at.
    pub fn stages_folded(&self, counts: &crate::request_once::StageCounts) {
        for (reason, n) in [
            ("before_decision", counts.before_decision),
            ("repeated", counts.repeated),
        ] {
            self.inner
                .stages_folded
                .get_or_create(&FoldLabel { reason })
                .inc_by(n);
        }
    }

    pub fn window_without_index(&self) {
        self.inner.windows_without_index.inc();
    }

    pub fn audit_time_fallback(&self) {
        self.inner.time_fallbacks.inc();
    }

    pub fn set_open_requests(&self, n: usize) {
        self.inner.open_requests.set(n as i64);
    }

    /// One audit event decoded from a document of this shape.
    pub fn audit_event_decoded(&self, shape: crate::decode::Shape) {
        self.inner
            .audit_events_by_shape
            .get_or_create(&ShapeLabel {
                shape: ShapeValue(shape),
            })
            .inc();
    }

    /// `n` documents were malformed and could not be decoded.
    pub fn documents_failed(&self, n: u64) {
        self.inner.documents_failed.inc_by(n);
    }

    /// `pack` failed on a batch, leaving its `n` documents unevaluated by it.
    /// Also counts one pack failure.
    pub fn pack_failed(&self, pack: &str, n: u64) {
        let label = PackLabel::new(pack);
        self.inner.pack_failures.get_or_create(&label).inc();
        self.inner
            .documents_unevaluated
            .get_or_create(&label)
            .inc_by(n);
    }

    /// `pack` evaluated a batch of `docs` documents in `elapsed`.
    pub fn pack_evaluated(&self, pack: &str, docs: u64, elapsed: Duration) {
        let label = PackLabel::new(pack);
        self.inner
            .pack_evaluations
            .get_or_create(&label)
            .inc_by(docs);
        self.inner
            .pack_evaluation_seconds
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }

    /// The host rejected `n` alerts that `pack` emitted.
    pub fn alerts_rejected(&self, pack: &str, n: u64) {
        self.inner
            .alerts_rejected
            .get_or_create(&PackLabel::new(pack))
            .inc_by(n);
    }

    /// Rule `rule` raised one alert.
    pub fn alert_raised(&self, rule: &str) {
        self.inner
            .alerts_raised
            .get_or_create(&RuleLabel {
                rule: rule.to_owned(),
            })
            .inc();
    }

    /// `n` alerts were written as new documents.
    pub fn alerts_added(&self, n: u64) {
        self.inner.alerts_added.inc_by(n);
    }

    /// `n` alerts updated existing documents.
    pub fn alerts_updated(&self, n: u64) {
        self.inner.alerts_updated.inc_by(n);
    }

    /// One bulk request was sent (first attempts and retries alike).
    pub fn bulk_request(&self) {
        self.inner.bulk_requests.inc();
    }

    /// `n` retries of `kind`: items re-sent, or whole requests re-sent.
    pub fn bulk_retries(&self, kind: RetryKind, n: u64) {
        self.inner
            .bulk_retries
            .get_or_create(&RetryKindLabel { kind })
            .inc_by(n);
    }

    /// `n` alerts went to the dead-letter file.
    pub fn bulk_dead_lettered(&self, n: u64) {
        self.inner.bulk_dead_lettered.inc_by(n);
    }

    /// Everything before `cursor` is processed. The lag (now minus it)
    /// is computed at each scrape, so a stalled pipeline shows a lag that
    /// grows.
    pub fn set_cursor(&self, cursor: DateTime<Utc>) {
        self.inner
            .cursor_millis
            .store(cursor.timestamp_millis(), Ordering::Relaxed);
    }

    /// A checkpoint holding a cursor at `cursor_unix_seconds` was just
    /// written; also stamps the write time with the wall clock.
    pub fn checkpoint_written(&self, cursor_unix_seconds: f64) {
        self.inner
            .checkpoint_timestamp_seconds
            .set(cursor_unix_seconds);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.inner.last_checkpoint_write_timestamp_seconds.set(now);
    }

    /// `n` rule packs are loaded.
    pub fn set_threads(&self, n: usize) {
        self.inner.threads.set(saturating_i64(n));
    }

    /// The process's CPU time so far (`cores::process_cpu_time`).
    pub fn set_process_cpu(&self, cpu: Duration) {
        self.inner.cpu_seconds.set(cpu.as_secs_f64());
    }

    pub fn set_packs_loaded(&self, n: usize) {
        self.inner.packs_loaded.set(saturating_i64(n));
    }

    /// `n` files of the rules folder are refused.
    pub fn set_packs_refused(&self, n: usize) {
        self.inner.packs_refused.set(saturating_i64(n));
    }

    /// `n` rule packs are quarantined.
    pub fn set_packs_quarantined(&self, n: usize) {
        self.inner.packs_quarantined.set(saturating_i64(n));
    }

    /// `n` alert aggregates are open in memory.
    pub fn set_open_aggregates(&self, n: usize) {
        self.inner.open_aggregates.set(saturating_i64(n));
    }

    /// The notification channels' counters.
    pub fn notify(&self) -> &crate::ops::notify_metrics::NotifyMetrics {
        &self.inner.notify
    }

    /// The replicas' lease counters.
    pub fn leases(&self) -> &crate::ops::lease_metrics::LeaseMetrics {
        &self.inner.leases
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
