//! One window of the logs, `[from, to)`, read from Elasticsearch in time
//! order: the one reader behind replay, streaming, the tests and the
//! benchmark. Pages come from a point in time with `search_after`
//! ([`super::elasticsearch::WindowReader`]); here they are put in a stable
//! order (documents with the same time by index and id, whatever the
//! shard layout), and documents already seen in an overlap are skipped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use super::elasticsearch::{Hit, LogQuery, WindowReader};
use crate::checkpoint::SeenDoc;
use crate::es::{EsClient, Flavor};
use crate::ops::Metrics;
use crate::request_once::OpenRequest;

/// Where to read logs in Elasticsearch.
#[derive(Debug, Clone)]
pub struct EsInput {
    pub client: EsClient,
    pub flavor: Flavor,
    pub query: LogQuery,
}

/// Documents read in the overlap, by `index/id`, with their time.
pub type Seen = HashMap<String, DateTime<Utc>>;

/// The end of one window of reading: the sink checkpoints here.
#[derive(Debug, Clone)]
pub struct WindowEnd {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub fetched: u64,
    pub seen: Vec<SeenDoc>,
    /// Requests counted whose later stages may still come; the decode
    /// stage fills it in as the end passes.
    pub requests: Vec<OpenRequest>,
}

/// Where a reader hands what it read. `false`: nobody listens any more,
/// stop reading.
pub trait HitSink: Send {
    fn hits(&mut self, hits: Vec<Hit>) -> impl Future<Output = bool> + Send;
    fn window_end(&mut self, end: WindowEnd) -> impl Future<Output = bool> + Send;
}

/// A sink calling a function with each non-empty page of hits (tests,
/// benchmarks).
pub struct EachPage<F>(pub F);

impl<F: FnMut(Vec<Hit>) + Send> HitSink for EachPage<F> {
    async fn hits(&mut self, hits: Vec<Hit>) -> bool {
        if !hits.is_empty() {
            (self.0)(hits);
        }
        true
    }

    async fn window_end(&mut self, _: WindowEnd) -> bool {
        true
    }
}

/// Read `[from, to)` in time order, skipping (and else remembering) the
/// documents in `seen`. Documents with the same time are ordered by index
/// and id, so the order never depends on the server's shard layout.
pub async fn read_window(
    es: &EsInput,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut seen: Option<&mut Seen>,
    out: &mut impl HitSink,
    metrics: &Metrics,
) -> anyhow::Result<u64> {
    let mut reader = WindowReader::open(&es.client, es.flavor, &es.query, from, to).await?;
    if let Some(pattern) = reader.no_index() {
        metrics.window_without_index();
        warn_no_index(pattern, from, to);
    }
    let mut fetched = 0u64;
    let mut carry: Vec<Hit> = Vec::new();
    let result: anyhow::Result<()> = async {
        let mut page = reader.next_page().await?;
        loop {
            let last = page.is_none();
            let mut hits = std::mem::take(&mut carry);
            hits.extend(page.unwrap_or_default());
            // Hold back the documents sharing the page's last time: more may
            // follow on the next page.
            if !last && let Some(tail_time) = hits.last().map(sort_time) {
                let split = hits.partition_point(|h| sort_time(h) < tail_time);
                if split > 0 {
                    carry = hits.split_off(split);
                }
            }
            hits.sort_by(|a, b| {
                (sort_time(a), &a.index, &a.id).cmp(&(sort_time(b), &b.index, &b.id))
            });
            fetched += hits.len() as u64;
            metrics.documents_fetched(hits.len() as u64);
            let fresh: Vec<Hit> = match seen.as_deref_mut() {
                None => hits,
                Some(seen) => hits
                    .into_iter()
                    .filter(|h| {
                        // The first sort value is the time field, in ms.
                        let time = DateTime::from_timestamp_millis(sort_time(h)).unwrap_or(from);
                        seen.insert(format!("{}/{}", h.index, h.id), time).is_none()
                    })
                    .collect(),
            };
            if last {
                out.hits(fresh).await;
                return Ok(());
            }
            // The next page is fetched while this one goes down the
            // pipeline: the server and the packs work at the same time.
            let (sent, next) = tokio::join!(out.hits(fresh), reader.next_page());
            if !sent {
                return Ok(());
            }
            page = next?;
        }
    }
    .await;
    if let Err(e) = reader.close().await {
        tracing::warn!(error = %e, "could not close the point in time; it expires by itself");
    }
    result?;
    Ok(fetched)
}

/// A window no index matches reads nothing: a wrong prefix or range, or
/// logs not shipped yet. Said at most once a minute (streaming asks every
/// few seconds), and counted in a metric every time.
fn warn_no_index(pattern: &str, from: DateTime<Utc>, to: DateTime<Utc>) {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = Utc::now().timestamp();
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(%pattern, %from, %to, "no index matches the window: nothing to read (check --logs-prefix or --logs-pattern and the time range)");
    }
}

/// The first sort value (the time field, as the server sorted it).
fn sort_time(hit: &Hit) -> i64 {
    hit.sort
        .first()
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(i64::MIN)
}

/// A time cut to the millisecond, the precision of the search's range and
/// sort values: the documents a window remembers as seen and those the next
/// window re-reads must be decided at the same precision, or a document a
/// fraction of a millisecond inside the boundary is read again and forgotten.
pub fn whole_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, SecondsFormat, TimeZone};

    use super::*;

    /// A document the search returns at millisecond T (the query and the
    /// sort values have millisecond precision) is remembered as seen exactly
    /// when the next window, whose `from` is formatted to the millisecond,
    /// can read it again, however many nanoseconds `now` had.
    #[test]
    fn windows_remember_what_the_next_window_re_reads_to_the_millisecond() {
        let doc = Utc.timestamp_millis_opt(1_700_000_008_400).unwrap();
        let overlap = Duration::seconds(2);
        for sub_ms in [0, 1, 400_000, 999_999] {
            let to = whole_millis(doc + overlap + Duration::nanoseconds(sub_ms));
            let next_from = whole_millis(to - overlap);
            let remembered = doc >= next_from;
            // What the query of the next window covers: `gte` its `from`,
            // written to the millisecond.
            let from_in_query: DateTime<Utc> = next_from
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .parse()
                .unwrap();
            let re_read = doc >= from_in_query;
            assert_eq!(remembered, re_read, "{sub_ms} ns past the boundary");
            assert!(remembered, "a document at the boundary stays remembered");
        }
    }
}
