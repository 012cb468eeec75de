//! Prometheus metrics of the pipeline, one typed method per event.
//!
//! Built on `prometheus-client`; [`Metrics::encode`] renders the OpenMetrics
//! text format, which Prometheus scrapes natively. Every name is prefixed
//! `k8scop_`; counters get their `_total` suffix and unit-bearing metrics
//! their `_seconds` suffix from the encoder, so the registered names below
//! carry neither.
//!
//! `labels` holds the label types, `record` the methods the pipeline calls,
//! `render` the text a scrape gets (with the lag computed then).

mod labels;
mod record;
mod render;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use labels::{DocumentKind, RetryKind};
use labels::{
    DocumentKindLabel, FoldLabel, PackLabel, RetryKindLabel, RuleLabel, ShapeLabel, ShapeValue,
};

/// Buckets for the time one pack takes over one batch: from a millisecond
/// (a small batch through a cheap pack) to ten seconds (something is wrong).
const EVALUATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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
    /// The processed cursor, in Unix milliseconds (`i64::MIN`: none yet):
    /// the lag is now minus it, computed at each scrape, so it keeps growing
    /// while Elasticsearch is stuck.
    cursor_millis: AtomicI64,
    checkpoint_timestamp_seconds: FloatGauge,
    last_checkpoint_write_timestamp_seconds: FloatGauge,
    packs_loaded: Gauge,
    threads: Gauge,
    cpu_seconds: FloatGauge,
    packs_refused: Gauge,
    packs_quarantined: Gauge,
    open_aggregates: Gauge,
    stages_folded: Family<FoldLabel, Counter>,
    time_fallbacks: Counter,
    windows_without_index: Counter,
    open_requests: Gauge,
    chatter: super::chatter_metrics::ChatterMetrics,

    notify: super::notify_metrics::NotifyMetrics,
    leases: super::lease_metrics::LeaseMetrics,
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
            cursor_millis: AtomicI64::new(i64::MIN),
            checkpoint_timestamp_seconds: FloatGauge::default(),
            last_checkpoint_write_timestamp_seconds: FloatGauge::default(),
            packs_loaded: Gauge::default(),
            threads: Gauge::default(),
            cpu_seconds: FloatGauge::default(),
            packs_refused: Gauge::default(),
            packs_quarantined: Gauge::default(),
            open_aggregates: Gauge::default(),
            stages_folded: Family::default(),
            time_fallbacks: Counter::default(),
            windows_without_index: Counter::default(),
            open_requests: Gauge::default(),
            chatter: Default::default(),
            notify: Default::default(),
            leases: Default::default(),
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
            "How far the processed cursor is behind now (computed at scrape time)",
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
            "threads",
            "Threads that evaluate packs and decode (--threads)",
            inner.threads.clone(),
        );
        r.register_with_unit(
            "process_cpu",
            "CPU time the process has used, all threads (rate() of it: the cores kept busy)",
            Unit::Seconds,
            inner.cpu_seconds.clone(),
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
        inner.leases.register(r);

        Metrics {
            inner: Arc::new(inner),
        }
    }
}
