//! The alert writes to Elasticsearch of a running pipeline.

use anyhow::Context;

use super::elasticsearch::{BulkDoc, BulkError, BulkReport, BulkWriter, alert_bulk_doc};
use crate::aggregate::Aggregator;
use crate::ops::{Metrics, RetryKind};

/// What the writes wrote: alert documents indexed, and refused for good
/// (in the dead-letter file).
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub alerts: u64,
    pub dead_lettered: u64,
}

/// Alert writes to Elasticsearch. A flush tick's write runs in the
/// background while alerts keep merging, so a slow cluster holds up the
/// pipeline only when the last write is still running; a window's end
/// waits for every write, so a checkpoint never runs ahead of what is
/// written.
pub struct AlertWrites {
    /// The writer, when no write has it.
    writer: Option<BulkWriter>,
    running: Option<tokio::task::JoinHandle<(BulkWriter, Result<BulkReport, BulkError>)>>,
    alerts_prefix: String,
}

impl AlertWrites {
    pub fn new(writer: BulkWriter, alerts_prefix: String) -> Self {
        AlertWrites {
            writer: Some(writer),
            running: None,
            alerts_prefix,
        }
    }

    /// Start writing the aggregates changed since the last write, unless
    /// that write is still running (they wait for the next tick). True when
    /// they were taken.
    pub async fn start(
        &mut self,
        aggregator: &mut Aggregator,
        written: &mut Written,
        metrics: &Metrics,
    ) -> anyhow::Result<bool> {
        if self.running.as_ref().is_some_and(|w| !w.is_finished()) {
            return Ok(false);
        }
        self.wait(written, metrics).await?;
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
    pub async fn flush(
        &mut self,
        aggregator: &mut Aggregator,
        written: &mut Written,
        metrics: &Metrics,
    ) -> anyhow::Result<()> {
        self.wait(written, metrics).await?;
        let docs = self.take_dirty(aggregator);
        if !docs.is_empty() {
            let writer = self.writer.as_mut().expect("no write running");
            let report = writer.write(&docs).await?;
            account(&report, written, metrics);
        }
        Ok(())
    }

    /// Wait for the running write, if any, and count what it wrote.
    async fn wait(&mut self, written: &mut Written, metrics: &Metrics) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            let (writer, report) = running.await.context("the alert writing task failed")?;
            self.writer = Some(writer);
            account(&report?, written, metrics);
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

fn account(report: &BulkReport, written: &mut Written, metrics: &Metrics) {
    (0..report.requests).for_each(|_| metrics.bulk_request());
    metrics.bulk_retries(RetryKind::Item, report.retried_items);
    metrics.bulk_retries(RetryKind::Request, report.retried_requests);
    metrics.bulk_dead_lettered(report.dead_lettered);
    written.alerts += report.written;
    written.dead_lettered += report.dead_lettered;
}
