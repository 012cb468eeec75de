//! Evaluating batches: every pack's share of the work on the engine's
//! threads, a stateful pack's batches in order on its one instance, a
//! stateless pack's batches (or parts of them) on instances of their own;
//! each batch readied (which documents each pack wants, those written once
//! for all packs) by the first call that needs it; then the outcomes
//! gathered batch by batch, pack by pack, exactly as one thread evaluating
//! one batch at a time would have produced them.
//!
//! Several batches at once (what the decode stage has queued) keeps the
//! threads busy: each thread runs its instance through all of them without
//! waiting for the other packs at every batch, and readies batches while
//! the other threads call.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::batch::{BatchText, PartWords};
use super::instance::{Instance, Recipe};
use super::{
    BatchOutcome, EventFacts, LoadedPack, PackError, PackFailure, PackMeta, RuleEngine,
    admit_alerts, facts, quarantine_alert,
};
use crate::decode::DecodedDoc;

/// A stateless pack's part is at least this many events: below it, the
/// call costs more than the threads save.
const MIN_PART_EVENTS: usize = 64;

/// The most batches the engine stage hands over at once: what its channel
/// holds when the engine is the slower stage. Every group ends with the
/// threads waiting for its last call: 16 at once idle half as often as 8
/// (two threads at 1.84x-1.90x of one against 1.75x-1.86x), for about
/// 8 batches more in memory when the engine is the slower stage.
pub const MAX_BATCHES_AT_ONCE: usize = 16;

/// One batch, ready for the packs.
struct Ready {
    /// Per pack, the documents it is given (positions in the batch).
    selections: Vec<Vec<usize>>,
    /// Per document, its event's position in `text` (none: no pack that
    /// shares it wants the document).
    written: Vec<Option<usize>>,
    /// The documents the packs want, written once for all of them but
    /// those with a text of their own.
    text: BatchText,
    /// Per pack, its documents written apart when it wants few of them,
    /// scattered through the batch: a call copies the span of text its
    /// events lie in into the sandbox, which for a few scattered documents
    /// is nearly everyone's.
    own: Vec<Option<BatchText>>,
}

/// A pack wanting fewer than one in this many of the batch's documents
/// gets a text of its own.
const SPARSE: usize = 4;

/// The batches evaluated together, each made ready by the first thread
/// that needs it, or that has nothing else to do while another readies the
/// one it needs. Readying reads every document and copies the wanted ones;
/// done as the calls need it, it overlaps the packs' calls on the other
/// threads, where a step of its own before the calls held every thread
/// until the last batch was ready and ran two copies at once, which slow
/// each other.
struct Group<'a> {
    batches: &'a [&'a [DecodedDoc]],
    slots: Vec<Slot>,
    /// Per pack, what decides its documents; none: quarantined when the
    /// group began (it wants nothing written).
    interests: Vec<Option<Arc<PackMeta>>>,
    everything: bool,
}

struct Slot {
    /// The buffers to write into, until a thread claims the batch.
    unclaimed: Mutex<Option<BatchText>>,
    ready: OnceLock<Ready>,
    /// Set if readying failed (a panic): whoever waits on it fails too,
    /// rather than waiting for ever.
    abandoned: AtomicBool,
}

/// One call into an instance: the `nth` of `count` parts of a pack's
/// selection in one batch. Which documents those are is known once the
/// batch is ready.
struct Part {
    batch: usize,
    nth: usize,
    count: usize,
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

/// One batch of the group and its documents.
#[derive(Clone, Copy)]
struct BatchRef<'a> {
    /// Its position among the batches evaluated together.
    index: usize,
    group: &'a Group<'a>,
    docs: &'a [DecodedDoc],
}

impl BatchRef<'_> {
    /// Who wants what, and the text: readied now if no thread has yet.
    fn ready(&self) -> &Ready {
        self.group.ready(self.index)
    }
}

impl<'a> Group<'a> {
    /// The group's batches, not yet ready, with buffers from `spare`.
    fn new(
        batches: &'a [&'a [DecodedDoc]],
        spare: &mut [BatchText],
        interests: Vec<Option<Arc<PackMeta>>>,
        everything: bool,
    ) -> Self {
        let slots = (0..batches.len())
            .map(|i| {
                let text = spare.get_mut(i).map(std::mem::take).unwrap_or_default();
                Slot {
                    unclaimed: Mutex::new(Some(text)),
                    ready: OnceLock::new(),
                    abandoned: AtomicBool::new(false),
                }
            })
            .collect();
        Group {
            batches,
            slots,
            interests,
            everything,
        }
    }

    /// Batch `b`, ready: readied by this thread if unclaimed; if another
    /// thread is readying it, this one readies the next unclaimed batch
    /// meanwhile, and waits only when none is left.
    fn ready(&self, b: usize) -> &Ready {
        let slot = &self.slots[b];
        loop {
            if let Some(ready) = slot.ready.get() {
                return ready;
            }
            if self.claim(b) || (b + 1..self.slots.len()).any(|i| self.claim(i)) {
                continue;
            }
            if slot.abandoned.load(Ordering::Acquire) {
                panic!("readying batch {b} failed on another thread");
            }
            std::thread::yield_now();
        }
    }

    /// Ready batch `b` if no thread has claimed it: whether this call did.
    fn claim(&self, b: usize) -> bool {
        let slot = &self.slots[b];
        let claimed = slot
            .unclaimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(text) = claimed else {
            return false;
        };
        /// Marks the slot abandoned unless readying finished.
        struct Abandon<'s>(&'s AtomicBool, bool);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.store(true, Ordering::Release);
                }
            }
        }
        let mut guard = Abandon(&slot.abandoned, false);
        let ready = prepare(text, self.batches[b], &self.interests, self.everything);
        guard.1 = true;
        if slot.ready.set(ready).is_err() {
            unreachable!("a batch is claimed once");
        }
        true
    }

    /// The buffers back, written or not, for the next group.
    fn into_spare(self, spare: &mut Vec<BatchText>) {
        for (i, slot) in self.slots.into_iter().enumerate() {
            let text = match slot.ready.into_inner() {
                Some(ready) => ready.text,
                None => slot
                    .unclaimed
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_default(),
            };
            match spare.get_mut(i) {
                Some(kept) => *kept = text,
                None => spare.push(text),
            }
        }
    }
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
        let interests = self
            .packs
            .iter()
            .map(|p| p.quarantined.is_none().then(|| p.meta.clone()))
            .collect();
        let everything = self.config.evaluate_everything;
        let group = Group::new(batches, &mut self.texts, interests, everything);
        let batches: Vec<BatchRef<'_>> = batches
            .iter()
            .enumerate()
            .map(|(index, docs)| BatchRef {
                index,
                group: &group,
                docs,
            })
            .collect();

        // Into how many parts each pack's share of each batch is cut,
        // planned on the batches' sizes (which documents a pack wants is
        // known only when a batch is ready); a part that turns out empty
        // makes no call.
        let threads = self.workers.threads();
        let mut plans: Vec<Vec<usize>> = Vec::with_capacity(self.packs.len());
        for pack in self.packs.iter_mut() {
            let sizes: Vec<usize> = batches
                .iter()
                .map(|b| match pack.quarantined {
                    Some(_) => 0,
                    None => b.docs.len(),
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
            .map(|plan| {
                let parts = plan.iter().enumerate().flat_map(|(batch, &count)| {
                    (0..count).map(move |nth| Part { batch, nth, count })
                });
                Mutex::new(parts.collect())
            })
            .collect();

        let mut chains: Vec<(f64, Chain<'_>)> = Vec::new();
        for (i, pack) in self.packs.iter_mut().enumerate() {
            let queue = &queues[i];
            let calls = queue.lock().unwrap_or_else(|e| e.into_inner()).len();
            if calls == 0 {
                continue;
            }
            let offered: usize = batches
                .iter()
                .zip(&plans[i])
                .filter(|(_, count)| **count > 0)
                .map(|(b, _)| b.docs.len())
                .sum();
            let cost = pack.nanos_per_document.max(1.0);
            let meta = pack.meta.clone();
            let (recipe, instances) = pack.instances_mut(calls);
            let estimate = cost * offered as f64 / instances.len() as f64;
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
        drop(batches);
        group.into_spare(&mut self.texts);
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
    let selected = &batch.ready().selections[i];
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
            let part = Part {
                batch: batch.index,
                nth,
                count,
            };
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
    pack.observe_cost(batch.docs.len(), elapsed);
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
/// all of them, or apart for a pack that wants few (decoded once before: no
/// parse here). A pack given as `None` (quarantined) wants nothing written.
fn prepare(
    mut text: BatchText,
    docs: &[DecodedDoc],
    interests: &[Option<Arc<PackMeta>>],
    everything: bool,
) -> Ready {
    // What the interest filters read, read once per document, not once per
    // document and pack.
    let facts: Vec<EventFacts<'_>> = docs.iter().map(facts).collect();
    let selections: Vec<Vec<usize>> = interests
        .iter()
        .map(|meta| {
            facts
                .iter()
                .enumerate()
                .filter(|(_, f)| everything || meta.as_ref().is_none_or(|m| m.interest.matches(f)))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let sparse = |selected: &Vec<usize>| selected.len() * SPARSE < docs.len();
    let mut wanted = vec![false; docs.len()];
    for (selected, meta) in selections.iter().zip(interests) {
        if meta.is_some() && !sparse(selected) {
            selected.iter().for_each(|&i| wanted[i] = true);
        }
    }
    let own = selections
        .iter()
        .zip(interests)
        .map(|(selected, meta)| {
            (meta.is_some() && sparse(selected)).then(|| {
                let mut own = BatchText::default();
                for &d in selected {
                    own.push(&docs[d]);
                }
                own
            })
        })
        .collect();
    text.clear();
    let written = docs
        .iter()
        .zip(&wanted)
        .map(|(doc, &wanted)| wanted.then(|| text.push(doc)))
        .collect();
    Ready {
        selections,
        written,
        text,
        own,
    }
}

/// Into how many parts a pack's share of consecutive batches (`sizes`) is
/// cut for its `instances`. One instance takes every batch whole. Several
/// (a stateless pack) take whole batches when there are batches enough to
/// go round, as each part of a batch is one more call; else each batch is
/// cut into parts of `MIN_PART_EVENTS` or more. A part's call copies only
/// the span of text its events lie in.
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

/// Which of a pack's selected documents a part holds, the text they are
/// written in, and their events' positions in it (`None`: all of them).
fn documents<'r>(
    ready: &'r Ready,
    pack: usize,
    part: &Part,
) -> (Range<usize>, &'r BatchText, Option<Vec<usize>>) {
    let selected = &ready.selections[pack];
    let (nth, count) = (part.nth, part.count);
    let range = nth * selected.len() / count..(nth + 1) * selected.len() / count;
    if let Some(own) = &ready.own[pack] {
        return (range.clone(), own, (count > 1).then(|| range.collect()));
    }
    let events = (count > 1 || selected.len() != ready.text.len()).then(|| {
        selected[range.clone()]
            .iter()
            .filter_map(|&d| ready.written[d])
            .collect()
    });
    (range, &ready.text, events)
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

/// One part through its instance, timed, and its alerts checked. A part
/// with no documents makes no call.
fn run_part(
    batch: BatchRef<'_>,
    pack: usize,
    meta: &Arc<PackMeta>,
    recipe: &Recipe,
    instance: &mut Instance,
    part: Part,
) -> PartDone {
    let ready = batch.ready();
    let (range, written, events) = documents(ready, pack, &part);
    let selected = &ready.selections[pack][range.clone()];
    let (result, elapsed) = if selected.is_empty() {
        (Ok(Vec::new()), Duration::ZERO)
    } else {
        let mut words = PartWords::default();
        let text = match &events {
            None => written.all(),
            Some(events) => written.part(events, &mut words),
        };
        let started = Instant::now();
        let result = instance.evaluate(recipe, text);
        (result, started.elapsed())
    };
    let result = result.map(|alerts| {
        let mut outcome = BatchOutcome::default();
        let raised = alerts.len();
        admit_alerts(meta, alerts, selected, batch.docs, &mut outcome);
        Admitted { raised, outcome }
    });
    PartDone {
        nth: part.nth,
        batch: part.batch,
        range,
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
