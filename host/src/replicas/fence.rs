//! What a partition's pipeline asks before it writes its checkpoint: is
//! the lease surely still ours? Measured on this process's monotonic clock
//! from the moment the last successful renewal was *sent*, and only for
//! two thirds of the TTL: a replica that stalled (paused, cut off from
//! Elasticsearch) stops writing before any other replica can take the
//! partition over, whatever the wall clocks say, within a third of a TTL.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Fence {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    valid_until: Instant,
    lost: bool,
}

impl Fence {
    /// A lease written at `sent`, lasting `ttl`.
    pub fn new(sent: Instant, ttl: Duration) -> Self {
        Fence {
            inner: Arc::new(Mutex::new(State {
                valid_until: sent + safe_part(ttl),
                lost: false,
            })),
        }
    }

    /// A renewal sent at `sent` succeeded. Too late if the fence lapsed
    /// meanwhile: its watch has cancelled the partition's requests, so the
    /// fence stays down (as lost) rather than come back under a pipeline
    /// that is already stopping.
    pub fn renewed(&self, sent: Instant, ttl: Duration) {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if Instant::now() >= state.valid_until {
            state.lost = true;
        }
        if !state.lost {
            state.valid_until = state.valid_until.max(sent + safe_part(ttl));
        }
    }

    /// The lease is gone: nothing more may be written under it.
    pub fn lose(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).lost = true;
    }

    /// The lease is surely still ours.
    pub fn holds(&self) -> bool {
        !self.remaining().is_zero()
    }

    /// How long the lease is surely still ours without another renewal.
    pub fn remaining(&self) -> Duration {
        let state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match state.lost {
            true => Duration::ZERO,
            false => state.valid_until.saturating_duration_since(Instant::now()),
        }
    }

    /// Cancel `cancel` the moment the fence lapses: every request of the
    /// partition (reads, alert writes, the checkpoint) stops before another
    /// replica may take it over, not at the next turn of the lease loop.
    pub async fn watch(self, cancel: crate::es::Cancel) {
        loop {
            let left = self.remaining();
            if left.is_zero() {
                cancel.cancel();
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(left) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }
}

fn safe_part(ttl: Duration) -> Duration {
    ttl * 2 / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_holds_for_two_thirds_of_the_ttl_after_the_last_renewal_sent() {
        let ttl = Duration::from_secs(30);
        let now = Instant::now();
        let fence = Fence::new(now, ttl);
        assert!(fence.holds());
        let aging = Fence::new(now - Duration::from_secs(19), ttl);
        assert!(aging.holds(), "19 s of 20 have passed");
        aging.renewed(Instant::now(), ttl);
        assert!(aging.remaining() > Duration::from_secs(19), "renewed");
        // A renewal that answers late never shortens what a later one gave.
        aging.renewed(now - Duration::from_secs(25), ttl);
        assert!(aging.remaining() > Duration::from_secs(19));
    }

    #[test]
    fn a_renewal_answering_after_the_fence_lapsed_does_not_revive_it() {
        let ttl = Duration::from_secs(30);
        let lapsed = Fence::new(Instant::now() - Duration::from_secs(21), ttl);
        assert!(!lapsed.holds(), "20 s of 30 have passed");
        lapsed.renewed(Instant::now(), ttl);
        assert!(!lapsed.holds());
    }

    #[test]
    fn a_lost_fence_stays_lost_whatever_renewal_answers_late() {
        let ttl = Duration::from_secs(30);
        let fence = Fence::new(Instant::now(), ttl);
        let clone = fence.clone();
        fence.lose();
        assert!(!clone.holds());
        clone.renewed(Instant::now(), ttl);
        assert!(!fence.holds());
    }

    #[tokio::test]
    async fn a_lapsing_fence_cancels_the_partitions_requests() {
        let fence = Fence::new(Instant::now(), Duration::from_millis(150));
        let cancel = crate::es::Cancel::new();
        let watching = tokio::spawn(fence.clone().watch(cancel.clone()));
        // Renewed once: the cancellation waits for the new end.
        tokio::time::sleep(Duration::from_millis(50)).await;
        fence.renewed(Instant::now(), Duration::from_millis(150));
        assert!(!cancel.is_cancelled());
        watching.await.unwrap();
        assert!(cancel.is_cancelled());
        assert!(!fence.holds());
    }
}
