//! Following the logs live (`k8scop run`): every interval, read the window
//! `[cursor - overlap, now - delay)`. The overlap re-reads documents
//! indexed late; those already evaluated are remembered (in the
//! checkpoint too) and skipped, so each is evaluated exactly once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::window::{EsInput, HitSink, Seen, WindowEnd, read_window, whole_millis};
use crate::checkpoint::{Checkpoint, SeenDoc};
use crate::ops::Metrics;

/// Streaming: every `interval`, read `[cursor - overlap, now - delay)`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: Duration,
    pub delay: chrono::Duration,
    pub overlap: chrono::Duration,
}

/// Streaming: every interval read `[cursor - overlap, now - delay)`.
pub async fn follow(
    es: &EsInput,
    start: Option<DateTime<Utc>>,
    schedule: &Schedule,
    resume: Option<Checkpoint>,
    out: &mut impl HitSink,
    mut shutdown: watch::Receiver<bool>,
    metrics: &Metrics,
) -> anyhow::Result<u64> {
    let fresh = resume.is_none();
    let (mut cursor, mut seen) = match resume {
        Some(c) => (
            c.cursor,
            c.seen.into_iter().map(|s| (s.key, s.time)).collect(),
        ),
        None => (whole_millis(start.unwrap_or_else(Utc::now)), Seen::new()),
    };
    // A fresh start means what it says: the overlap that re-reads late
    // documents never reaches before it.
    let floor = fresh.then_some(cursor);
    let mut fetched = 0;
    let mut tick = tokio::time::interval(schedule.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {}
        }
        let stopping = *shutdown.borrow();
        let to = match stopping {
            true => None,
            false => window_end(cursor, schedule, &mut shutdown).await,
        };
        if *shutdown.borrow() {
            tracing::info!("shutting down: no new window");
            return Ok(fetched);
        }
        let Some(to) = to else { continue };
        metrics.set_cursor(cursor);
        let from =
            whole_millis(cursor - schedule.overlap).max(floor.unwrap_or(DateTime::<Utc>::MIN_UTC));
        // Only what this window can re-read needs remembering.
        seen.retain(|_, time: &mut DateTime<Utc>| *time >= from);
        let window_fetched = read_window(es, from, to, Some(&mut seen), out, metrics).await?;
        fetched += window_fetched;
        // Exactly what the next window re-reads: its `from`.
        let next_from = whole_millis(to - schedule.overlap);
        seen.retain(|_, time| *time >= next_from);
        cursor = to;
        let end = WindowEnd {
            from,
            to,
            fetched: window_fetched,
            seen: seen
                .iter()
                .map(|(key, time)| SeenDoc {
                    key: key.clone(),
                    time: *time,
                })
                .collect(),
            requests: Vec::new(),
        };
        if !out.window_end(end).await {
            return Ok(fetched);
        }
    }
}

/// Where a window starting at `cursor` ends: `now - delay`, cut to the
/// millisecond. The first window after a start begins at that same cut, so
/// a tick within the same millisecond would find it empty and skip a whole
/// interval (an hour, say) before the first window completes; a cursor a
/// few milliseconds ahead is waited out instead. `None`: the cursor is more
/// than an interval ahead (the clock stepped back), or shutdown came.
async fn window_end(
    cursor: DateTime<Utc>,
    schedule: &Schedule,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<DateTime<Utc>> {
    let to = whole_millis(Utc::now() - schedule.delay);
    if to > cursor {
        return Some(to);
    }
    let ahead = (cursor - to + chrono::Duration::milliseconds(1))
        .to_std()
        .ok()?;
    if ahead > schedule.interval {
        return None;
    }
    tokio::select! {
        _ = tokio::time::sleep(ahead) => {}
        _ = shutdown.changed() => return None,
    }
    let to = whole_millis(Utc::now() - schedule.delay);
    (to > cursor).then_some(to)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn hourly() -> Schedule {
        Schedule {
            interval: std::time::Duration::from_secs(3600),
            delay: Duration::zero(),
            overlap: Duration::seconds(2),
        }
    }

    /// Started within the millisecond of its first tick, the first window
    /// still ends past its start (it once waited the whole interval).
    #[tokio::test]
    async fn a_window_starting_this_millisecond_ends_past_it_without_waiting_an_interval() {
        let (_stop, mut shutdown) = watch::channel(false);
        for ahead_ms in [0, 1, 5] {
            let cursor = whole_millis(Utc::now()) + Duration::milliseconds(ahead_ms);
            let to = window_end(cursor, &hourly(), &mut shutdown).await;
            assert!(
                to.is_some_and(|to| to > cursor),
                "{ahead_ms} ms ahead: {to:?}"
            );
        }
    }

    /// A cursor more than an interval ahead (the clock stepped back) waits
    /// for the next tick; shutdown ends the wait for a cursor just ahead.
    #[tokio::test]
    async fn a_cursor_far_ahead_or_a_shutdown_gives_no_window() {
        let (stop, mut shutdown) = watch::channel(false);
        let far = Utc::now() + Duration::hours(2);
        assert_eq!(window_end(far, &hourly(), &mut shutdown).await, None);

        let near = Utc::now() + Duration::minutes(30);
        stop.send(true).unwrap();
        assert_eq!(window_end(near, &hourly(), &mut shutdown).await, None);
    }
}
