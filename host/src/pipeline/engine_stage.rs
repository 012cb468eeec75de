//! The engine stage: batches of documents through the rule packs, and the
//! rules folder rescanned between batches when it changed.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{Decoded, DocRef, Evaluated};
use crate::alert::{PendingAlert, configured_cluster};
use crate::decode::DecodedDoc;
use crate::engine::{BatchOutcome, MAX_BATCHES_AT_ONCE, RuleEngine};
use crate::ops::{Health, Metrics, StatusBoard};
use crate::summary::EvaluateReport;

/// The watcher's signals become messages in the engine's own channel, so
/// the engine reloads as soon as it is between batches, also when it is
/// idle between windows (waiting for the next batch would add up to a whole
/// interval). The forwarder holds the channel weakly: it never keeps the
/// pipeline from ending, and it ends with the watcher.
pub(super) fn forward_reloads(
    signals: std::sync::mpsc::Receiver<()>,
    to: mpsc::WeakSender<Decoded>,
) {
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

/// How often the rules folder is rescanned while no pack is loaded.
const NO_PACK_RESCAN: Duration = Duration::from_millis(500);

/// What the engine stage reports to, and listens to, besides its channels.
pub(super) struct EngineStage {
    pub metrics: Metrics,
    pub status: StatusBoard,
    pub health: Health,
    pub shutdown: watch::Receiver<bool>,
    /// The rules folders rescanned on a change (streaming only).
    pub reload_dirs: Option<Vec<PathBuf>>,
    /// `--cluster-name`, for alert documents.
    pub cluster_name: Option<String>,
    /// `--cluster-field` is set: each document names its own cluster.
    pub clusters_per_document: bool,
}

pub(super) fn engine_stage(
    engine: &mut RuleEngine,
    mut rx: mpsc::Receiver<Decoded>,
    tx: mpsc::Sender<Evaluated>,
    stage: &EngineStage,
) -> EvaluateReport {
    let EngineStage {
        metrics,
        status,
        reload_dirs,
        ..
    } = stage;
    let mut summary = EvaluateReport::default();
    status.publish(engine.status_json());
    metrics.set_packs_refused(engine.refused().count());
    metrics.set_threads(engine.workers().threads());
    // A message taken from the channel while gathering batches, to handle
    // after them.
    let mut held: Option<Decoded> = None;
    while let Some(decoded) = held.take().or_else(|| rx.blocking_recv()) {
        match decoded {
            // Packs are swapped between batches only: a batch is evaluated
            // by one set of packs, so no document is skipped or seen twice.
            Decoded::Reload => {
                if let Some(dirs) = &reload_dirs {
                    match engine.sync_dirs(dirs) {
                        Ok(_) => {
                            metrics.set_packs_loaded(engine.packs().count());
                            metrics.set_packs_refused(engine.refused().count());
                            // With no pack, nothing would be evaluated.
                            stage.health.set_ready(engine.packs().next().is_some());
                        }
                        Err(e) => tracing::error!(error = %e, "cannot rescan the rules folder"),
                    }
                    status.publish(engine.status_json());
                }
            }
            Decoded::End(end) => {
                if tx.blocking_send(Evaluated::End(end)).is_err() {
                    break;
                }
            }
            Decoded::Docs(docs) => {
                if !engine.has_rules() && !wait_for_a_pack(engine, stage) {
                    tracing::warn!(
                        documents = docs.len(),
                        "stopping with no pack loaded: these documents and the rest of the window are not evaluated, and the checkpoint stays before them (they are read again at the next start)"
                    );
                    break;
                }
                // The batches already queued behind this one are evaluated
                // with it: the threads then work through several without
                // waiting for each other at every batch. Nothing waits for
                // a batch not yet there.
                let mut group = vec![docs];
                while group.len() < MAX_BATCHES_AT_ONCE {
                    match rx.try_recv() {
                        Ok(Decoded::Docs(docs)) => group.push(docs),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let batches: Vec<&[DecodedDoc]> = group.iter().map(Vec::as_slice).collect();
                let outcomes = engine.evaluate_batches(&batches);
                let mut sent = true;
                for (docs, outcome) in group.iter().zip(outcomes) {
                    let alerts = account(docs, outcome, stage, &mut summary);
                    if tx.blocking_send(Evaluated::Alerts(alerts)).is_err() {
                        sent = false;
                        break;
                    }
                }
                status.publish(engine.status_json());
                metrics.set_process_cpu(crate::cores::process_cpu_time());
                metrics.set_packs_quarantined(
                    engine
                        .status()
                        .iter()
                        .filter(|p| p.quarantined.is_some())
                        .count(),
                );
                if !sent {
                    break;
                }
            }
        }
    }
    summary
}

/// A batch's outcome counted in the metrics and the summary, and its alerts
/// made ready for the sink.
fn account(
    docs: &[DecodedDoc],
    outcome: BatchOutcome,
    stage: &EngineStage,
    summary: &mut EvaluateReport,
) -> Vec<(PendingAlert, DocRef)> {
    let EngineStage {
        metrics,
        cluster_name,
        clusters_per_document,
        ..
    } = stage;
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
    summary.rejected_alerts += outcome.rejected.len() as u64;
    outcome
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
            (
                PendingAlert::new(
                    raised,
                    doc,
                    configured_cluster(doc, cluster_name.as_deref(), *clusters_per_document),
                ),
                doc.origin.clone(),
            )
        })
        .collect()
}

/// Every pack was removed while running: evaluating would raise nothing
/// and the window's checkpoint would still pass the documents. Hold them
/// instead: not ready, the rules folder rescanned until a pack is back.
/// Meanwhile nothing is taken from the channel, so the reading stops too
/// and the cursor stays where it was. False: shutdown came first.
fn wait_for_a_pack(engine: &mut RuleEngine, stage: &EngineStage) -> bool {
    let EngineStage {
        metrics,
        status,
        health,
        shutdown,
        reload_dirs,
        ..
    } = stage;
    let Some(dirs) = reload_dirs else {
        return false;
    };
    tracing::error!(dirs = ?dirs, "no rule pack loaded: evaluation and reading are held (not ready) until a pack is back in the rules folder");
    health.set_ready(false);
    while !engine.has_rules() {
        if *shutdown.borrow() {
            return false;
        }
        std::thread::sleep(NO_PACK_RESCAN);
        match engine.sync_dirs(dirs) {
            Ok(_) => {
                metrics.set_packs_loaded(engine.packs().count());
                metrics.set_packs_refused(engine.refused().count());
                status.publish(engine.status_json());
            }
            Err(e) => tracing::error!(error = %e, "cannot rescan the rules folder"),
        }
    }
    tracing::info!(
        packs = engine.packs().count(),
        "a rule pack is loaded again: evaluation resumes"
    );
    health.set_ready(true);
    true
}
