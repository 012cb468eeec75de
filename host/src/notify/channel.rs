//! One notification channel: a bounded queue and its own task that sends
//! each alert with retries and jittered exponential backoff. Offering an
//! alert never waits: when the queue is full the alert is dropped and
//! counted, so a slow or dead receiver cannot slow the pipeline. On shutdown
//! the task gets a bounded time to empty its queue; what it could not send
//! is counted too.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Notification;
use super::channel_config::{ChannelConfig, Format, origin};
use super::filter::Filter;
use crate::es::retry::Backoff;
use crate::ops::Metrics;

/// Why an alert was not delivered (the `reason` label of
/// `k8scop_notifications_dropped_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The channel's queue was full when the alert came.
    QueueFull,
    /// The receiver answered 4xx (other than 408 and 429): resending the
    /// same request cannot help.
    Refused,
    /// Every attempt failed (5xx, 429, timeouts, connection errors).
    RetriesExhausted,
    /// Still queued or in flight when the shutdown grace period ended.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::Refused,
        DropReason::RetriesExhausted,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Refused => "refused",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::QueueFull => "queue full",
            DropReason::Refused => "refused",
            DropReason::RetriesExhausted => "retries exhausted",
            DropReason::Shutdown => "unsent at shutdown",
        })
    }
}

#[derive(Debug, Default)]
struct Stats {
    queued: AtomicU64,
    sent: AtomicU64,
    retries: AtomicU64,
    filtered: AtomicU64,
    dropped: [AtomicU64; 4],
}

impl Stats {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What one channel did over the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelReport {
    pub name: String,
    pub kind: &'static str,
    pub sent: u64,
    pub retries: u64,
    /// Alerts the channel's filters did not want (not drops).
    pub filtered: u64,
    pub dropped: BTreeMap<DropReason, u64>,
}

impl ChannelReport {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
}

pub struct Channel {
    name: String,
    kind: &'static str,
    filter: Filter,
    queue: mpsc::Sender<Arc<Notification>>,
    task: JoinHandle<()>,
    stats: Arc<Stats>,
    metrics: Metrics,
    drain_timeout: Duration,
}

impl Channel {
    /// Start the channel's task. Must run inside a tokio runtime.
    pub fn start(config: ChannelConfig, metrics: &Metrics) -> anyhow::Result<Channel> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect is reported, not followed: credentials stay with
            // the host they were configured for.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let reasons: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        metrics.notify().channel_started(&config.name, &reasons);
        let stats = Arc::new(Stats::default());
        let (queue, rx) = mpsc::channel(config.queue_size.max(1));
        let mut headers = config.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let sender = Sender {
            name: config.name.clone(),
            client,
            url: config.url.clone(),
            headers,
            format: config.format.clone(),
            backoff: config.backoff.clone(),
            stats: stats.clone(),
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(sender.run(rx));
        tracing::info!(
            channel = %config.name, kind = config.format.kind(), endpoint = %origin(&config.url),
            queue_size = config.queue_size, "notification channel started"
        );
        Ok(Channel {
            name: config.name,
            kind: config.format.kind(),
            filter: config.filter,
            queue,
            task,
            stats,
            metrics: metrics.clone(),
            drain_timeout: config.drain_timeout,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queue `n` if the channel wants it. Never waits.
    pub fn offer(&self, n: &Arc<Notification>) {
        if !self.filter.accepts(n.rule_id(), n.severity()) {
            self.stats.filtered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.queue.try_send(n.clone()) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let total = self.count_drop(DropReason::QueueFull, 1);
                // Logged at 1, 2, 4, 8, ... drops: a flood stays readable.
                if total.is_power_of_two() {
                    tracing::warn!(
                        channel = %self.name, rule = n.rule_id(), dropped_so_far = total,
                        "notification queue full: alert dropped (the receiver is slow or down)"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.count_drop(DropReason::Shutdown, 1);
            }
        }
    }

    fn count_drop(&self, reason: DropReason, n: u64) -> u64 {
        self.metrics
            .notify()
            .dropped(&self.name, reason.as_str(), n);
        self.stats.dropped[reason.index()].fetch_add(n, Ordering::Relaxed) + n
    }

    /// Close the queue and let the task send what is queued until
    /// `started + drain_timeout`; then stop it and count what is left.
    pub async fn drain(self, started: Instant) -> ChannelReport {
        let Channel {
            name,
            kind,
            queue,
            mut task,
            stats,
            metrics,
            drain_timeout,
            ..
        } = self;
        drop(queue);
        if tokio::time::timeout_at(started + drain_timeout, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        // The task has stopped: the counters are final.
        let done = Stats::get(&stats.sent)
            + Stats::get(&stats.dropped[DropReason::Refused.index()])
            + Stats::get(&stats.dropped[DropReason::RetriesExhausted.index()]);
        let unsent = Stats::get(&stats.queued).saturating_sub(done);
        if unsent > 0 {
            metrics
                .notify()
                .dropped(&name, DropReason::Shutdown.as_str(), unsent);
            stats.dropped[DropReason::Shutdown.index()].fetch_add(unsent, Ordering::Relaxed);
            tracing::warn!(
                channel = %name, unsent, drain_timeout = ?drain_timeout,
                "notification channel could not send everything before shutdown"
            );
        }
        ChannelReport {
            name,
            kind,
            sent: Stats::get(&stats.sent),
            retries: Stats::get(&stats.retries),
            filtered: Stats::get(&stats.filtered),
            dropped: DropReason::ALL
                .iter()
                .map(|r| (*r, Stats::get(&stats.dropped[r.index()])))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// The channel's task: sends queued alerts one by one.
struct Sender {
    name: String,
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    format: Format,
    backoff: Backoff,
    stats: Arc<Stats>,
    metrics: Metrics,
}

/// How one attempt ended.
enum Attempt {
    Sent,
    Refused(String),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Arc<Notification>>) {
        while let Some(n) = rx.recv().await {
            self.deliver(&n).await;
        }
    }

    async fn deliver(&self, n: &Notification) {
        let body = match serde_json::to_vec(&self.format.body(n)) {
            Ok(body) => body,
            Err(e) => {
                // Cannot happen for JSON values; counted rather than lost.
                self.drop_one(DropReason::Refused);
                tracing::error!(channel = %self.name, error = %e, "cannot encode the notification");
                return;
            }
        };
        let mut retry = 0;
        loop {
            match self.attempt(body.clone()).await {
                Attempt::Sent => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    self.metrics.notify().sent(&self.name);
                    return;
                }
                Attempt::Refused(reason) => {
                    self.drop_one(DropReason::Refused);
                    tracing::warn!(
                        channel = %self.name, rule = n.rule_id(), %reason,
                        "notification refused by the receiver: alert dropped (check the channel's URL, token and headers)"
                    );
                    return;
                }
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    if retry >= self.backoff.max_retries {
                        self.drop_one(DropReason::RetriesExhausted);
                        tracing::warn!(
                            channel = %self.name, rule = n.rule_id(), attempts = retry + 1, %reason,
                            "notification failed after every retry: alert dropped"
                        );
                        return;
                    }
                    retry += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.metrics.notify().retried(&self.name);
                    // The receiver's own Retry-After wins, within our cap.
                    let wait = self
                        .backoff
                        .delay(retry)
                        .max(retry_after.unwrap_or_default().min(self.backoff.max));
                    tracing::debug!(channel = %self.name, retry, %reason, ?wait, "retrying notification");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, body: Vec<u8>) -> Attempt {
        let request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Attempt::Sent;
                }
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = response.text().await.unwrap_or_default();
                let reason = format!("HTTP {status}: {}", snippet(&text));
                if retryable(status) {
                    Attempt::Retry {
                        reason,
                        retry_after,
                    }
                } else {
                    Attempt::Refused(reason)
                }
            }
            // Without the URL: a Slack webhook URL is itself the secret.
            Err(e) => Attempt::Retry {
                reason: error_chain(&e.without_url()),
                retry_after: None,
            },
        }
    }

    fn drop_one(&self, reason: DropReason) {
        self.metrics
            .notify()
            .dropped(&self.name, reason.as_str(), 1);
        self.stats.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// An error and its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a response body, on one line.
fn snippet(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_worth_retrying() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 410, 413] {
            assert!(!retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
