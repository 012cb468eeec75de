//! The sink stage: aggregation and writing, one task, since the
//! aggregator's state and what was written must move together for
//! checkpoints to be exact.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use super::Evaluated;
use crate::aggregate::{Aggregator, Merge};
use crate::alert::PendingAlert;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::decode::DocRef;
use crate::notify::{FirstSeen, Notifier};
use crate::ops::{Health, Metrics};
use crate::sink::Output;
use crate::sink::alert_writes::{AlertWrites, Moment, Rewrites, Written};
use crate::sink::jsonl::JsonlSink;
use crate::summary::SinkReport;

/// The operator's view of the sink stage.
pub(super) struct Observe {
    pub(super) metrics: Metrics,
    pub(super) health: Health,
    pub(super) notifier: Notifier,
}

/// Aggregation and writing, one task: the aggregator's state and what was
/// written must move together for checkpoints to be exact.
pub(super) async fn sink_stage(
    output: Output,
    mut aggregator: Aggregator,
    checkpoints: Option<CheckpointStore>,
    flush_interval: Duration,
    rewrites: Rewrites,
    mut rx: mpsc::Receiver<Evaluated>,
    observe: Observe,
) -> anyhow::Result<SinkReport> {
    let mut summary = SinkReport::default();
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
            let mut writes = AlertWrites::new(writer, alerts_prefix, rewrites);
            let mut written = Written::default();
            let metrics = &observe.metrics;
            let mut flush = tokio::time::interval(flush_interval);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    evaluated = rx.recv() => match evaluated {
                        Some(Evaluated::Alerts(alerts)) => merge(&mut aggregator, alerts, &mut summary, &observe),
                        Some(Evaluated::End(end)) => {
                            // Nothing after `to` can merge into what ended
                            // more than D before it: it closes here.
                            writes.flush(&mut aggregator, Moment::WindowEnd(end.to), &mut written, metrics).await?;
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
                        if writes.start(&mut aggregator, &mut written, metrics).await? {
                            // Taken for writing; those that can no longer
                            // grow leave memory (with final rewrites, the
                            // write took them already).
                            aggregator.close_idle();
                        }
                    }
                }
            }
            writes
                .flush(&mut aggregator, Moment::End, &mut written, metrics)
                .await?;
            summary.alerts_written += written.alerts;
            summary.dead_lettered += written.dead_lettered;
        }
    }
    // Alerts are written; the channels get a bounded time to catch up.
    summary.notifications = observe.notifier.shutdown().await;
    Ok(summary)
}

fn merge(
    aggregator: &mut Aggregator,
    alerts: Vec<(PendingAlert, DocRef)>,
    summary: &mut SinkReport,
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
