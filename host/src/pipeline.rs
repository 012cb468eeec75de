//! The pipeline: source -> decode -> engine -> aggregate -> sink, each stage
//! a task joined to the next by a bounded channel, so a slow stage (a slow
//! Elasticsearch) slows the ones before it instead of growing a queue.
//! Stages that burn CPU or block (files, WebAssembly) run on blocking
//! threads.
//!
//! Inputs: a JSON-lines file, a time range of Elasticsearch (replay), or
//! Elasticsearch followed live (streaming). Outputs: a JSON-lines file (each
//! aggregate once, final) or Elasticsearch (aggregates rewritten by id as
//! they grow, flushed every `flush_interval`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::aggregate::{AggregateConfig, Aggregator, Merge};
use crate::alert::PendingAlert;
use crate::checkpoint::{Checkpoint, CheckpointStore, SeenDoc};
use crate::decode::{DecodedDoc, Decoder, DocRef};
use crate::engine::{EventKind, RuleEngine};
use crate::es::{EsClient, Flavor};
use crate::noise::{ChatterCounts, ChatterFilter, ChatterMode};
use crate::notify::{FirstSeen, Notifier};
use crate::ops::{DocumentKind, Health, Metrics, RetryKind, StatusBoard};
use crate::request_once::{OpenRequest, RequestOnce, StagePolicy};
use crate::sink::elasticsearch::{BulkDoc, BulkError, BulkReport, BulkWriter, alert_bulk_doc};
use crate::sink::jsonl::JsonlSink;
use crate::source::elasticsearch::{Hit, LogQuery, WindowReader};
use crate::source::jsonl::{self, RawLine};
use crate::summary::Summary;

/// Batches in flight between two stages.
const CHANNEL_BATCHES: usize = 4;

pub struct PipelineConfig {
    pub decoder: Decoder,
    /// Which audit stages are logged: each request counts once, at the
    /// first stage that carries the decision.
    pub stages: StagePolicy,
    /// Documents per batch handed to the packs.
    pub batch_size: usize,
    pub aggregate: AggregateConfig,
    /// How often growing aggregates are written to Elasticsearch.
    pub flush_interval: Duration,
    pub metrics: Metrics,
    pub health: Health,
    /// Hot reload: rescan this rules folder between batches whenever the
    /// watcher signals a change.
    pub reload: Option<Reload>,
    /// Where the engine publishes the packs' status.
    pub status: StatusBoard,
    /// Control-plane chatter: dropped or labelled between decoding and
    /// the packs, for every input alike.
    pub chatter: ChatterFilter,
    /// Notification channels, offered each aggregate when it first appears.
    pub notifier: Notifier,
}

pub struct Reload {
    pub dir: PathBuf,
    pub signals: std::sync::mpsc::Receiver<()>,
}

/// Where to read logs in Elasticsearch.
#[derive(Debug, Clone)]
pub struct EsInput {
    pub client: EsClient,
    pub flavor: Flavor,
    pub query: LogQuery,
}

/// Streaming: every `interval`, read `[cursor - overlap, now - delay)`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: Duration,
    pub delay: chrono::Duration,
    pub overlap: chrono::Duration,
}

pub enum Input {
    File(PathBuf),
    Replay {
        es: EsInput,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Stream {
        es: EsInput,
        /// Where to start without a checkpoint (default: now - delay).
        start: Option<DateTime<Utc>>,
        schedule: Schedule,
        checkpoints: CheckpointStore,
    },
}

pub enum Output {
    File(PathBuf),
    Elasticsearch {
        writer: BulkWriter,
        alerts_prefix: String,
    },
}

/// The end of one window of reading: the sink checkpoints here.
#[derive(Debug, Clone)]
struct WindowEnd {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fetched: u64,
    seen: Vec<SeenDoc>,
    /// Requests counted whose later stages may still come; the decode
    /// stage fills it in as the end passes.
    requests: Vec<OpenRequest>,
}

enum Raw {
    Lines(Vec<RawLine>),
    Hits(Vec<Hit>),
    End(WindowEnd),
}

enum Decoded {
    Docs(Vec<DecodedDoc>),
    End(WindowEnd),
    /// The rules folder changed: rescan it before the next batch.
    Reload,
}

enum Evaluated {
    Alerts(Vec<(PendingAlert, DocRef)>),
    End(WindowEnd),
}

/// Run the pipeline until the input ends (or, streaming, until `shutdown`
/// turns true), then drain and flush.
pub async fn run(
    config: PipelineConfig,
    input: Input,
    output: Output,
    mut engine: RuleEngine,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Summary> {
    let (raw_tx, raw_rx) = mpsc::channel::<Raw>(CHANNEL_BATCHES);
    let (doc_tx, doc_rx) = mpsc::channel::<Decoded>(CHANNEL_BATCHES);
    let (alert_tx, alert_rx) = mpsc::channel::<Evaluated>(CHANNEL_BATCHES);

    let mut resume: Option<Checkpoint> = None;
    let mut store = None;
    if let Input::Stream { checkpoints, .. } = &input {
        checkpoints.prepare().await?;
        resume = checkpoints.load().await?;
        if let Some(c) = &resume {
            tracing::info!(cursor = %c.cursor, open_aggregates = c.aggregates.len(), "resuming from checkpoint");
        }
        store = Some(checkpoints.clone());
    }
    let aggregator = match &resume {
        Some(c) => Aggregator::from_state(config.aggregate.clone(), c.aggregates.clone()),
        None => Aggregator::new(config.aggregate.clone()),
    };

    let request_once = match &resume {
        Some(c) => RequestOnce::with_open(config.stages.clone(), c.requests.clone()),
        None => RequestOnce::new(config.stages.clone()),
    };
    let batch_size = config.batch_size.max(1);
    let metrics = config.metrics.clone();
    let source = tokio::spawn(source_stage(
        input,
        batch_size,
        resume,
        raw_tx,
        shutdown,
        metrics.clone(),
    ));

    let decoder = config.decoder.clone();
    let chatter = config.chatter.clone();
    let reload_dir = config.reload.map(|reload| {
        forward_reloads(reload.signals, doc_tx.downgrade());
        reload.dir
    });
    let status = config.status.clone();
    let decode_metrics = metrics.clone();
    let decode = tokio::task::spawn_blocking(move || {
        decode_stage(
            decoder,
            request_once,
            &chatter,
            batch_size,
            raw_rx,
            doc_tx,
            &decode_metrics,
        )
    });

    let engine_metrics = metrics.clone();
    let evaluate = tokio::task::spawn_blocking(move || {
        engine_stage(
            &mut engine,
            doc_rx,
            alert_tx,
            &engine_metrics,
            reload_dir,
            &status,
        )
    });

    let observe = Observe {
        metrics,
        health: config.health.clone(),
        notifier: config.notifier,
    };
    let sink = tokio::spawn(sink_stage(
        output,
        aggregator,
        store,
        config.flush_interval,
        alert_rx,
        observe,
    ));

    // Join from the end: a failing sink closes its channel, which stops the
    // stages before it.
    let sunk = sink.await??;
    let evaluated = evaluate.await?;
    let decoded = decode.await?;
    let read = source.await??;
    let mut summary = evaluated;
    summary.lines_read = read.lines_read;
    summary.fetched = read.fetched;
    summary.decoded_audit = decoded.decoded_audit;
    summary.decoded_other = decoded.decoded_other;
    summary.audit_by_shape = decoded.audit_by_shape;
    // The engine counts audit events of the wrong schema as malformed too.
    summary.add_failures(decoded.failed, decoded.failed_lines, decoded.failed_docs);
    summary.chatter = decoded.chatter;
    summary.stages = decoded.stages;
    summary.alerts_added = sunk.alerts_added;
    summary.alerts_updated = sunk.alerts_updated;
    summary.alerts_written = sunk.alerts_written;
    summary.dead_lettered = sunk.dead_lettered;
    summary.notifications = sunk.notifications;
    Ok(summary)
}

async fn source_stage(
    input: Input,
    batch_size: usize,
    resume: Option<Checkpoint>,
    tx: mpsc::Sender<Raw>,
    shutdown: watch::Receiver<bool>,
    metrics: Metrics,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let out = HitBatches { tx, batch_size };
    match input {
        Input::File(path) => {
            let input = jsonl::open(&path)?;
            let tx = out.tx;
            summary = tokio::task::spawn_blocking(move || {
                let mut summary = Summary::default();
                jsonl::read_batches(input, batch_size, |batch| {
                    summary.lines_read += batch.len() as u64;
                    tx.blocking_send(Raw::Lines(batch)).is_ok()
                })
                .map(|()| summary)
            })
            .await?
            .context("reading the input")?;
        }
        Input::Replay { es, from, to } => {
            let progress = ReplayProgress::start(&es, from, to, &metrics).await;
            let fetched = read_window(&es, from, to, None, &out, &metrics).await;
            progress.finish();
            summary.fetched = fetched?;
            let end = WindowEnd {
                from,
                to,
                fetched: summary.fetched,
                seen: Vec::new(),
                requests: Vec::new(),
            };
            let _ = out.tx.send(Raw::End(end)).await;
        }
        Input::Stream {
            es,
            start,
            schedule,
            ..
        } => {
            summary.fetched =
                stream(&es, start, &schedule, resume, &out, shutdown, &metrics).await?;
        }
    }
    Ok(summary)
}

/// A progress bar for a replay, drawn only when stderr is a terminal. It
/// follows the documents fetched (the source paces the whole pipeline).
struct ReplayProgress(Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)>);

impl ReplayProgress {
    async fn start(
        es: &EsInput,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        metrics: &Metrics,
    ) -> Self {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return ReplayProgress(None);
        }
        let total = crate::source::elasticsearch::count_window(&es.client, &es.query, from, to)
            .await
            .unwrap_or(0);
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} replay [{bar:40}] {pos}/{len} documents ({per_sec}, {eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let ticker = bar.clone();
        let metrics = metrics.clone();
        let task = tokio::spawn(async move {
            loop {
                ticker.set_position(metrics.documents_fetched_so_far());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        ReplayProgress(Some((bar, task)))
    }

    fn finish(self) {
        if let Some((bar, task)) = self.0 {
            task.abort();
            bar.finish_and_clear();
        }
    }
}

/// Read `[from, to)` in time order, skipping (and else remembering) the
/// documents in `seen`. Documents with the same time are ordered by index
/// and id, so the order never depends on the server's shard layout.
async fn read_window(
    es: &EsInput,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut seen: Option<&mut HashMap<String, DateTime<Utc>>>,
    out: &HitBatches,
    metrics: &Metrics,
) -> anyhow::Result<u64> {
    let mut reader = WindowReader::open(&es.client, es.flavor, &es.query, from, to).await?;
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
                out.send(fresh).await;
                return Ok(());
            }
            // The next page is fetched while this one goes down the
            // pipeline: the server and the packs work at the same time.
            let (sent, next) = tokio::join!(out.send(fresh), reader.next_page());
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

/// Search hits on their way to decoding, in batches of the packs' size,
/// not pages: the channel's bound counts items, and a page (up to 10 000
/// parsed documents) per item would hold many times what the packs work on.
struct HitBatches {
    tx: mpsc::Sender<Raw>,
    batch_size: usize,
}

impl HitBatches {
    /// False when the pipeline has stopped listening.
    async fn send(&self, hits: Vec<Hit>) -> bool {
        let mut hits = hits.into_iter().peekable();
        while hits.peek().is_some() {
            let batch: Vec<Hit> = hits.by_ref().take(self.batch_size).collect();
            if self.tx.send(Raw::Hits(batch)).await.is_err() {
                return false;
            }
        }
        true
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
fn whole_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// Streaming: every interval read `[cursor - overlap, now - delay)`.
async fn stream(
    es: &EsInput,
    start: Option<DateTime<Utc>>,
    schedule: &Schedule,
    resume: Option<Checkpoint>,
    out: &HitBatches,
    mut shutdown: watch::Receiver<bool>,
    metrics: &Metrics,
) -> anyhow::Result<u64> {
    let (mut cursor, mut seen) = match resume {
        Some(c) => (
            c.cursor,
            c.seen.into_iter().map(|s| (s.key, s.time)).collect(),
        ),
        None => (
            whole_millis(start.unwrap_or_else(|| Utc::now() - schedule.delay)),
            HashMap::new(),
        ),
    };
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
        metrics.set_lag((Utc::now() - cursor).as_seconds_f64());
        let from = whole_millis(cursor - schedule.overlap);
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
        if out.tx.send(Raw::End(end)).await.is_err() {
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

fn decode_stage(
    decoder: Decoder,
    mut request_once: RequestOnce,
    chatter: &ChatterFilter,
    batch_size: usize,
    mut rx: mpsc::Receiver<Raw>,
    tx: mpsc::Sender<Decoded>,
    metrics: &Metrics,
) -> Summary {
    let mut summary = Summary::default();
    if chatter.mode() != ChatterMode::Off {
        summary.chatter = Some(ChatterCounts {
            mode: chatter.mode(),
            ..Default::default()
        });
    }
    let count = |summary: &mut Summary, doc: &DecodedDoc| match doc.kind {
        EventKind::Audit => {
            summary.decoded_audit += 1;
            metrics.documents_decoded(DocumentKind::Audit, 1);
            if let Some(shape) = doc.shape {
                *summary.audit_by_shape.entry(shape).or_default() += 1;
                metrics.audit_event_decoded(shape);
            }
        }
        EventKind::Other => {
            summary.decoded_other += 1;
            metrics.documents_decoded(DocumentKind::Other, 1);
        }
    };
    while let Some(raw) = rx.blocking_recv() {
        let out = match raw {
            Raw::End(mut end) => {
                end.requests = request_once.open_requests();
                Decoded::End(end)
            }
            Raw::Lines(lines) => {
                let mut docs = Vec::with_capacity(lines.len());
                for line in lines {
                    let decoded = line.text.map_err(|e| e.to_string()).and_then(|text| {
                        decoder.decode(text, line.number).map_err(|e| e.to_string())
                    });
                    match decoded {
                        Ok(decoded) => {
                            for doc in decoded.docs {
                                count(&mut summary, &doc);
                                docs.push(doc);
                            }
                            // A batch's items that did not decode, by position.
                            for (origin, e) in decoded.failed {
                                metrics.documents_failed(1);
                                summary.record_failure(line.number, item_reason(&origin, &e));
                            }
                        }
                        Err(reason) => {
                            metrics.documents_failed(1);
                            summary.record_failure(line.number, reason);
                        }
                    }
                }
                Decoded::Docs(docs)
            }
            Raw::Hits(hits) => {
                let mut docs = Vec::with_capacity(hits.len());
                for hit in hits {
                    let text = hit.source_text();
                    let origin = DocRef {
                        index: Some(hit.index.clone()),
                        id: Some(hit.id.clone()),
                        ..Default::default()
                    };
                    match decoder.decode_text(text, origin.clone()) {
                        Ok(decoded) => {
                            for doc in decoded.docs {
                                count(&mut summary, &doc);
                                docs.push(doc);
                            }
                            for (origin, e) in decoded.failed {
                                metrics.documents_failed(1);
                                summary.record_doc_failure(&origin.key(), e.to_string());
                            }
                        }
                        Err(e) => {
                            metrics.documents_failed(1);
                            summary.record_doc_failure(&origin.key(), e.to_string());
                        }
                    }
                }
                Decoded::Docs(docs)
            }
        };
        // Chatter and the stages folded into their request's counted stage
        // leave here, counted: dropped documents were read, so a
        // checkpoint past them is right.
        let out = match out {
            Decoded::Docs(mut docs) => {
                let reduced = chatter.apply(&mut docs);
                if let Some(counts) = summary.chatter.as_mut() {
                    metrics.chatter().record(chatter.mode(), &reduced);
                    counts.add(&reduced);
                }
                let folded = request_once.retain(&mut docs);
                summary.stages.add(folded);
                metrics.stages_folded(&folded);
                metrics.set_open_requests(request_once.open_count());
                Decoded::Docs(docs)
            }
            end => end,
        };
        // A search page may be larger than a pack's batch: split it, so
        // packs always get batches of the configured size.
        let batches = match out {
            Decoded::Docs(mut docs) if docs.len() > batch_size => {
                let mut batches = Vec::new();
                while docs.len() > batch_size {
                    let rest = docs.split_off(batch_size);
                    batches.push(Decoded::Docs(std::mem::replace(&mut docs, rest)));
                }
                batches.push(Decoded::Docs(docs));
                batches
            }
            other => vec![other],
        };
        if batches.into_iter().any(|b| tx.blocking_send(b).is_err()) {
            break;
        }
    }
    summary
}

/// Why an event of a line failed: an item of a batch says which.
fn item_reason(origin: &DocRef, reason: &impl std::fmt::Display) -> String {
    match origin.item {
        Some(item) => format!("item {item}: {reason}"),
        None => reason.to_string(),
    }
}

/// The watcher's signals become messages in the engine's own channel, so
/// the engine reloads as soon as it is between batches, also when it is
/// idle between windows (waiting for the next batch would add up to a whole
/// interval). The forwarder holds the channel weakly: it never keeps the
/// pipeline from ending, and it ends with the watcher.
fn forward_reloads(signals: std::sync::mpsc::Receiver<()>, to: mpsc::WeakSender<Decoded>) {
    let forward = move || {
        while signals.recv().is_ok() {
            let Some(tx) = to.upgrade() else { return };
            if tx.blocking_send(Decoded::Reload).is_err() {
                return;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("k8scop-reload".into())
        .spawn(forward)
    {
        tracing::error!(error = %e, "cannot start the hot-reload thread: rule changes are not picked up until restart");
    }
}

fn engine_stage(
    engine: &mut RuleEngine,
    mut rx: mpsc::Receiver<Decoded>,
    tx: mpsc::Sender<Evaluated>,
    metrics: &Metrics,
    reload_dir: Option<PathBuf>,
    status: &StatusBoard,
) -> Summary {
    let mut summary = Summary::default();
    status.publish(engine.status_json());
    metrics.set_packs_refused(engine.refused().count());
    while let Some(decoded) = rx.blocking_recv() {
        let out = match decoded {
            // Packs are swapped between batches only: a batch is evaluated
            // by one set of packs, so no document is skipped or seen twice.
            Decoded::Reload => {
                if let Some(dir) = &reload_dir {
                    match engine.sync_dir(dir) {
                        Ok(_) => {
                            metrics.set_packs_loaded(engine.packs().count());
                            metrics.set_packs_refused(engine.refused().count());
                        }
                        Err(e) => tracing::error!(error = %e, "cannot rescan the rules folder"),
                    }
                    status.publish(engine.status_json());
                }
                continue;
            }
            Decoded::End(end) => Evaluated::End(end),
            Decoded::Docs(docs) => {
                let outcome = engine.evaluate(&docs);
                for (pack, documents, elapsed) in &outcome.evaluations {
                    metrics.pack_evaluated(pack, *documents as u64, *elapsed);
                }
                for failure in &outcome.failures {
                    metrics.pack_failed(&failure.pack, failure.documents as u64);
                    *summary
                        .unevaluated_by_pack
                        .entry(failure.pack.clone())
                        .or_default() += failure.documents as u64;
                }
                for rejected in &outcome.rejected {
                    metrics.alerts_rejected(&rejected.pack, 1);
                }
                for (index, reason) in &outcome.malformed {
                    metrics.documents_failed(1);
                    let origin = &docs[*index].origin;
                    match (origin.line, &origin.id) {
                        (Some(line), None) => {
                            summary.record_failure(line, item_reason(origin, reason))
                        }
                        _ => summary.record_doc_failure(&origin.key(), reason.clone()),
                    }
                }
                summary.rejected_alerts += outcome.rejected.len() as u64;
                let alerts = outcome
                    .alerts
                    .into_iter()
                    .map(|raised| {
                        let rule = &raised.alert.rule_id;
                        metrics.alert_raised(rule);
                        match summary.alerts_by_rule.get_mut(rule) {
                            Some(n) => *n += 1,
                            None => {
                                summary.alerts_by_rule.insert(rule.clone(), 1);
                            }
                        }
                        let doc = &docs[raised.doc_index];
                        (PendingAlert::new(raised, doc), doc.origin.clone())
                    })
                    .collect();
                status.publish(engine.status_json());
                metrics.set_packs_quarantined(
                    engine
                        .status()
                        .iter()
                        .filter(|p| p.quarantined.is_some())
                        .count(),
                );
                Evaluated::Alerts(alerts)
            }
        };
        if tx.blocking_send(out).is_err() {
            break;
        }
    }
    summary
}

/// The operator's view of the sink stage.
struct Observe {
    metrics: Metrics,
    health: Health,
    notifier: Notifier,
}

/// Aggregation and writing, one task: the aggregator's state and what was
/// written must move together for checkpoints to be exact.
async fn sink_stage(
    output: Output,
    mut aggregator: Aggregator,
    checkpoints: Option<CheckpointStore>,
    flush_interval: Duration,
    mut rx: mpsc::Receiver<Evaluated>,
    observe: Observe,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    match output {
        Output::File(path) => {
            let mut sink = JsonlSink::create(&path)?;
            while let Some(evaluated) = rx.recv().await {
                if let Evaluated::Alerts(alerts) = evaluated {
                    merge(&mut aggregator, alerts, &mut summary, &observe);
                    // Replaced aggregates, and those the input has moved
                    // more than D past, are final: written now, they leave
                    // memory, which then holds only what can still grow.
                    let done = aggregator.take_closed().into_iter();
                    for alert in done.chain(aggregator.close_idle()) {
                        sink.write(&alert).context("writing alerts")?;
                    }
                }
            }
            // A file gets each aggregate once, final.
            for alert in aggregator.close_all() {
                sink.write(&alert).context("writing alerts")?;
            }
            summary.alerts_written = sink.finish()?;
        }
        Output::Elasticsearch {
            writer,
            alerts_prefix,
        } => {
            let mut writes = AlertWrites::new(writer, alerts_prefix);
            let metrics = &observe.metrics;
            let mut flush = tokio::time::interval(flush_interval);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    evaluated = rx.recv() => match evaluated {
                        Some(Evaluated::Alerts(alerts)) => merge(&mut aggregator, alerts, &mut summary, &observe),
                        Some(Evaluated::End(end)) => {
                            writes.flush(&mut aggregator, &mut summary, metrics).await?;
                            // Nothing after `to` can merge into what ended
                            // more than D before it.
                            aggregator.close_before(end.to);
                            if let Some(store) = &checkpoints {
                                store.save(&Checkpoint { cursor: end.to, seen: end.seen.clone(), aggregates: aggregator.state(), requests: end.requests.clone() }).await?;
                                metrics.checkpoint_written(end.to.timestamp_millis() as f64 / 1000.0);
                            }
                            metrics.set_open_aggregates(aggregator.open_count());
                            observe.health.record_progress();
                            tracing::info!(
                                from = %end.from, to = %end.to, fetched = end.fetched,
                                alerts_added = summary.alerts_added, alerts_updated = summary.alerts_updated,
                                open_aggregates = aggregator.open_count(),
                                "window done"
                            );
                        }
                        None => break,
                    },
                    _ = flush.tick() => {
                        if writes.start(&mut aggregator, &mut summary, metrics).await? {
                            // Taken for writing; those that can no longer
                            // grow leave memory.
                            aggregator.close_idle();
                        }
                    }
                }
            }
            writes.flush(&mut aggregator, &mut summary, metrics).await?;
        }
    }
    // Alerts are written; the channels get a bounded time to catch up.
    summary.notifications = observe.notifier.shutdown().await;
    Ok(summary)
}

fn merge(
    aggregator: &mut Aggregator,
    alerts: Vec<(PendingAlert, DocRef)>,
    summary: &mut Summary,
    observe: &Observe,
) {
    let metrics = &observe.metrics;
    // Channels hear of an aggregate once, when it first appears.
    let notify = observe.notifier.is_active();
    let mut fresh = FirstSeen::default();
    for (alert, source) in alerts {
        let body = notify.then(|| alert.document(&source).body);
        match aggregator.add(alert, source) {
            Merge::Added => {
                summary.alerts_added += 1;
                metrics.alerts_added(1);
                if let Some(body) = body {
                    fresh.added(body);
                }
            }
            Merge::Updated => {
                summary.alerts_updated += 1;
                metrics.alerts_updated(1);
                if let Some(body) = &body {
                    fresh.repeated(body);
                }
            }
        }
    }
    // Never waits: a full channel queue drops and counts.
    observe.notifier.send_all(fresh);
}

/// Alert writes to Elasticsearch. A flush tick's write runs in the
/// background while alerts keep merging, so a slow cluster holds up the
/// pipeline only when the last write is still running; a window's end
/// waits for every write, so a checkpoint never runs ahead of what is
/// written.
struct AlertWrites {
    /// The writer, when no write has it.
    writer: Option<BulkWriter>,
    running: Option<tokio::task::JoinHandle<(BulkWriter, Result<BulkReport, BulkError>)>>,
    alerts_prefix: String,
}

impl AlertWrites {
    fn new(writer: BulkWriter, alerts_prefix: String) -> Self {
        AlertWrites {
            writer: Some(writer),
            running: None,
            alerts_prefix,
        }
    }

    /// Start writing the aggregates changed since the last write, unless
    /// that write is still running (they wait for the next tick). True when
    /// they were taken.
    async fn start(
        &mut self,
        aggregator: &mut Aggregator,
        summary: &mut Summary,
        metrics: &Metrics,
    ) -> anyhow::Result<bool> {
        if self.running.as_ref().is_some_and(|w| !w.is_finished()) {
            return Ok(false);
        }
        self.wait(summary, metrics).await?;
        let docs = self.take_dirty(aggregator);
        if !docs.is_empty() {
            let mut writer = self.writer.take().expect("no write running");
            self.running = Some(tokio::spawn(async move {
                let report = writer.write(&docs).await;
                (writer, report)
            }));
        }
        Ok(true)
    }

    /// Write the aggregates changed since the last write, after the one
    /// running, and wait for both.
    async fn flush(
        &mut self,
        aggregator: &mut Aggregator,
        summary: &mut Summary,
        metrics: &Metrics,
    ) -> anyhow::Result<()> {
        self.wait(summary, metrics).await?;
        let docs = self.take_dirty(aggregator);
        if !docs.is_empty() {
            let writer = self.writer.as_mut().expect("no write running");
            let report = writer.write(&docs).await?;
            account(&report, summary, metrics);
        }
        Ok(())
    }

    /// Wait for the running write, if any, and count what it wrote.
    async fn wait(&mut self, summary: &mut Summary, metrics: &Metrics) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            let (writer, report) = running.await.context("the alert writing task failed")?;
            self.writer = Some(writer);
            account(&report?, summary, metrics);
        }
        Ok(())
    }

    fn take_dirty(&self, aggregator: &mut Aggregator) -> Vec<BulkDoc> {
        aggregator
            .take_dirty()
            .iter()
            .map(|a| alert_bulk_doc(&self.alerts_prefix, a))
            .collect()
    }
}

fn account(report: &BulkReport, summary: &mut Summary, metrics: &Metrics) {
    (0..report.requests).for_each(|_| metrics.bulk_request());
    metrics.bulk_retries(RetryKind::Item, report.retried_items);
    metrics.bulk_retries(RetryKind::Request, report.retried_requests);
    metrics.bulk_dead_lettered(report.dead_lettered);
    summary.alerts_written += report.written;
    summary.dead_lettered += report.dead_lettered;
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
