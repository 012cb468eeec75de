//! The operator surface of the sidecar: Prometheus metrics, liveness and
//! readiness, and the small HTTP server that exposes them.
//!
//! [`Metrics`] and [`Health`] are cheap handles (an `Arc` inside) that the
//! pipeline's blocking threads and async tasks update; [`serve`] answers
//! `GET /metrics`, `GET /healthz` and `GET /readyz` from the same handles.

mod chatter_metrics;
mod health;
mod lease_metrics;
mod metrics;
mod notify_metrics;
mod server;
mod status;

pub use chatter_metrics::ChatterMetrics;
pub use health::{Health, Liveness};
pub use lease_metrics::LeaseMetrics;
pub use metrics::{DocumentKind, Metrics, RetryKind};
pub use notify_metrics::NotifyMetrics;
pub use server::{METRICS_CONTENT_TYPE, serve, serve_with_status};
pub use status::StatusBoard;
