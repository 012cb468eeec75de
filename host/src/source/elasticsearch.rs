//! Reading a time window of log documents from Elasticsearch, in time
//! order, each once: a point in time (a consistent snapshot) paged with
//! `search_after`, sorted by the time field with a unique tiebreak.
//! Never `from`/`size` past 10 000 (refused by the server) and never scroll
//! (heavier, and deprecated for this use).
//!
//! The window is read in time slices of a few pages each, one after the
//! other: a search then only ever matches a slice, not everything left in
//! the window. A server that sorts all matches for each page (osmem-server
//! does) would otherwise spend time quadratic in the window on a replay;
//! the slice span adapts to the documents' density.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::es::client::status_error;
use crate::es::indices::LogIndices;
use crate::es::retry::Backoff;
use crate::es::{EsClient, EsError, Flavor};

/// What to read: where, by which time field, filtered how.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub indices: LogIndices,
    /// The document time field the window applies to (`@timestamp`,
    /// `stageTimestamp`, ...).
    pub time_field: String,
    /// An extra filter ANDed with the time range (K8sCop used
    /// `{"term": {"origin": "audit"}}`).
    pub extra_query: Option<Value>,
    /// Documents per page (at most 10 000).
    pub page_size: usize,
}

/// One document as read.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    #[serde(rename = "_index")]
    pub index: String,
    #[serde(rename = "_id")]
    pub id: String,
    /// The document's source as the server sent it: decoding reads the
    /// text once (an audit event at the root goes to the packs as is).
    #[serde(rename = "_source", default)]
    pub source: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub sort: Vec<Value>,
}

impl Hit {
    /// The source's text (`{}` when the server sent none).
    pub fn source_text(&self) -> &str {
        self.source
            .as_deref()
            .map_or("{}", serde_json::value::RawValue::get)
    }

    /// The source as a JSON object (tests and tools; the pipeline decodes
    /// the text directly).
    pub fn source_object(&self) -> Map<String, Value> {
        serde_json::from_str(self.source_text()).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    pit_id: Option<String>,
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    hits: Vec<Hit>,
}

const KEEP_ALIVE: &str = "2m";
const MAX_PAGE: usize = 10_000;
/// The first slice's span; later ones adapt to hold 1 to 4 pages.
const FIRST_SLICE: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
const MIN_SLICE: chrono::TimeDelta = chrono::TimeDelta::milliseconds(1);
const SLICE_PAGES: usize = 4;

/// Pages through `[from, to)`. Close it when done to free the server's
/// point in time (it also expires on its own after `KEEP_ALIVE`).
pub struct WindowReader {
    client: EsClient,
    flavor: Flavor,
    pit_id: Option<String>,
    search: Value,
    search_after: Option<Vec<Value>>,
    page_size: usize,
    done: bool,
    backoff: Backoff,
    query: LogQuery,
    to: DateTime<Utc>,
    /// The slice being read, `[start, end)`, and its pages so far.
    slice: (DateTime<Utc>, DateTime<Utc>),
    slice_pages: usize,
    span: chrono::TimeDelta,
    no_index: Option<String>,
}

impl WindowReader {
    pub async fn open(
        client: &EsClient,
        flavor: Flavor,
        query: &LogQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Self, EsError> {
        let page_size = query.page_size.clamp(1, MAX_PAGE);
        let target = query.indices.target(from, to);
        let backoff = Backoff::default();
        // Servers differ on a point in time over nothing (an error, or an
        // empty snapshot): ask first whether the target matches anything.
        let pit_id = if matches_anything(client, &backoff, &target).await? {
            let path = flavor.open_pit_path(&target, KEEP_ALIVE);
            let answer =
                with_retries(client, &backoff, || client.json(Method::POST, &path, None)).await?;
            Some(
                flavor
                    .pit_id_of_open(&answer)
                    .ok_or_else(|| EsError::Decode {
                        path: path.clone(),
                        reason: "no point-in-time id in the answer".into(),
                    })?,
            )
        } else {
            None
        };
        let no_index = pit_id.is_none().then(|| target.clone());
        let mut sort = vec![json!({&query.time_field: {"order": "asc"}})];
        if flavor.has_shard_doc_sort() {
            sort.push(json!({"_shard_doc": "asc"}));
        }
        let search = json!({
            "size": page_size,
            "sort": sort,
            "track_total_hits": false,
        });
        tracing::debug!(target = target, from = %from, to = %to, "reading window");
        Ok(WindowReader {
            client: client.clone(),
            flavor,
            done: pit_id.is_none(),
            pit_id,
            search,
            search_after: None,
            page_size,
            backoff,
            query: query.clone(),
            to,
            slice: (from, (from + FIRST_SLICE).min(to)),
            slice_pages: 0,
            span: FIRST_SLICE,
            no_index,
        })
    }

    /// The index pattern tried, when no index matched the window.
    pub fn no_index(&self) -> Option<&str> {
        self.no_index.as_deref()
    }

    /// The next page of documents in time order, or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Hit>>, EsError> {
        while !self.done {
            let hits = self.next_in_slice().await?;
            if !hits.is_empty() {
                return Ok(Some(hits));
            }
        }
        Ok(None)
    }

    /// The slice's next page; at the slice's end, on to the next slice.
    async fn next_in_slice(&mut self) -> Result<Vec<Hit>, EsError> {
        let mut body = self.search.clone();
        body["query"] = window_query(&self.query, self.slice.0, self.slice.1);
        body["pit"] = json!({"id": self.pit_id, "keep_alive": KEEP_ALIVE});
        if let Some(after) = &self.search_after {
            body["search_after"] = Value::Array(after.clone());
        }
        let client = &self.client;
        let body = body.to_string().into_bytes();
        let bytes = with_retries(client, &self.backoff, || async {
            let request = Some(("application/json", body.clone()));
            match client.send(Method::POST, "/_search", request).await? {
                (status, bytes) if status.is_success() => Ok(bytes),
                (status, bytes) => Err(status_error(&Method::POST, "/_search", status, &bytes)),
            }
        })
        .await?;
        // Straight into hits, not through a tree of the whole answer: a
        // page is the largest thing the pipeline holds.
        let answer: SearchAnswer = serde_json::from_slice(&bytes).map_err(|e| EsError::Decode {
            path: "/_search".into(),
            reason: e.to_string(),
        })?;
        drop(bytes);
        if let Some(id) = answer.pit_id {
            // The server may hand out a new id for the same point in time.
            self.pit_id = Some(id);
        }
        let hits = answer.hits.hits;
        self.slice_pages += 1;
        if hits.len() < self.page_size {
            self.next_slice();
            return Ok(hits);
        }
        match hits.last() {
            Some(last) if !last.sort.is_empty() => self.search_after = Some(last.sort.clone()),
            _ => {
                return Err(EsError::Decode {
                    path: "/_search".into(),
                    reason: "hits came back without sort values".into(),
                });
            }
        }
        Ok(hits)
    }

    /// The slice is read: the next one starts where it ended, its span
    /// doubled if this one held less than a page, halved if it took more
    /// than `SLICE_PAGES` pages.
    fn next_slice(&mut self) {
        if self.slice.1 >= self.to {
            self.done = true;
            return;
        }
        if self.slice_pages <= 1 {
            self.span = (self.span * 2).min(self.to - self.slice.1);
        } else if self.slice_pages > SLICE_PAGES {
            self.span = (self.span / 2).max(MIN_SLICE);
        }
        let start = self.slice.1;
        self.slice = (start, (start + self.span).min(self.to));
        self.slice_pages = 0;
        self.search_after = None;
    }

    /// Free the point in time.
    pub async fn close(mut self) -> Result<(), EsError> {
        if let Some(id) = self.pit_id.take() {
            let (path, body) = self.flavor.close_pit(&id);
            self.client.json(Method::DELETE, path, Some(&body)).await?;
        }
        Ok(())
    }
}

/// The time range, ANDed with the operator's extra filter.
fn window_query(query: &LogQuery, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let mut filters = vec![json!({"range": {&query.time_field: {
        "gte": from.to_rfc3339_opts(SecondsFormat::Millis, true),
        "lt": to.to_rfc3339_opts(SecondsFormat::Millis, true),
        "format": "strict_date_optional_time",
    }}})];
    if let Some(extra) = &query.extra_query {
        filters.push(extra.clone());
    }
    json!({"bool": {"filter": filters}})
}

/// How many documents `[from, to)` holds (for a progress bar).
pub async fn count_window(
    client: &EsClient,
    query: &LogQuery,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, EsError> {
    let target = query.indices.target(from, to);
    if !matches_anything(client, &Backoff::default(), &target).await? {
        return Ok(0);
    }
    let body = json!({"query": window_query(query, from, to)});
    let answer = client
        .json(Method::POST, &format!("/{target}/_count"), Some(&body))
        .await?;
    Ok(answer["count"].as_u64().unwrap_or(0))
}

/// True when some index, alias or data stream matches `target`.
async fn matches_anything(
    client: &EsClient,
    backoff: &Backoff,
    target: &str,
) -> Result<bool, EsError> {
    let path = format!("/_resolve/index/{target}");
    match with_retries(client, backoff, || client.json(Method::GET, &path, None)).await {
        Ok(answer) => Ok(["indices", "aliases", "data_streams"]
            .iter()
            .any(|k| answer[k].as_array().is_some_and(|a| !a.is_empty()))),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Run `call`, retrying what is retryable with backoff; the client's
/// cancellation ends the wait between tries.
pub(crate) async fn with_retries<F, Fut, T>(
    client: &EsClient,
    backoff: &Backoff,
    mut call: F,
) -> Result<T, EsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EsError>>,
{
    let mut retry = 0;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && retry < backoff.max_retries => {
                retry += 1;
                let delay = backoff.delay(retry);
                tracing::warn!(error = %e, retry, delay_ms = delay.as_millis() as u64, "retrying");
                client.pause(delay).await?;
            }
            other => return other,
        }
    }
}
