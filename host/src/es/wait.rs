//! Waiting for Elasticsearch at start (`k8scop run`): a sidecar often
//! starts before the cluster beside it answers. Instead of exiting and
//! relying on restarts, it asks again with capped exponential backoff,
//! saying each time where it waits and why, until the server answers or
//! shutdown comes. What waiting cannot fix (bad credentials, a server too
//! old, not Elasticsearch at all) fails at once.

use std::time::Duration;

use tokio::sync::watch;

use super::{EsClient, EsError, ServerInfo};

/// The first wait between tries, doubled up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The server's info once it answers; `None` when shutdown came first.
pub async fn until_up(
    client: &EsClient,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<ServerInfo>, EsError> {
    let mut wait = FIRST_WAIT;
    let mut tries = 0u32;
    loop {
        if *shutdown.borrow() {
            return Ok(None);
        }
        let answer = tokio::select! {
            answer = ServerInfo::detect(client) => answer,
            _ = shutdown.changed() => return Ok(None),
        };
        match answer {
            Ok(info) => {
                if tries > 0 {
                    tracing::info!(url = client.base_url(), tries, "Elasticsearch is up");
                }
                return Ok(Some(info));
            }
            Err(e) if e.is_retryable() => {
                tries += 1;
                // The URL never holds credentials: they were moved out.
                tracing::warn!(
                    url = client.base_url(), reason = %e, retry_in_s = wait.as_secs_f64(), tries,
                    "waiting for Elasticsearch: not ready (readiness stays false until it answers)"
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return Ok(None),
                }
                wait = (wait * 2).min(MAX_WAIT);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::es::EsConfig;

    /// Nothing listens: it waits (connection refused is worth waiting
    /// out) until shutdown, which ends the wait with `None`.
    #[tokio::test]
    async fn waits_while_nothing_listens_until_shutdown() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = EsClient::new(&EsConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
        let (stop, mut shutdown) = watch::channel(false);
        let waiting = tokio::spawn(async move { until_up(&client, &mut shutdown).await });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!waiting.is_finished(), "still waiting");
        stop.send(true).unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(20), waiting)
            .await
            .expect("shutdown ends the wait")
            .unwrap();
        assert!(matches!(waited, Ok(None)), "{waited:?}");
    }
}
