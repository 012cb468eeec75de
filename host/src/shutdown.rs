//! Stopping `k8scop run` in bounded time. SIGTERM (or Ctrl-C) stops new
//! windows and lets the current one finish and flush; after the grace, the
//! Elasticsearch requests still in flight, and the waits between their
//! retries, are cancelled. A cancelled window never reaches the checkpoint,
//! so the next start reads it again and nothing is lost. A few seconds
//! after the grace, whatever still runs is ended.

use std::time::Duration;

use tokio::sync::watch;

use crate::es::Cancel;

/// How long after the grace the process exits, whatever still runs.
const LAST_RESORT: Duration = Duration::from_secs(5);

/// On SIGTERM (or Ctrl-C): stop reading new windows and flush; after
/// `grace`, cancel the Elasticsearch requests still in flight (their
/// window is not checkpointed, so the next start reads it again); a few
/// seconds later, exit whatever still runs.
pub fn on_termination(
    stop: watch::Sender<bool>,
    cancel: Cancel,
    grace: Duration,
) -> anyhow::Result<()> {
    // Listen before anything else, so a stop requested during start-up is
    // a clean stop too.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let grace_s = grace.as_secs_f64();
        tracing::info!(
            grace_s,
            "termination requested: finishing the current window, then flushing"
        );
        let _ = stop.send(true);
        let last_resort = grace + LAST_RESORT;
        std::thread::spawn(move || {
            std::thread::sleep(last_resort);
            eprintln!(
                "error: still running {}s after termination was requested: exiting",
                last_resort.as_secs_f64()
            );
            std::process::exit(1);
        });
        tokio::time::sleep(grace).await;
        tracing::warn!(
            grace_s,
            "shutdown grace elapsed with Elasticsearch requests in flight: cancelling them; the unfinished window is not checkpointed and is read again at the next start"
        );
        cancel.cancel();
    });
    Ok(())
}
