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

mod decode_parts;
mod decode_stage;
mod engine_stage;
mod reduce;
mod sink_stage;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::aggregate::{AggregateConfig, Aggregator};
use crate::alert::PendingAlert;
use crate::chatter::ChatterFilter;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::decode::{DecodedDoc, Decoder, DocRef};
use crate::engine::RuleEngine;
use crate::notify::Notifier;
use crate::ops::{Health, Metrics, StatusBoard};
use crate::request_once::{RequestOnce, StagePolicy};
pub use crate::sink::Output;
use crate::sink::alert_writes::Rewrites;
use crate::source::elasticsearch::Hit;
use crate::source::jsonl::{self, RawLine};
pub use crate::source::{EsInput, Schedule};
use crate::source::{HitSink, WindowEnd, follow, read_window};
use crate::summary::{ReadReport, Summary};
use decode_stage::{Parsing, decode_stage};
use engine_stage::{EngineStage, engine_stage, forward_reloads};
use sink_stage::{Observe, sink_stage};

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
    /// Hot reload: rescan the rules folders between batches whenever the
    /// watcher signals a change.
    pub reload: Option<Reload>,
    /// Where the engine publishes the packs' status.
    pub status: StatusBoard,
    /// Control-plane chatter: dropped or labelled between decoding and
    /// the packs, for every input alike.
    pub chatter: ChatterFilter,
    /// Notification channels, offered each aggregate when it first appears.
    pub notifier: Notifier,
    /// `--cluster-name`: alert documents' `orchestrator.cluster.name`
    /// (else the cluster a managed-cloud envelope names).
    pub cluster_name: Option<String>,
    /// `--cluster-field` is set: each document names its own cluster.
    pub clusters_per_document: bool,
}

pub struct Reload {
    /// Every rules folder, in order (a later one shadows an earlier one).
    pub dirs: Vec<PathBuf>,
    pub signals: std::sync::mpsc::Receiver<()>,
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
    let usage = crate::cores::Usage::start();
    let threads = engine.workers().threads();
    let (raw_tx, raw_rx) = mpsc::channel::<Raw>(CHANNEL_BATCHES);
    // As many decoded batches as the engine takes at once, when it is the
    // slower stage.
    let (doc_tx, doc_rx) = mpsc::channel::<Decoded>(crate::engine::MAX_BATCHES_AT_ONCE);
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
    // Streaming shows alerts growing as they happen; a replay writes each
    // once, final (see `Rewrites`).
    let rewrites = match &input {
        Input::Stream { .. } => Rewrites::Growing,
        Input::File(_) | Input::Replay { .. } => Rewrites::Final,
    };
    let source = tokio::spawn(source_stage(
        input,
        batch_size,
        resume,
        raw_tx,
        shutdown.clone(),
        metrics.clone(),
    ));

    let decoder = config.decoder.clone();
    let chatter = config.chatter.clone();
    let reload_dirs = config.reload.map(|reload| {
        forward_reloads(reload.signals, doc_tx.downgrade());
        reload.dirs
    });
    let status = config.status.clone();
    let decode_metrics = metrics.clone();
    let parsing = Parsing {
        decoder,
        workers: engine.workers().clone(),
    };
    let decode = tokio::task::spawn_blocking(move || {
        decode_stage(
            parsing,
            request_once,
            &chatter,
            batch_size,
            raw_rx,
            doc_tx,
            &decode_metrics,
        )
    });

    let stage = EngineStage {
        metrics: metrics.clone(),
        status,
        health: config.health.clone(),
        shutdown: shutdown.clone(),
        reload_dirs,
        cluster_name: config.cluster_name.clone(),
        clusters_per_document: config.clusters_per_document,
    };
    let evaluate =
        tokio::task::spawn_blocking(move || engine_stage(&mut engine, doc_rx, alert_tx, &stage));

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
        rewrites,
        alert_rx,
        observe,
    ));

    // Join from the end: a failing sink closes its channel, which stops the
    // stages before it.
    let sunk = sink.await??;
    let evaluated = evaluate.await?;
    let decoded = decode.await?;
    let read = source.await??;
    let mut summary = Summary::of(read, decoded, evaluated, sunk);
    summary.cores = Some(usage.finish(threads));
    Ok(summary)
}

async fn source_stage(
    input: Input,
    batch_size: usize,
    resume: Option<Checkpoint>,
    tx: mpsc::Sender<Raw>,
    shutdown: watch::Receiver<bool>,
    metrics: Metrics,
) -> anyhow::Result<ReadReport> {
    let mut summary = ReadReport::default();
    let mut out = HitBatches { tx, batch_size };
    match input {
        Input::File(path) => {
            let input = jsonl::open(&path)?;
            let tx = out.tx;
            summary = tokio::task::spawn_blocking(move || {
                let mut summary = ReadReport::default();
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
            summary.fetched = read_window(&es, from, to, None, &mut out, &metrics).await?;
            let end = WindowEnd {
                from,
                to,
                fetched: summary.fetched,
                seen: Vec::new(),
                requests: Vec::new(),
            };
            out.window_end(end).await;
        }
        Input::Stream {
            es,
            start,
            schedule,
            ..
        } => {
            summary.fetched =
                follow(&es, start, &schedule, resume, &mut out, shutdown, &metrics).await?;
        }
    }
    Ok(summary)
}

/// Search hits on their way to decoding, in batches of the packs' size,
/// not pages: the channel's bound counts items, and a page (up to 10 000
/// parsed documents) per item would hold many times what the packs work on.
struct HitBatches {
    tx: mpsc::Sender<Raw>,
    batch_size: usize,
}

impl HitSink for HitBatches {
    /// False when the pipeline has stopped listening.
    async fn hits(&mut self, hits: Vec<Hit>) -> bool {
        let mut hits = hits.into_iter().peekable();
        while hits.peek().is_some() {
            let batch: Vec<Hit> = hits.by_ref().take(self.batch_size).collect();
            if self.tx.send(Raw::Hits(batch)).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn window_end(&mut self, end: WindowEnd) -> bool {
        self.tx.send(Raw::End(end)).await.is_ok()
    }
}

/// Why an event of a line failed: an item of a batch says which.
fn item_reason(origin: &DocRef, reason: &impl std::fmt::Display) -> String {
    match origin.item {
        Some(item) => format!("item {item}: {reason}"),
        None => reason.to_string(),
    }
}
