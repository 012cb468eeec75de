//! Evaluating a batch: which documents each pack wants, written once for
//! all; then every pack's share of the work on the engine's threads, a
//! stateful pack in one piece on its one instance, a stateless pack cut
//! into parts on instances of their own; then the outcome gathered pack by
//! pack, part by part, exactly as one thread would have produced it.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::batch::BatchText;
use super::instance::{Instance, Recipe};
use super::{
    BatchOutcome, EventFacts, PackError, PackFailure, RuleEngine, admit_alerts, facts,
    quarantine_alert,
};
use crate::contract::Alert;
use crate::decode::DecodedDoc;

/// A stateless pack's part is at least this many events: below it, the
/// call costs more than the threads save.
const MIN_PART_EVENTS: usize = 64;

/// One call into one instance: a part (or the whole) of a pack's selection.
struct Part<'a> {
    /// The pack's position in the engine.
    pack: usize,
    /// Which of the pack's selected documents.
    range: Range<usize>,
    /// Their events' positions in the written batch; `None`: all of them.
    events: Option<Vec<usize>>,
    recipe: &'a Recipe,
    instance: &'a mut Instance,
}

/// What one part gave.
struct PartDone {
    pack: usize,
    range: Range<usize>,
    elapsed: Duration,
    result: Result<Vec<Alert>, PackError>,
}

impl RuleEngine {
    /// Evaluate a batch of documents with every pack interested in them.
    pub fn evaluate(&mut self, docs: &[DecodedDoc]) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let everything = self.config.evaluate_everything;
        // What the interest filters read, read once per document, not once
        // per document and pack.
        let facts: Vec<EventFacts<'_>> = docs.iter().map(facts).collect();
        let selections: Vec<Vec<usize>> = self
            .packs
            .iter()
            .map(|pack| {
                facts
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| everything || pack.meta.interest.matches(f))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        // Each document some pack wants is copied into the batch once, for
        // all of them (decoded once before: no parse here).
        let mut wanted = vec![false; docs.len()];
        selections.iter().flatten().for_each(|&i| wanted[i] = true);
        let text = &mut self.batch;
        text.clear();
        // The position of each written document among the batch's events.
        let written: Vec<Option<usize>> = docs
            .iter()
            .zip(&wanted)
            .map(|(doc, &wanted)| wanted.then(|| text.push(doc)))
            .collect();
        let mut selections = selections;
        for selected in &mut selections {
            selected.retain(|&i| written[i].is_some());
        }

        // Quarantined packs are not called, but what they would have seen
        // is counted and reported, never silently skipped.
        let threads = self.workers.threads();
        let mut parts_of = vec![0; self.packs.len()];
        for (i, (pack, selected)) in self.packs.iter_mut().zip(&selections).enumerate() {
            if selected.is_empty() {
                continue;
            }
            if let Some(reason) = &pack.quarantined {
                let error = PackError::Quarantined(reason.clone());
                pack.record(selected.len(), Err(&error));
                outcome.failures.push(PackFailure {
                    pack: pack.name().to_string(),
                    error,
                    documents: selected.len(),
                });
                continue;
            }
            let wanted = if pack.meta.stateless() && threads > 1 {
                (selected.len() / MIN_PART_EVENTS).clamp(1, threads)
            } else {
                1
            };
            pack.ensure_instances(wanted);
            parts_of[i] = wanted;
        }

        let text: &BatchText = &self.batch;
        let mut parts: Vec<(f64, Part<'_>)> = Vec::new();
        for (i, pack) in self.packs.iter_mut().enumerate() {
            let selected = &selections[i];
            if parts_of[i] == 0 {
                continue;
            }
            let cost = pack.nanos_per_event.max(1.0);
            let (recipe, instances) = pack.instances_mut(parts_of[i]);
            let count = instances.len();
            for (k, instance) in instances.iter_mut().enumerate() {
                let range = k * selected.len() / count..(k + 1) * selected.len() / count;
                let events = (count > 1 || selected.len() != text.len()).then(|| {
                    selected[range.clone()]
                        .iter()
                        .filter_map(|&d| written[d])
                        .collect()
                });
                let estimate = cost * range.len() as f64;
                let part = Part {
                    pack: i,
                    range,
                    events,
                    recipe,
                    instance,
                };
                parts.push((estimate, part));
            }
        }
        // Longest first, so the threads finish together; the outcome does
        // not depend on this order.
        parts.sort_by(|a, b| b.0.total_cmp(&a.0));
        let parts: Vec<Part<'_>> = parts.into_iter().map(|(_, p)| p).collect();
        let mut done = self.workers.map(parts, |part| run_part(text, part));
        done.sort_by_key(|d| (d.pack, d.range.start));

        let mut done = done.into_iter().peekable();
        for (i, pack) in self.packs.iter_mut().enumerate() {
            let selected = &selections[i];
            let first_alert = outcome.alerts.len();
            let (mut evaluated, mut raised, mut elapsed) = (0, 0, Duration::ZERO);
            let mut failed: Option<(usize, PackError)> = None;
            while let Some(part) = done.next_if(|d| d.pack == i) {
                elapsed += part.elapsed;
                match part.result {
                    Ok(alerts) => {
                        evaluated += part.range.len();
                        raised += alerts.len();
                        let seen = &selected[part.range];
                        admit_alerts(&pack.meta, alerts, seen, docs, &mut outcome);
                    }
                    Err(error) => {
                        let documents = part.range.len();
                        match &mut failed {
                            Some((n, _)) => *n += documents,
                            None => failed = Some((documents, error)),
                        }
                    }
                }
            }
            if evaluated == 0 && failed.is_none() {
                continue; // not called
            }
            if pack.meta.stateless() {
                // Parts or not, a stateless pack's alerts in event order.
                outcome.alerts[first_alert..].sort_by_key(|a| a.doc_index);
            }
            let called = evaluated + failed.as_ref().map_or(0, |(n, _)| *n);
            outcome
                .evaluations
                .push((pack.name().to_string(), called, elapsed));
            pack.observe_cost(called, elapsed);
            let quarantined_now =
                pack.record_parts(evaluated, raised, failed.as_ref().map(|(n, e)| (*n, e)));
            if quarantined_now {
                let reason = pack.quarantined.clone().unwrap_or_default();
                tracing::error!(pack = pack.name(), %reason, "rule pack QUARANTINED until its file changes");
                outcome.alerts.push(quarantine_alert(
                    &self.host_meta,
                    pack,
                    &reason,
                    &docs[selected[0]],
                    selected[0],
                ));
            }
            if let Some((documents, error)) = failed {
                tracing::error!(pack = pack.name(), %error, documents, "pack failed on a batch");
                outcome.failures.push(PackFailure {
                    pack: pack.name().to_string(),
                    error,
                    documents,
                });
            }
        }
        outcome
    }
}

/// One part through its instance, timed.
fn run_part(text: &BatchText, part: Part<'_>) -> PartDone {
    let own_blocks;
    let batch = match &part.events {
        None => text.all(),
        Some(events) => {
            own_blocks = text.blocks(events);
            text.batch(&own_blocks)
        }
    };
    let started = Instant::now();
    let result = part.instance.evaluate(part.recipe, batch);
    PartDone {
        pack: part.pack,
        range: part.range,
        elapsed: started.elapsed(),
        result,
    }
}
