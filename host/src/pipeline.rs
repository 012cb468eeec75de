//! The pipeline: source -> decode -> engine -> sink, each stage a task
//! joined to the next by a bounded channel, so a slow stage slows the ones
//! before it instead of growing a queue. Stages that burn CPU or block
//! (reading files, running WebAssembly) run on blocking threads.

use std::path::PathBuf;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::alert::{AlertDoc, alert_document};
use crate::decode::{DecodedDoc, Decoder};
use crate::engine::RuleEngine;
use crate::sink::jsonl::JsonlSink;
use crate::source::jsonl::{self, RawLine};
use crate::summary::Summary;

/// Batches in flight between two stages.
const CHANNEL_BATCHES: usize = 4;

pub struct FileReplay {
    pub input: PathBuf,
    pub output: PathBuf,
    pub decoder: Decoder,
    /// Documents per batch handed to the packs.
    pub batch_size: usize,
}

struct DecodedBatch {
    docs: Vec<DecodedDoc>,
}

impl FileReplay {
    /// Run the whole file through the engine, writing alerts as they come.
    pub async fn run(self, mut engine: RuleEngine) -> anyhow::Result<Summary> {
        let (raw_tx, mut raw_rx) = mpsc::channel::<Vec<RawLine>>(CHANNEL_BATCHES);
        let (doc_tx, mut doc_rx) = mpsc::channel::<DecodedBatch>(CHANNEL_BATCHES);
        let (alert_tx, mut alert_rx) = mpsc::channel::<Vec<AlertDoc>>(CHANNEL_BATCHES);

        let input = jsonl::open(&self.input)?;
        let batch_size = self.batch_size.max(1);
        let source = tokio::task::spawn_blocking(move || {
            let mut summary = Summary::default();
            jsonl::read_batches(input, batch_size, |batch| {
                summary.lines_read += batch.len() as u64;
                raw_tx.blocking_send(batch).is_ok()
            })
            .map(|()| summary)
        });

        let decoder = self.decoder;
        let decode = tokio::task::spawn_blocking(move || {
            let mut summary = Summary::default();
            while let Some(lines) = raw_rx.blocking_recv() {
                let mut docs = Vec::with_capacity(lines.len());
                for line in lines {
                    match line.text.map_err(|e| e.to_string()).and_then(|text| {
                        decoder
                            .decode_line(text, line.number)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(doc) => {
                            match doc.kind {
                                crate::engine::EventKind::Audit => summary.decoded_audit += 1,
                                crate::engine::EventKind::Other => summary.decoded_other += 1,
                            }
                            docs.push(doc);
                        }
                        Err(reason) => summary.record_failure(line.number, reason),
                    }
                }
                if doc_tx.blocking_send(DecodedBatch { docs }).is_err() {
                    break;
                }
            }
            summary
        });

        let evaluate = tokio::task::spawn_blocking(move || {
            let mut summary = Summary::default();
            while let Some(batch) = doc_rx.blocking_recv() {
                let outcome = engine.evaluate(&batch.docs);
                for failure in &outcome.failures {
                    *summary
                        .unevaluated_by_pack
                        .entry(failure.pack.clone())
                        .or_default() += failure.documents as u64;
                }
                summary.rejected_alerts += outcome.rejected.len() as u64;
                let alerts: Vec<AlertDoc> = outcome
                    .alerts
                    .iter()
                    .map(|raised| {
                        *summary
                            .alerts_by_rule
                            .entry(raised.alert.rule_id.clone())
                            .or_default() += 1;
                        alert_document(raised, &batch.docs[raised.doc_index])
                    })
                    .collect();
                if !alerts.is_empty() && alert_tx.blocking_send(alerts).is_err() {
                    break;
                }
            }
            summary
        });

        let mut sink = JsonlSink::create(&self.output)?;
        let write = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            while let Some(alerts) = alert_rx.blocking_recv() {
                for alert in &alerts {
                    sink.write(alert).context("writing alerts")?;
                }
            }
            Ok(sink.finish()?)
        });

        // Join from the end: a failing sink closes its channel, which stops
        // the stages before it.
        let written = write.await??;
        let mut summary = evaluate.await?;
        let decoded = decode.await?;
        let read = source.await?.context("reading the input")?;
        summary.lines_read = read.lines_read;
        summary.decoded_audit = decoded.decoded_audit;
        summary.decoded_other = decoded.decoded_other;
        summary.failed = decoded.failed;
        summary.failed_lines = decoded.failed_lines;
        anyhow::ensure!(
            written == summary.alerts(),
            "{} alerts raised but {written} written",
            summary.alerts()
        );
        Ok(summary)
    }
}
