//! Bounded exponential backoff with full jitter, so many sidecars backing
//! off from one overloaded cluster do not retry in lockstep.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Tries after the first; 0 means no retry.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            max_retries: 10,
        }
    }
}

impl Backoff {
    /// How long to wait before retry number `retry` (from 1): a random
    /// duration up to `initial * 2^(retry-1)`, capped at `max`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            max_retries: 5,
        };
        for _ in 0..100 {
            assert!(b.delay(1) <= Duration::from_millis(100));
            assert!(b.delay(3) <= Duration::from_millis(400));
            assert!(b.delay(30) <= Duration::from_secs(2));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| b.delay(4)).collect();
        assert!(spread.len() > 1, "jittered");
    }
}
