//! Evaluating batches: which documents each pack wants, each batch written
//! once for all packs; then every pack's share of the work on the engine's
//! threads, a stateful pack's batches in order on its one instance, a
//! stateless pack's batches cut into parts on instances of their own; then
//! the outcomes gathered batch by batch, pack by pack, exactly as one thread
//! evaluating one batch at a time would have produced them.
//!
//! Several batches at once (what the decode stage has queued) keeps the
//! threads busy: the batches are written side by side, and each thread runs
//! its instance through all of them without waiting for the other packs at
//! every batch.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::batch::BatchText;
use super::instance::{Instance, Recipe};
use super::{
    BatchOutcome, EventFacts, LoadedPack, PackError, PackFailure, PackInterest, PackMeta,
    RuleEngine, admit_alerts, facts, quarantine_alert,
};
use crate::decode::DecodedDoc;

/// A stateless pack's part is at least this many events: below it, the
/// call costs more than the threads save.
const MIN_PART_EVENTS: usize = 64;

/// The most batches the engine stage hands over at once: what its channel
/// holds when the engine is the slower stage.
pub const MAX_BATCHES_AT_ONCE: usize = 8;

/// One batch, ready for the packs.
struct Prepared {
    /// Per pack, the documents it is given (positions in the batch).
    selections: Vec<Vec<usize>>,
    /// Per document, its event's position in the written batch (none: no
    /// pack wants it).
    written: Vec<Option<usize>>,
}

/// One call into an instance: a part (or the whole) of a pack's selection
/// in one batch.
struct Part {
    batch: usize,
    /// Which of the batch's parts for this pack.
    nth: usize,
    /// Which of the pack's selected documents.
    range: Range<usize>,
    /// Their events' positions in the written batch; `None`: all of them.
    events: Option<Vec<usize>>,
}

/// One instance making a pack's calls, in batch order, taking the next
/// from the pack's queue. A stateless pack's instances share the queue,
/// so whichever is free takes the next call.
struct Chain<'a> {
    pack: usize,
    meta: Arc<PackMeta>,
    recipe: &'a Recipe,
    instance: &'a mut Instance,
    queue: &'a Mutex<VecDeque<Part>>,
}

/// What one call gave: its alerts already checked, on the call's thread.
struct PartDone {
    nth: usize,
    batch: usize,
    range: Range<usize>,
    elapsed: Duration,
    result: Result<Admitted, PackError>,
}

/// A call's alerts as the pack returned them (`raised`) and as admitted.
struct Admitted {
    raised: usize,
    outcome: BatchOutcome,
}

/// What a batch's calls share: its text, its documents and who wants them.
#[derive(Clone, Copy)]
struct BatchRef<'a> {
    /// Its position among the batches evaluated together.
    index: usize,
    text: &'a BatchText,
    docs: &'a [DecodedDoc],
    prepared: &'a Prepared,
}

impl RuleEngine {
    /// Evaluate a batch of documents with every pack interested in them.
    pub fn evaluate(&mut self, docs: &[DecodedDoc]) -> BatchOutcome {
        self.evaluate_batches(&[docs])
            .pop()
            .expect("one outcome per batch")
    }

    /// Evaluate consecutive batches, in order: one outcome per batch, each
    /// the same, alert for alert and counter for counter, as `evaluate` on
    /// that batch after the ones before it.
    pub fn evaluate_batches(&mut self, batches: &[&[DecodedDoc]]) -> Vec<BatchOutcome> {
        let everything = self.config.evaluate_everything;
        if self.texts.len() < batches.len() {
            self.texts.resize_with(batches.len(), BatchText::default);
        }
        let interests: Vec<Option<&PackInterest>> = self
            .packs
            .iter()
            .map(|p| p.quarantined.is_none().then_some(&p.meta.interest))
            .collect();
        let jobs: Vec<_> = self.texts.iter_mut().zip(batches).collect();
        let prepared: Vec<Prepared> = self.workers.map(jobs, |(text, docs)| {
            prepare(text, docs, &interests, everything)
        });
        drop(interests);
        let batches: Vec<BatchRef<'_>> = batches
            .iter()
            .zip(&self.texts)
            .zip(&prepared)
            .enumerate()
            .map(|(index, ((docs, text), prepared))| BatchRef {
                index,
                text,
                docs,
                prepared,
            })
            .collect();

        // Into how many parts each pack's selection in each batch is cut.
        let threads = self.workers.threads();
        let mut plans: Vec<Vec<usize>> = Vec::with_capacity(self.packs.len());
        for (i, pack) in self.packs.iter_mut().enumerate() {
            let sizes: Vec<usize> = batches
                .iter()
                .map(|b| match pack.quarantined {
                    Some(_) => 0,
                    None => b.prepared.selections[i].len(),
                })
                .collect();
            let wanted = match pack.meta.stateless() {
                true => (sizes.iter().sum::<usize>() / MIN_PART_EVENTS).clamp(1, threads),
                false => 1,
            };
            pack.ensure_instances(wanted);
            let instances = pack.instances_mut(wanted).1.len();
            plans.push(parts_per_batch(&sizes, instances));
        }
        let queues: Vec<Mutex<VecDeque<Part>>> = plans
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                let batches = &batches;
                let parts = plan.iter().enumerate().flat_map(|(b, &count)| {
                    (0..count).map(move |nth| part(batches[b], i, nth, count))
                });
                Mutex::new(parts.collect())
            })
            .collect();

        let mut chains: Vec<(f64, Chain<'_>)> = Vec::new();
        for (i, pack) in self.packs.iter_mut().enumerate() {
            let queue = &queues[i];
            let (calls, events) = {
                let parts = queue.lock().unwrap_or_else(|e| e.into_inner());
                (
                    parts.len(),
                    parts.iter().map(|p| p.range.len()).sum::<usize>(),
                )
            };
            if calls == 0 {
                continue;
            }
            let cost = pack.nanos_per_event.max(1.0);
            let meta = pack.meta.clone();
            let (recipe, instances) = pack.instances_mut(calls);
            let estimate = cost * events as f64 / instances.len() as f64;
            for instance in instances.iter_mut() {
                let chain = Chain {
                    pack: i,
                    meta: meta.clone(),
                    recipe,
                    instance,
                    queue,
                };
                chains.push((estimate, chain));
            }
        }
        // Longest first, so the threads finish together; the outcome does
        // not depend on this order.
        chains.sort_by(|a, b| b.0.total_cmp(&a.0));
        let chains: Vec<Chain<'_>> = chains.into_iter().map(|(_, c)| c).collect();
        let ran: Vec<(usize, Vec<PartDone>)> = self
            .workers
            .map(chains, |chain| (chain.pack, run_chain(&batches, chain)));
        let mut done: Vec<Vec<Vec<PartDone>>> = (0..self.packs.len())
            .map(|_| (0..batches.len()).map(|_| Vec::new()).collect())
            .collect();
        for (pack, parts) in ran {
            for part in parts {
                done[pack][part.batch].push(part);
            }
        }

        let mut outcomes: Vec<BatchOutcome> =
            batches.iter().map(|_| BatchOutcome::default()).collect();
        for (i, pack) in self.packs.iter_mut().enumerate() {
            for (b, batch) in batches.iter().enumerate() {
                let parts = std::mem::take(&mut done[i][b]);
                let outcome = &mut outcomes[b];
                let count = plans[i][b];
                gather(pack, i, *batch, count, parts, &self.host_meta, outcome);
            }
        }
        outcomes
    }
}

/// The `i`th pack's part of a batch's outcome, from what its calls gave, as
/// one thread evaluating one batch at a time would have made it: counted,
/// quarantining the pack after failures in a row, its alerts in order.
fn gather(
    pack: &mut LoadedPack,
    i: usize,
    batch: BatchRef<'_>,
    count: usize,
    mut parts: Vec<PartDone>,
    host_meta: &Arc<PackMeta>,
    outcome: &mut BatchOutcome,
) {
    let selected = &batch.prepared.selections[i];
    if selected.is_empty() {
        return;
    }
    // Quarantined before this batch (maybe by an earlier one of the same
    // group): not called, but what it would have seen is counted and
    // reported, never silently skipped.
    if let Some(reason) = &pack.quarantined {
        let error = PackError::Quarantined(reason.clone());
        pack.record(selected.len(), Err(&error));
        outcome.failures.push(PackFailure {
            pack: pack.name().to_string(),
            error,
            documents: selected.len(),
        });
        return;
    }
    // An instance stops at its first failure, which might have quarantined
    // the pack; it did not, so the calls it left are made now, in order.
    let meta = pack.meta.clone();
    let (recipe, instances) = pack.instances_mut(1);
    for nth in 0..count {
        if !parts.iter().any(|p| p.nth == nth) {
            let part = part(batch, i, nth, count);
            parts.push(run_part(batch, i, &meta, recipe, &mut instances[0], part));
        }
    }
    parts.sort_by_key(|p| p.range.start);

    let first_alert = outcome.alerts.len();
    let (mut evaluated, mut raised, mut elapsed) = (0, 0, Duration::ZERO);
    let mut failed: Option<(usize, PackError)> = None;
    for part in parts {
        elapsed += part.elapsed;
        match part.result {
            Ok(admitted) => {
                evaluated += part.range.len();
                raised += admitted.raised;
                outcome.alerts.extend(admitted.outcome.alerts);
                outcome.rejected.extend(admitted.outcome.rejected);
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
            host_meta,
            pack,
            &reason,
            &batch.docs[selected[0]],
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

/// Which documents each pack wants, and those written into `text` once for
/// all of them (decoded once before: no parse here). A pack given as `None`
/// (quarantined) wants nothing written.
fn prepare(
    text: &mut BatchText,
    docs: &[DecodedDoc],
    interests: &[Option<&PackInterest>],
    everything: bool,
) -> Prepared {
    // What the interest filters read, read once per document, not once per
    // document and pack.
    let facts: Vec<EventFacts<'_>> = docs.iter().map(facts).collect();
    let selections: Vec<Vec<usize>> = interests
        .iter()
        .map(|interest| {
            facts
                .iter()
                .enumerate()
                .filter(|(_, f)| everything || interest.is_none_or(|i| i.matches(f)))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let mut wanted = vec![false; docs.len()];
    for (selected, interest) in selections.iter().zip(interests) {
        if interest.is_some() {
            selected.iter().for_each(|&i| wanted[i] = true);
        }
    }
    text.clear();
    let written = docs
        .iter()
        .zip(&wanted)
        .map(|(doc, &wanted)| wanted.then(|| text.push(doc)))
        .collect();
    Prepared {
        selections,
        written,
    }
}

/// Into how many parts a pack's selections in consecutive batches
/// (`sizes`) are cut for its `instances`. One instance takes every batch
/// whole. Several (a stateless pack) take whole batches when there are
/// batches enough to go round, as each part of a batch is one more call and
/// one more copy of its text into an instance; else each batch is cut into
/// parts of `MIN_PART_EVENTS` or more.
fn parts_per_batch(sizes: &[usize], instances: usize) -> Vec<usize> {
    let batches = sizes.iter().filter(|&&n| n > 0).count();
    let last = sizes.iter().rposition(|&n| n > 0);
    sizes
        .iter()
        .enumerate()
        .map(|(b, &n)| match n {
            0 => 0,
            _ if instances <= 1 => 1,
            // The last batch in parts all the same: the instances then
            // finish together rather than one waiting on another's batch.
            _ if batches >= instances && Some(b) != last => 1,
            n => (n / MIN_PART_EVENTS).clamp(1, instances),
        })
        .collect()
}

/// The `nth` of `count` parts of pack `pack`'s selection in a batch.
fn part(batch: BatchRef<'_>, pack: usize, nth: usize, count: usize) -> Part {
    let selected = &batch.prepared.selections[pack];
    let range = nth * selected.len() / count..(nth + 1) * selected.len() / count;
    let events = (count > 1 || selected.len() != batch.text.len()).then(|| {
        selected[range.clone()]
            .iter()
            .filter_map(|&d| batch.prepared.written[d])
            .collect()
    });
    Part {
        batch: batch.index,
        nth,
        range,
        events,
    }
}

/// A chain's calls in order, up to its instance's first failure: whether
/// the pack goes on after it is for the gathering to decide.
fn run_chain(batches: &[BatchRef<'_>], chain: Chain<'_>) -> Vec<PartDone> {
    let Chain {
        pack,
        meta,
        recipe,
        instance,
        queue,
    } = chain;
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    let mut done = Vec::new();
    while let Some(part) = next() {
        let batch = batches[part.batch];
        let result = run_part(batch, pack, &meta, recipe, instance, part);
        let failed = result.result.is_err();
        done.push(result);
        if failed {
            break;
        }
    }
    done
}

/// One part through its instance, timed, and its alerts checked.
fn run_part(
    batch: BatchRef<'_>,
    pack: usize,
    meta: &Arc<PackMeta>,
    recipe: &Recipe,
    instance: &mut Instance,
    part: Part,
) -> PartDone {
    let own_blocks;
    let text = match &part.events {
        None => batch.text.all(),
        Some(events) => {
            own_blocks = batch.text.blocks(events);
            batch.text.batch(&own_blocks)
        }
    };
    let started = Instant::now();
    let result = instance.evaluate(recipe, text);
    let elapsed = started.elapsed();
    let selected = &batch.prepared.selections[pack][part.range.clone()];
    let result = result.map(|alerts| {
        let mut outcome = BatchOutcome::default();
        let raised = alerts.len();
        admit_alerts(meta, alerts, selected, batch.docs, &mut outcome);
        Admitted { raised, outcome }
    });
    PartDone {
        nth: part.nth,
        batch: part.batch,
        range: part.range,
        elapsed,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instance_takes_every_batch_whole() {
        assert_eq!(parts_per_batch(&[500, 0, 7], 1), [1, 0, 1]);
    }

    #[test]
    fn several_instances_take_whole_batches_when_there_are_enough() {
        assert_eq!(parts_per_batch(&[500, 500, 0, 500, 0], 2), [1, 1, 0, 2, 0]);
        assert_eq!(parts_per_batch(&[9, 9, 9], 3), [1, 1, 1]);
    }

    #[test]
    fn fewer_batches_than_instances_are_cut_into_parts_of_a_minimum_size() {
        assert_eq!(parts_per_batch(&[500], 2), [2]);
        assert_eq!(parts_per_batch(&[100], 3), [1]);
        assert_eq!(parts_per_batch(&[500, 0], 8), [7, 0]);
    }
}
