//! Liveness and readiness, as the kubelet's probes see them.
//!
//! Readiness says "send me work": the rules are loaded and Elasticsearch
//! answered. Liveness says "don't restart me": nobody marked the process
//! down, and, when a stall timeout is configured, the pipeline made progress
//! within it. A pipeline stuck on a dead connection or a wedged thread thus
//! turns `/healthz` red and gets the pod restarted.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared liveness and readiness state.
///
/// Cloning is cheap and every clone sees the same state; all methods take
/// `&self` and are safe from any thread or task. A new `Health` is live, not
/// ready, and has no stall timeout.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Times are kept as nanoseconds since this instant so they fit atomics.
    origin: Instant,
    ready: AtomicBool,
    live: AtomicBool,
    last_progress_nanos: AtomicU64,
    /// Zero means no stall check.
    stall_timeout_nanos: AtomicU64,
}

/// Why the process is or isn't live; `Display` gives a one-line reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Live,
    /// `set_live(false)` was called.
    MarkedDown,
    /// No progress was recorded for `idle`, longer than `timeout`.
    Stalled {
        idle: Duration,
        timeout: Duration,
    },
}

impl fmt::Display for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Liveness::Live => f.write_str("live"),
            Liveness::MarkedDown => f.write_str("marked not live"),
            Liveness::Stalled { idle, timeout } => write!(
                f,
                "stalled: no pipeline progress for {:.1}s (stall timeout {:.1}s)",
                idle.as_secs_f64(),
                timeout.as_secs_f64()
            ),
        }
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Health {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                ready: AtomicBool::new(false),
                live: AtomicBool::new(true),
                last_progress_nanos: AtomicU64::new(0),
                stall_timeout_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Ready once the rules are loaded and Elasticsearch answered.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    /// Mark the process live or not, whatever its progress.
    pub fn set_live(&self, live: bool) {
        self.inner.live.store(live, Ordering::Relaxed);
    }

    /// Expect progress at least every `timeout`; `Duration::ZERO` turns the
    /// check off. The clock starts now, so that time spent before this call
    /// (loading rules, say) does not count as a stall.
    pub fn set_stall_timeout(&self, timeout: Duration) {
        self.record_progress();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        self.inner
            .stall_timeout_nanos
            .store(nanos, Ordering::Relaxed);
    }

    /// The pipeline made progress now (a batch fetched, evaluated, written,
    /// or an idle poll that found nothing new).
    pub fn record_progress(&self) {
        let now = self.nanos_since_origin();
        // fetch_max: concurrent stamps from several threads never move the
        // clock backwards.
        self.inner
            .last_progress_nanos
            .fetch_max(now, Ordering::Relaxed);
    }

    /// Whether the process is live, and if not, why.
    pub fn liveness(&self) -> Liveness {
        if !self.inner.live.load(Ordering::Relaxed) {
            return Liveness::MarkedDown;
        }
        let timeout = self.inner.stall_timeout_nanos.load(Ordering::Relaxed);
        if timeout == 0 {
            return Liveness::Live;
        }
        let last = self.inner.last_progress_nanos.load(Ordering::Relaxed);
        let idle = self.nanos_since_origin().saturating_sub(last);
        if idle > timeout {
            Liveness::Stalled {
                idle: Duration::from_nanos(idle),
                timeout: Duration::from_nanos(timeout),
            }
        } else {
            Liveness::Live
        }
    }

    pub fn is_live(&self) -> bool {
        self.liveness() == Liveness::Live
    }

    fn nanos_since_origin(&self) -> u64 {
        u64::try_from(self.inner.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_live_and_not_ready() {
        let h = Health::new();
        assert!(h.is_live());
        assert!(!h.is_ready());
        h.set_ready(true);
        assert!(h.clone().is_ready());
    }

    #[test]
    fn marked_down_wins() {
        let h = Health::new();
        h.set_live(false);
        assert_eq!(h.liveness(), Liveness::MarkedDown);
        h.set_live(true);
        assert!(h.is_live());
    }

    #[test]
    fn no_stall_check_without_a_timeout() {
        let h = Health::new();
        std::thread::sleep(Duration::from_millis(20));
        assert!(h.is_live());
    }

    #[test]
    fn stalls_without_progress_and_recovers() {
        let h = Health::new();
        // Time before the timeout is set does not count.
        std::thread::sleep(Duration::from_millis(60));
        h.set_stall_timeout(Duration::from_millis(50));
        assert!(h.is_live());

        std::thread::sleep(Duration::from_millis(80));
        match h.liveness() {
            Liveness::Stalled { idle, timeout } => {
                assert!(idle >= Duration::from_millis(80), "{idle:?}");
                assert_eq!(timeout, Duration::from_millis(50));
            }
            other => panic!("expected a stall, got {other:?}"),
        }
        assert!(h.liveness().to_string().starts_with("stalled: "));

        h.clone().record_progress();
        assert!(h.is_live());

        h.set_stall_timeout(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(80));
        assert!(h.is_live());
    }
}
