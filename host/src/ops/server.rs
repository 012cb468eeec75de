//! The HTTP endpoint that Prometheus and the kubelet's probes call.
//!
//! `GET /metrics`, `GET /healthz`, `GET /readyz`, `GET /status`; any other
//! path is 404 (and another method on those paths 405). HTTP/1.1 only, on
//! its own task, so a slow scrape never touches the pipeline. No
//! authentication: `run` listens on 127.0.0.1 unless told otherwise.
//!
//! What each reveals to whoever reaches it: `/metrics`, counters and
//! gauges (documents read, decoded and failed, by shape; per pack name:
//! evaluations, failures, timings; alerts per rule id; bulk writes and
//! retries; lag and checkpoint times; notification channels by name;
//! chatter rule names); `/healthz`, `ok` or how long the pipeline has not
//! progressed; `/readyz`, `ready` or `not ready`; `/status`, each loaded
//! pack's name, version, file path, rule count, state (and quarantine
//! reason) and counters, and each refused file's path and reason. No
//! document, alert content, credential or Elasticsearch address.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

use super::status::StatusBoard;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Health, Liveness, Metrics};

/// Content type of [`Metrics::encode`]'s output (OpenMetrics text).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long open connections may finish after `shutdown` before the server
/// stops anyway; a client that never completes its request must not hold up
/// the process's exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone)]
struct Ops {
    metrics: Metrics,
    health: Health,
    status: StatusBoard,
}

/// Bind `addr` (port 0 picks a free port) and serve the operator endpoints
/// on a new task until `shutdown` completes.
///
/// Returns the bound address and the server task, which ends once
/// in-flight requests have finished (at most a few seconds after
/// `shutdown`). Bind errors are returned; later I/O errors are logged.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    serve_with_grace(
        addr,
        metrics,
        health,
        StatusBoard::new(),
        shutdown,
        SHUTDOWN_GRACE,
    )
    .await
}

/// [`serve`], also answering `GET /status` with the packs' status (JSON).
pub async fn serve_with_status(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
    status: StatusBoard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    serve_with_grace(addr, metrics, health, status, shutdown, SHUTDOWN_GRACE).await
}

async fn serve_with_grace(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
    status: StatusBoard,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(Ops {
        metrics,
        health,
        status,
    });

    // Relay the shutdown signal so the grace period can start when it fires.
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = fired_tx.send(());
    };

    let task = tokio::spawn(async move {
        tracing::info!(%local, "operator endpoint listening");
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .into_future();
        let deadline = async {
            match fired_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                // The server ended on its own and dropped the signal.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            result = server => {
                if let Err(err) = result {
                    tracing::error!(%err, "operator endpoint failed");
                }
            }
            () = deadline => {
                tracing::warn!(?grace, "operator endpoint: connections still open after shutdown grace; stopping");
            }
        }
        tracing::info!(%local, "operator endpoint stopped");
    });
    Ok((local, task))
}

fn router(ops: Ops) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(ops)
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        ops.metrics.encode(),
    )
}

async fn healthz(State(ops): State<Ops>) -> (StatusCode, String) {
    match ops.health.liveness() {
        Liveness::Live => (StatusCode::OK, "ok".to_owned()),
        reason => (StatusCode::SERVICE_UNAVAILABLE, reason.to_string()),
    }
}

async fn status(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ops.status.snapshot().to_string(),
    )
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, &'static str) {
    if ops.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{DocumentKind, RetryKind};
    use tokio::io::AsyncWriteExt;

    const LOCALHOST: &str = "127.0.0.1:0";

    struct Running {
        base: String,
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
        client: reqwest::Client,
    }

    async fn start(metrics: Metrics, health: Health, grace: Duration) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let (addr, task) = serve_with_grace(
            LOCALHOST.parse().unwrap(),
            metrics,
            health,
            StatusBoard::new(),
            shutdown,
            grace,
        )
        .await
        .expect("bind");
        Running {
            base: format!("http://{addr}"),
            addr,
            stop,
            task,
            // No proxy from the environment for a loopback server.
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    impl Running {
        async fn get(&self, path: &str) -> (u16, String) {
            let resp = self
                .client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.text().await.expect("body"))
        }

        async fn stop(self) {
            self.stop.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .expect("server stops after shutdown")
                .expect("server task did not panic");
        }
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_counters() {
        let metrics = Metrics::new();
        let server = start(metrics.clone(), Health::new(), SHUTDOWN_GRACE).await;

        metrics.documents_fetched(42);
        metrics.documents_decoded(DocumentKind::Other, 2);
        metrics.pack_evaluated("classic", 10, Duration::from_millis(2));
        metrics.bulk_retries(RetryKind::Item, 3);

        let resp = server
            .client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE].to_str().unwrap(),
            METRICS_CONTENT_TYPE
        );
        let body = resp.text().await.unwrap();
        for line in [
            "k8scop_documents_fetched_total 42",
            "k8scop_documents_decoded_total{kind=\"other\"} 2",
            "k8scop_pack_evaluations_total{pack=\"classic\"} 10",
            "k8scop_bulk_retries_total{kind=\"item\"} 3",
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "missing {line:?} in:\n{body}"
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn readyz_follows_set_ready() {
        let health = Health::new();
        let server = start(Metrics::new(), health.clone(), SHUTDOWN_GRACE).await;

        assert_eq!(server.get("/readyz").await, (503, "not ready".into()));
        health.set_ready(true);
        assert_eq!(server.get("/readyz").await, (200, "ready".into()));
        health.set_ready(false);
        assert_eq!(server.get("/readyz").await.0, 503);
        server.stop().await;
    }

    #[tokio::test]
    async fn healthz_reports_stalls_and_marked_down() {
        let health = Health::new();
        let server = start(Metrics::new(), health.clone(), SHUTDOWN_GRACE).await;

        assert_eq!(server.get("/healthz").await, (200, "ok".into()));

        health.set_stall_timeout(Duration::from_millis(200));
        assert_eq!(server.get("/healthz").await.0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = server.get("/healthz").await;
        assert_eq!(status, 503);
        assert!(body.starts_with("stalled: no pipeline progress"), "{body}");
        assert!(!body.contains('\n'), "one line: {body:?}");

        health.record_progress();
        assert_eq!(server.get("/healthz").await, (200, "ok".into()));

        health.set_live(false);
        assert_eq!(
            server.get("/healthz").await,
            (503, "marked not live".into())
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let server = start(Metrics::new(), Health::new(), SHUTDOWN_GRACE).await;
        assert_eq!(server.get("/").await.0, 404);
        assert_eq!(server.get("/metrics/extra").await.0, 404);
        assert_eq!(server.get("/nope").await, (404, "not found".into()));
        let post = server
            .client
            .post(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 405);
        server.stop().await;
    }

    #[tokio::test]
    async fn stops_when_shutdown_completes() {
        let server = start(Metrics::new(), Health::new(), SHUTDOWN_GRACE).await;
        // A pooled keep-alive connection must not hold the server open.
        assert_eq!(server.get("/healthz").await.0, 200);
        let addr = server.addr;
        server.stop().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "listener closed"
        );
    }

    #[tokio::test]
    async fn a_stuck_client_does_not_hold_up_shutdown() {
        let server = start(Metrics::new(), Health::new(), Duration::from_millis(200)).await;
        // Half a request: graceful shutdown alone would wait for the rest.
        let mut stuck = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stuck
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.stop().await;
        drop(stuck);
    }

    #[tokio::test]
    async fn port_in_use_is_an_error() {
        let taken = TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = serve(addr, Metrics::new(), Health::new(), std::future::pending())
            .await
            .expect_err("address in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
