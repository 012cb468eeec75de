//! Prometheus metrics of the pipeline, one typed method per event.
//!
//! Built on `prometheus-client`; [`Metrics::encode`] renders the OpenMetrics
//! text format, which Prometheus scrapes natively. Every name is prefixed
//! `k8scop_`; counters get their `_total` suffix and unit-bearing metrics
//! their `_seconds` suffix from the encoder, so the registered names below
//! carry neither.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Buckets for the time one pack takes over one batch: from a millisecond
/// (a small batch through a cheap pack) to ten seconds (something is wrong).
const EVALUATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What a fetched document decoded into (`kind` label of
/// `k8scop_documents_decoded_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A Kubernetes audit event.
    Audit,
    /// Valid JSON that is not an audit event.
    Other,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Audit => "audit",
            DocumentKind::Other => "other",
        }
    }
}

/// What a bulk retry re-sent (`kind` label of `k8scop_bulk_retries_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryKind {
    /// Single items the bulk response rejected with a retryable status.
    Item,
    /// A whole bulk request that failed (transport error, 429, 5xx).
    Request,
}

impl RetryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryKind::Item => "item",
            RetryKind::Request => "request",
        }
    }
}

// Lower-case label values; the crate's derive would write the variant name.
impl EncodeLabelValue for DocumentKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for RetryKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DocumentKindLabel {
    kind: DocumentKind,
}

/// The shape an audit event was found in (`shape` label of
/// `k8scop_audit_events_by_shape_total`): a closed set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ShapeValue(crate::decode::Shape);

impl EncodeLabelValue for ShapeValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ShapeLabel {
    shape: ShapeValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RetryKindLabel {
    kind: RetryKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FoldLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PackLabel {
    pack: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

impl PackLabel {
    fn new(pack: &str) -> Self {
        PackLabel {
            pack: pack.to_owned(),
        }
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The sidecar's Prometheus metrics.
///
/// Cloning is cheap and every clone updates the same metrics; all methods
/// take `&self` and are safe from any thread or task. Label values are pack
/// names and rule ids only, which the loaded rule packs bound.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,

    documents_fetched: Counter,
    documents_decoded: Family<DocumentKindLabel, Counter>,
    audit_events_by_shape: Family<ShapeLabel, Counter>,
    documents_failed: Counter,
    documents_unevaluated: Family<PackLabel, Counter>,
    pack_evaluations: Family<PackLabel, Counter>,
    pack_failures: Family<PackLabel, Counter>,
    alerts_raised: Family<RuleLabel, Counter>,
    alerts_added: Counter,
    alerts_updated: Counter,
    bulk_requests: Counter,
    bulk_retries: Family<RetryKindLabel, Counter>,
    bulk_dead_lettered: Counter,
    alerts_rejected: Family<PackLabel, Counter>,

    pack_evaluation_seconds: HistogramFamily<PackLabel>,

    lag_seconds: FloatGauge,
    checkpoint_timestamp_seconds: FloatGauge,
    last_checkpoint_write_timestamp_seconds: FloatGauge,
    packs_loaded: Gauge,
    packs_refused: Gauge,
    packs_quarantined: Gauge,
    open_aggregates: Gauge,
    stages_folded: Family<FoldLabel, Counter>,
    time_fallbacks: Counter,
    windows_without_index: Counter,
    open_requests: Gauge,
    chatter: super::chatter_metrics::ChatterMetrics,

    notify: super::notify_metrics::NotifyMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all at zero, in its own registry.
    pub fn new() -> Self {
        let mut inner = Inner {
            registry: Registry::with_prefix("k8scop"),
            documents_fetched: Counter::default(),
            documents_decoded: Family::default(),
            audit_events_by_shape: Family::default(),
            documents_failed: Counter::default(),
            documents_unevaluated: Family::default(),
            pack_evaluations: Family::default(),
            pack_failures: Family::default(),
            alerts_raised: Family::default(),
            alerts_added: Counter::default(),
            alerts_updated: Counter::default(),
            bulk_requests: Counter::default(),
            bulk_retries: Family::default(),
            bulk_dead_lettered: Counter::default(),
            alerts_rejected: Family::default(),
            pack_evaluation_seconds: Family::new_with_constructor(|| {
                Histogram::new(EVALUATION_BUCKETS)
            }),
            lag_seconds: FloatGauge::default(),
            checkpoint_timestamp_seconds: FloatGauge::default(),
            last_checkpoint_write_timestamp_seconds: FloatGauge::default(),
            packs_loaded: Gauge::default(),
            packs_refused: Gauge::default(),
            packs_quarantined: Gauge::default(),
            open_aggregates: Gauge::default(),
            stages_folded: Family::default(),
            time_fallbacks: Counter::default(),
            windows_without_index: Counter::default(),
            open_requests: Gauge::default(),
            chatter: Default::default(),
            notify: Default::default(),
        };

        // Closed label sets start at zero so rate() and absence alerts work
        // from the first scrape.
        for kind in [DocumentKind::Audit, DocumentKind::Other] {
            drop(
                inner
                    .documents_decoded
                    .get_or_create(&DocumentKindLabel { kind }),
            );
        }
        for reason in ["before_decision", "repeated"] {
            drop(inner.stages_folded.get_or_create(&FoldLabel { reason }));
        }
        for shape in crate::decode::Shape::ALL {
            drop(inner.audit_events_by_shape.get_or_create(&ShapeLabel {
                shape: ShapeValue(shape),
            }));
        }
        for kind in [RetryKind::Item, RetryKind::Request] {
            drop(inner.bulk_retries.get_or_create(&RetryKindLabel { kind }));
        }

        let r = &mut inner.registry;
        r.register(
            "documents_fetched",
            "Documents read from the source",
            inner.documents_fetched.clone(),
        );
        r.register(
            "documents_decoded",
            "Fetched documents decoded, by what they turned out to be",
            inner.documents_decoded.clone(),
        );
        r.register(
            "audit_stages_folded",
            "Audit events not given to the packs because their request counts at another stage: before the decision (RequestReceived), or a later stage of a request already counted",
            inner.stages_folded.clone(),
        );
        r.register(
            "windows_without_index",
            "Windows of the logs that no index matched (a wrong prefix or range, or no logs shipped yet)",
            inner.windows_without_index.clone(),
        );
        r.register(
            "audit_time_fallbacks",
            "Audit events whose stage time did not parse, dated by their next time (never by the clock)",
            inner.time_fallbacks.clone(),
        );
        r.register(
            "open_requests",
            "Requests counted whose last stage has not been seen yet (open exec sessions, watches)",
            inner.open_requests.clone(),
        );
        r.register(
            "audit_events_by_shape",
            "Audit events decoded, by the shape they were found in (root, kubernetes.audit, field, event-list, cloudwatch, gke, aks)",
            inner.audit_events_by_shape.clone(),
        );
        r.register(
            "documents_failed",
            "Fetched documents that could not be decoded (malformed)",
            inner.documents_failed.clone(),
        );
        r.register(
            "documents_unevaluated",
            "Documents a pack did not evaluate because it failed on their batch",
            inner.documents_unevaluated.clone(),
        );
        r.register(
            "pack_evaluations",
            "Documents evaluated by a pack",
            inner.pack_evaluations.clone(),
        );
        r.register(
            "pack_failures",
            "Batch calls into a pack that failed (trap, fuel, timeout, bad output)",
            inner.pack_failures.clone(),
        );
        r.register(
            "alerts_raised",
            "Alerts raised, by rule id",
            inner.alerts_raised.clone(),
        );
        r.register(
            "alerts_added",
            "Alerts written to the sink as new documents",
            inner.alerts_added.clone(),
        );
        r.register(
            "alerts_updated",
            "Alerts that updated an existing alert document (aggregation)",
            inner.alerts_updated.clone(),
        );
        r.register(
            "bulk_requests",
            "Bulk requests sent to Elasticsearch, retries included",
            inner.bulk_requests.clone(),
        );
        r.register(
            "bulk_retries",
            "Bulk retries, by what was re-sent",
            inner.bulk_retries.clone(),
        );
        r.register(
            "bulk_dead_lettered",
            "Alerts given up on and written to the dead-letter file",
            inner.bulk_dead_lettered.clone(),
        );
        r.register(
            "alerts_rejected",
            "Alerts from a pack rejected by the host (invalid or over limits)",
            inner.alerts_rejected.clone(),
        );
        r.register_with_unit(
            "pack_evaluation",
            "Time a pack took over one batch",
            Unit::Seconds,
            inner.pack_evaluation_seconds.clone(),
        );
        r.register_with_unit(
            "lag",
            "How far the processed cursor is behind now",
            Unit::Seconds,
            inner.lag_seconds.clone(),
        );
        r.register_with_unit(
            "checkpoint_timestamp",
            "Unix time of the cursor in the last checkpoint written",
            Unit::Seconds,
            inner.checkpoint_timestamp_seconds.clone(),
        );
        r.register_with_unit(
            "last_checkpoint_write_timestamp",
            "Unix time at which the last checkpoint was written",
            Unit::Seconds,
            inner.last_checkpoint_write_timestamp_seconds.clone(),
        );
        r.register(
            "packs_loaded",
            "Rule packs loaded",
            inner.packs_loaded.clone(),
        );
        r.register(
            "packs_refused",
            "Files in the rules folder refused as rule packs (see /status for why)",
            inner.packs_refused.clone(),
        );
        r.register(
            "packs_quarantined",
            "Rule packs quarantined after failing batch after batch (see /status)",
            inner.packs_quarantined.clone(),
        );
        r.register(
            "open_aggregates",
            "Alert aggregates held open in memory",
            inner.open_aggregates.clone(),
        );
        inner.notify.register(r);

        inner.chatter.register(r);

        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// Control-plane chatter dropped or labelled, by reduction rule.
    pub fn chatter(&self) -> &super::chatter_metrics::ChatterMetrics {
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

    /// The processed cursor is `seconds` behind now.
    pub fn set_lag(&self, seconds: f64) {
        self.inner.lag_seconds.set(seconds);
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
    pub fn notify(&self) -> &super::notify_metrics::NotifyMetrics {
        &self.inner.notify
    }

    /// All metrics in the OpenMetrics text format (ends with `# EOF`); serve
    /// it with [`super::METRICS_CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder only forwards writer
        // errors.
        if let Err(err) = text::encode(&mut out, &self.inner.registry) {
            tracing::error!(%err, "encoding metrics failed");
        }
        out
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn counters_carry_prefix_suffix_and_labels() {
        let m = Metrics::new();
        m.documents_fetched(3);
        m.documents_fetched(4);
        m.documents_decoded(DocumentKind::Audit, 5);
        m.audit_event_decoded(crate::decode::Shape::Gke);
        m.audit_event_decoded(crate::decode::Shape::Gke);
        m.documents_failed(1);
        m.pack_failed("classic", 9);
        m.alert_raised("K8S-001");
        m.alert_raised("K8S-001");
        m.alerts_added(2);
        m.alerts_updated(1);
        m.bulk_request();
        m.bulk_retries(RetryKind::Request, 1);
        m.bulk_dead_lettered(6);
        m.alerts_rejected("classic", 2);

        let text = m.encode();
        for line in [
            "k8scop_documents_fetched_total 7",
            "k8scop_documents_decoded_total{kind=\"audit\"} 5",
            "k8scop_documents_decoded_total{kind=\"other\"} 0",
            "k8scop_audit_events_by_shape_total{shape=\"gke\"} 2",
            "k8scop_audit_events_by_shape_total{shape=\"event-list\"} 0",
            "k8scop_documents_failed_total 1",
            "k8scop_pack_failures_total{pack=\"classic\"} 1",
            "k8scop_documents_unevaluated_total{pack=\"classic\"} 9",
            "k8scop_alerts_raised_total{rule=\"K8S-001\"} 2",
            "k8scop_alerts_added_total 2",
            "k8scop_alerts_updated_total 1",
            "k8scop_bulk_requests_total 1",
            "k8scop_bulk_retries_total{kind=\"item\"} 0",
            "k8scop_bulk_retries_total{kind=\"request\"} 1",
            "k8scop_bulk_dead_lettered_total 6",
            "k8scop_alerts_rejected_total{pack=\"classic\"} 2",
            "# TYPE k8scop_documents_fetched counter",
        ] {
            assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn evaluation_histogram_and_counter() {
        let m = Metrics::new();
        m.pack_evaluated("classic", 100, Duration::from_millis(3));
        m.pack_evaluated("classic", 50, Duration::from_millis(30));

        let text = m.encode();
        for line in [
            "k8scop_pack_evaluations_total{pack=\"classic\"} 150",
            "k8scop_pack_evaluation_seconds_count{pack=\"classic\"} 2",
            "k8scop_pack_evaluation_seconds_bucket{le=\"0.005\",pack=\"classic\"} 1",
            "k8scop_pack_evaluation_seconds_bucket{le=\"0.05\",pack=\"classic\"} 2",
            "k8scop_pack_evaluation_seconds_bucket{le=\"+Inf\",pack=\"classic\"} 2",
            "# TYPE k8scop_pack_evaluation_seconds histogram",
        ] {
            assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn gauges_hold_the_last_value() {
        let m = Metrics::new();
        m.set_lag(12.5);
        m.set_lag(2.25);
        m.set_packs_loaded(3);
        m.set_open_aggregates(17);
        m.checkpoint_written(1_700_000_000.5);

        let text = m.encode();
        for line in [
            "k8scop_lag_seconds 2.25",
            "k8scop_packs_loaded 3",
            "k8scop_open_aggregates 17",
            "k8scop_checkpoint_timestamp_seconds 1700000000.5",
            "# UNIT k8scop_lag_seconds seconds",
        ] {
            assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
        }
        let written: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("k8scop_last_checkpoint_write_timestamp_seconds "))
            .expect("write timestamp present")
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - written).abs() < 60.0, "written {written}, now {now}");
    }

    #[test]
    fn clones_share_state_across_threads() {
        let m = Metrics::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.documents_fetched(1);
                        m.alert_raised("r");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.encode();
        assert!(has_line(&text, "k8scop_documents_fetched_total 4000"));
        assert!(has_line(
            &text,
            "k8scop_alerts_raised_total{rule=\"r\"} 4000"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.alert_raised("odd\"rule\nid");
        let text = m.encode();
        assert!(has_line(
            &text,
            "k8scop_alerts_raised_total{rule=\"odd\\\"rule\\nid\"} 1"
        ));
    }
}
