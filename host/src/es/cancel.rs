//! Cancelling every Elasticsearch request at once: what bounds a shutdown
//! while a request hangs or retries. A cancelled request, or a retry's
//! backoff sleep, ends with [`super::EsError::Cancelled`] and never as a
//! success, so nothing downstream (alert writes, the checkpoint) mistakes
//! it for done.

use std::sync::Arc;

use tokio::sync::watch;

/// A cancellation shared by clones; once cancelled, it stays cancelled.
#[derive(Clone, Debug)]
pub struct Cancel {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Cancel {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Cancel every request made under this, now and later.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        // The sender lives as long as any clone: no error to expect.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn clones_see_the_cancellation_and_it_stays() {
        let cancel = Cancel::new();
        let other = cancel.clone();
        let waiting = tokio::spawn(async move { other.cancelled().await });
        assert!(!cancel.is_cancelled());
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert!(cancel.is_cancelled());
        // Already cancelled: completes at once.
        tokio::time::timeout(Duration::from_secs(10), cancel.cancelled())
            .await
            .expect("completes");
    }
}
