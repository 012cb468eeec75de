//! The alert writes to Elasticsearch of a running pipeline.

use anyhow::Context;

use chrono::{DateTime, Utc};

use super::elasticsearch::{BulkDoc, BulkError, BulkReport, BulkWriter, alert_bulk_doc};
use crate::aggregate::Aggregator;
use crate::alert::AlertDoc;
use crate::ops::{Metrics, RetryKind};

/// What the writes wrote: alert documents indexed, and refused for good
/// (in the dead-letter file).
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub alerts: u64,
    pub dead_lettered: u64,
}

/// Which aggregates a write takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrites {
    /// Every aggregate changed since the last write, open or not: alerts
    /// grow in the index as they happen (streaming).
    Growing,
    /// Only aggregates that can no longer grow, each written once, final:
    /// a replay reads hours of logs in minutes, so a growing aggregate
    /// rewritten every tick costs the cluster many index writes for one
    /// document (at 1M documents, 38 000 writes for 629 alerts), and its
    /// aggregates close within seconds as the input moves D past them.
    Final,
}

/// When the sink takes aggregates to write.
#[derive(Debug, Clone, Copy)]
pub enum Moment {
    /// A flush tick.
    Tick,
    /// The end of a window read up to this time.
    WindowEnd(DateTime<Utc>),
    /// The input is done: nothing will grow any more.
    End,
}

/// The aggregates to write at `moment`. What the last write took is no
/// longer dirty; what is final leaves memory.
pub fn take(aggregator: &mut Aggregator, rewrites: Rewrites, moment: Moment) -> Vec<AlertDoc> {
    match (rewrites, moment) {
        (Rewrites::Growing, Moment::Tick | Moment::End) => aggregator.take_dirty(),
        (Rewrites::Growing, Moment::WindowEnd(to)) => {
            let docs = aggregator.take_dirty();
            // Nothing after `to` can merge into what ended more than D
            // before it; those were just taken if they had changed.
            aggregator.close_before(to);
            docs
        }
        (Rewrites::Final, Moment::Tick) => {
            let mut docs = aggregator.take_closed();
            docs.extend(aggregator.close_idle());
            docs
        }
        (Rewrites::Final, Moment::WindowEnd(to)) => {
            let mut docs = aggregator.take_closed();
            docs.extend(aggregator.close_before(to));
            docs
        }
        (Rewrites::Final, Moment::End) => aggregator.close_all(),
    }
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
    rewrites: Rewrites,
}

impl AlertWrites {
    pub fn new(writer: BulkWriter, alerts_prefix: String, rewrites: Rewrites) -> Self {
        AlertWrites {
            writer: Some(writer),
            running: None,
            alerts_prefix,
            rewrites,
        }
    }

    /// Start writing what a tick takes (see [`Rewrites`]), unless the last
    /// write is still running (they wait for the next tick). True when
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
        let docs = self.bulk_docs(take(aggregator, self.rewrites, Moment::Tick));
        if !docs.is_empty() {
            let mut writer = self.writer.take().expect("no write running");
            self.running = Some(tokio::spawn(async move {
                let report = writer.write(&docs).await;
                (writer, report)
            }));
        }
        Ok(true)
    }

    /// Write what `moment` takes, after the write running, and wait for
    /// both.
    pub async fn flush(
        &mut self,
        aggregator: &mut Aggregator,
        moment: Moment,
        written: &mut Written,
        metrics: &Metrics,
    ) -> anyhow::Result<()> {
        self.wait(written, metrics).await?;
        let docs = self.bulk_docs(take(aggregator, self.rewrites, moment));
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

    fn bulk_docs(&self, alerts: Vec<AlertDoc>) -> Vec<BulkDoc> {
        alerts
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::aggregate::AggregateConfig;
    use crate::alert::PendingAlert;
    use crate::decode::DocRef;

    fn alert(group: &str, time: &str, n: u64) -> (PendingAlert, DocRef) {
        let id = format!("{group}-{n}");
        let doc = AlertDoc {
            id: id.clone(),
            body: json!({"@timestamp": time, "rule": {"id": "r"},
                "k8scop": {"group_key": group, "count": 1, "alert_id": id}}),
        };
        (PendingAlert::from_document(doc), DocRef::line(n))
    }

    /// D = 600 s; "a" repeats every minute for an hour, "b" once at the
    /// start. Ticks fall after every alert.
    fn run(rewrites: Rewrites) -> Vec<AlertDoc> {
        let mut aggregator = Aggregator::new(AggregateConfig {
            window: chrono::Duration::seconds(600),
            max_sources: 2,
        });
        let mut written = Vec::new();
        let (b, source) = alert("b", "2024-03-01T10:00:00Z", 0);
        aggregator.add(b, source);
        for minute in 0..60u64 {
            let time = format!("2024-03-01T10:{minute:02}:30Z");
            let (a, source) = alert("a", &time, minute + 1);
            aggregator.add(a, source);
            written.extend(take(&mut aggregator, rewrites, Moment::Tick));
        }
        let to = "2024-03-01T11:00:30Z".parse().unwrap();
        written.extend(take(&mut aggregator, rewrites, Moment::WindowEnd(to)));
        written.extend(take(&mut aggregator, rewrites, Moment::End));
        written
    }

    #[test]
    fn a_replay_writes_each_aggregate_once_final() {
        let written = run(Rewrites::Final);
        let ids: Vec<&str> = written.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["b-0", "a-1"], "each once, the closed one first");
        let a = &written[1].body["k8scop"];
        assert_eq!(a["count"], 60, "written when it could no longer grow");
        assert_eq!(written[0].body["k8scop"]["count"], 1);
    }

    #[test]
    fn streaming_rewrites_a_growing_aggregate_at_every_tick() {
        let written = run(Rewrites::Growing);
        let a: Vec<&AlertDoc> = written.iter().filter(|d| d.id == "a-1").collect();
        assert_eq!(a.len(), 60, "once per tick it grew in");
        assert_eq!(a[59].body["k8scop"]["count"], 60);
        assert_eq!(written.iter().filter(|d| d.id == "b-0").count(), 1);
    }
}
