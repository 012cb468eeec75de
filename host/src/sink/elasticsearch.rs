//! Bulk-indexing documents into Elasticsearch, the way a careful shipper
//! does it: requests capped in documents and bytes; every item of every
//! answer read (a 200 with `errors: true` is normal); only what is
//! retryable retried, with bounded exponential backoff and jitter; what can
//! never succeed (a mapping error) reported and dead-lettered with its
//! reason. Writes are by id, so a retry overwrites and never duplicates.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::dead_letter::DeadLetterFile;
use crate::es::retry::Backoff;
use crate::es::{EsClient, EsError};

#[derive(Debug, Clone)]
pub struct BulkConfig {
    pub max_docs: usize,
    pub max_bytes: usize,
    pub backoff: Backoff,
}

/// The most one write may take by default, retries included.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            max_docs: 1000,
            max_bytes: 5 << 20,
            backoff: Backoff::default(),
        }
    }
}

/// A document to index under an id.
#[derive(Debug, Clone)]
pub struct BulkDoc {
    pub index: String,
    pub id: String,
    pub body: Value,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BulkReport {
    pub requests: u64,
    /// Documents indexed.
    pub written: u64,
    /// Of those, newly created rather than overwritten.
    pub created: u64,
    /// Item retries (429s, rejected executions) and whole-request retries.
    pub retried_items: u64,
    pub retried_requests: u64,
    /// Documents refused for good, written to the dead-letter file (or,
    /// without one, logged).
    pub dead_lettered: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// Retries ran out while the cluster was unreachable or overloaded; the
    /// documents not written are the caller's to keep.
    #[error("{not_written} documents not written after {retries} retries: {last_error}")]
    Unavailable {
        not_written: usize,
        retries: u32,
        last_error: String,
        report: BulkReport,
    },
    /// The cluster refused the request itself (bad credentials, say).
    #[error("bulk request refused: {0}")]
    Refused(EsError),
    #[error("{0}")]
    DeadLetter(std::io::Error),
    /// The write, retries included, took longer than allowed.
    #[error(
        "writing {documents} alerts to {indices} did not finish within {}s (Elasticsearch stuck or too slow); they stay unacknowledged: the checkpoint does not advance past them, and they are written again when their window is read again",
        timeout.as_secs_f64()
    )]
    TimedOut {
        documents: usize,
        indices: String,
        timeout: Duration,
    },
    /// Shutdown cancelled the write.
    #[error("{0}; the alerts not written are written again when their window is read again")]
    Cancelled(EsError),
}

pub struct BulkWriter {
    client: EsClient,
    config: BulkConfig,
    dead_letter: Option<DeadLetterFile>,
    write_timeout: Duration,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, ItemAnswer>>,
}

#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

impl ItemAnswer {
    fn is_retryable(&self) -> bool {
        let rejected = self
            .error
            .as_ref()
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            == Some("es_rejected_execution_exception");
        rejected || matches!(self.status, 429 | 502 | 503 | 504)
    }
}

impl BulkWriter {
    pub fn new(client: EsClient, config: BulkConfig, dead_letter: Option<DeadLetterFile>) -> Self {
        BulkWriter {
            client,
            config,
            dead_letter,
            write_timeout: WRITE_TIMEOUT,
        }
    }

    /// Bound each write, retries included, to `timeout`.
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Write every document, in requests within the caps, in at most the
    /// write timeout (retries included).
    pub async fn write(&mut self, docs: &[BulkDoc]) -> Result<BulkReport, BulkError> {
        let timeout = self.write_timeout;
        match tokio::time::timeout(timeout, self.write_all(docs)).await {
            Ok(written) => written,
            Err(_) => Err(BulkError::TimedOut {
                documents: docs.len(),
                indices: indices_of(docs),
                timeout,
            }),
        }
    }

    async fn write_all(&mut self, docs: &[BulkDoc]) -> Result<BulkReport, BulkError> {
        let lines: Vec<String> = docs.iter().map(action_lines).collect();
        let mut report = BulkReport::default();
        let mut start = 0;
        while start < docs.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < docs.len()
                && end - start < self.config.max_docs
                && (end == start || bytes + lines[end].len() <= self.config.max_bytes)
            {
                bytes += lines[end].len();
                end += 1;
            }
            let chunk: Vec<usize> = (start..end).collect();
            if let Err(e) = self.write_chunk(docs, &lines, chunk, &mut report).await {
                return Err(match e {
                    BulkError::Unavailable {
                        not_written,
                        retries,
                        last_error,
                        ..
                    } => BulkError::Unavailable {
                        // The chunks after this one were not tried.
                        not_written: not_written + docs.len() - end,
                        retries,
                        last_error,
                        report,
                    },
                    other => other,
                });
            }
            start = end;
        }
        if let Some(dl) = &mut self.dead_letter {
            dl.flush().map_err(BulkError::DeadLetter)?;
        }
        Ok(report)
    }

    async fn write_chunk(
        &mut self,
        docs: &[BulkDoc],
        lines: &[String],
        mut pending: Vec<usize>,
        report: &mut BulkReport,
    ) -> Result<(), BulkError> {
        let mut retries = 0u32;
        loop {
            let body: String = pending.iter().map(|&i| lines[i].as_str()).collect();
            report.requests += 1;
            let answer = self
                .client
                .send(
                    Method::POST,
                    "/_bulk",
                    Some(("application/x-ndjson", body.into_bytes())),
                )
                .await
                .and_then(|(status, bytes)| {
                    if status.is_success() {
                        Ok(bytes)
                    } else {
                        Err(crate::es::client::status_error(
                            &Method::POST,
                            "/_bulk",
                            status,
                            &bytes,
                        ))
                    }
                });
            let next: Result<(), String> = match answer {
                Err(e) if e.is_retryable() => {
                    report.retried_requests += 1;
                    Err(e.to_string())
                }
                Err(e @ EsError::Cancelled { .. }) => return Err(BulkError::Cancelled(e)),
                Err(e) => return Err(BulkError::Refused(e)),
                Ok(bytes) => {
                    let items = parse_items(&bytes, pending.len()).map_err(BulkError::Refused)?;
                    let mut again = Vec::new();
                    let mut last = String::new();
                    for (&i, item) in pending.iter().zip(items) {
                        if (200..300).contains(&item.status) {
                            report.written += 1;
                            report.created += u64::from(item.result.as_deref() == Some("created"));
                        } else if item.is_retryable() {
                            last = describe(&item);
                            again.push(i);
                        } else {
                            self.dead_letter(&docs[i], &item)?;
                            report.dead_lettered += 1;
                        }
                    }
                    if again.is_empty() {
                        return Ok(());
                    }
                    report.retried_items += again.len() as u64;
                    pending = again;
                    Err(last)
                }
            };
            if let Err(last_error) = next {
                if retries >= self.config.backoff.max_retries {
                    return Err(BulkError::Unavailable {
                        not_written: pending.len(),
                        retries,
                        last_error,
                        report: report.clone(),
                    });
                }
                retries += 1;
                let delay = self.config.backoff.delay(retries);
                tracing::warn!(documents = pending.len(), retry = retries, delay_ms = delay.as_millis() as u64, error = %last_error, "bulk retry");
                self.client
                    .pause(delay)
                    .await
                    .map_err(BulkError::Cancelled)?;
            }
        }
    }

    fn dead_letter(&mut self, doc: &BulkDoc, item: &ItemAnswer) -> Result<(), BulkError> {
        let error = item.error.clone().unwrap_or(Value::Null);
        tracing::error!(
            index = doc.index,
            id = doc.id,
            status = item.status,
            reason = describe(item),
            "document refused by Elasticsearch"
        );
        match &mut self.dead_letter {
            Some(dl) => dl
                .write(&doc.index, &doc.id, item.status, &error, &doc.body)
                .map_err(BulkError::DeadLetter),
            None => Ok(()),
        }
    }
}

/// The indices `docs` go to, for a message: the first few, and how many more.
fn indices_of(docs: &[BulkDoc]) -> String {
    let indices: std::collections::BTreeSet<&str> = docs.iter().map(|d| d.index.as_str()).collect();
    let mut named: Vec<&str> = indices.iter().take(3).copied().collect();
    let more = indices.len().saturating_sub(named.len());
    let more = (more > 0).then(|| format!("{more} more"));
    named.extend(more.as_deref());
    named.join(", ")
}

/// `{"index":{...}}` and the document, each on its line.
fn action_lines(doc: &BulkDoc) -> String {
    let action = serde_json::json!({"index": {"_index": doc.index, "_id": doc.id}});
    format!("{action}\n{}\n", doc.body)
}

fn parse_items(bytes: &[u8], expected: usize) -> Result<Vec<ItemAnswer>, EsError> {
    let decode = |reason: String| EsError::Decode {
        path: "/_bulk".into(),
        reason,
    };
    let answer: BulkAnswer = serde_json::from_slice(bytes).map_err(|e| decode(e.to_string()))?;
    if answer.items.len() != expected {
        return Err(decode(format!(
            "{} items answered for {expected} sent",
            answer.items.len()
        )));
    }
    answer
        .items
        .into_iter()
        .map(|mut item| {
            // One key per item: the action (`index`, `create`, ...).
            let key = item
                .keys()
                .next()
                .cloned()
                .ok_or_else(|| decode("an empty item".into()))?;
            Ok(item.remove(&key).expect("key just read"))
        })
        .collect()
}

fn describe(item: &ItemAnswer) -> String {
    match &item.error {
        Some(e) => format!(
            "{} {}: {}",
            item.status,
            e.get("type").and_then(Value::as_str).unwrap_or("error"),
            e.get("reason").and_then(Value::as_str).unwrap_or("")
        ),
        None => format!("status {}", item.status),
    }
}

/// An alert as a bulk document in its daily alert index, dated by the
/// alert's `@timestamp` (now, if the alert has no usable time).
pub fn alert_bulk_doc(alerts_prefix: &str, alert: &crate::alert::AlertDoc) -> BulkDoc {
    let time = alert.body["@timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| {
            tracing::warn!(
                id = alert.id,
                "alert without a valid @timestamp; indexed under today's date"
            );
            chrono::Utc::now()
        });
    BulkDoc {
        index: crate::es::indices::daily_index(alerts_prefix, time),
        id: alert.id.clone(),
        body: alert.body.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(index: &str) -> BulkDoc {
        BulkDoc {
            index: index.into(),
            id: "x".into(),
            body: Value::Null,
        }
    }

    #[test]
    fn a_message_names_the_first_indices_and_counts_the_rest() {
        let docs: Vec<BulkDoc> = ["a-3", "a-1", "a-1", "a-2", "a-4", "a-5"]
            .into_iter()
            .map(doc)
            .collect();
        assert_eq!(indices_of(&docs), "a-1, a-2, a-3, 2 more");
        assert_eq!(indices_of(&docs[..2]), "a-1, a-3");
    }
}
