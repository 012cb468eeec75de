//! Writing a `batch` of the WIT contract: each document arrives decoded
//! once, in the decode stage, into the batch's flat layout
//! (`rule_sdk::wire`) with the same types a pack reads it as; the batch is
//! those layouts copied end to end, so a pack reads an event without parsing
//! JSON and all the packs of a deployment share that one parse.

use rule_sdk::wire::{BatchWriter, EVENT_WORDS};

use crate::contract::Batch;
use crate::decode::DecodedDoc;

/// Buffers larger than this are not kept between batches (a batch of 500
/// typical audit events is about 0.5 MB).
const KEPT_TEXT_BYTES: usize = 16 << 20;

/// The documents of one engine batch that some pack wants, written once.
#[derive(Default)]
pub struct BatchText {
    writer: BatchWriter,
}

impl BatchText {
    /// Forget what was written, keeping the buffers unless an outsized
    /// batch left them larger than batches usually need.
    pub fn clear(&mut self) {
        if self.writer.text.capacity() > KEPT_TEXT_BYTES {
            self.writer = BatchWriter::default();
        }
        self.writer.clear();
    }

    /// Write one decoded document (a copy of its texts, no parse); its
    /// position among those written is its event's.
    pub fn push(&mut self, doc: &DecodedDoc) -> usize {
        self.writer
            .append_event(doc.event.page(), doc.event.index());
        self.writer.len() - 1
    }

    pub fn len(&self) -> usize {
        self.writer.len()
    }

    /// The batch of every event written.
    pub fn all(&self) -> Batch<'_> {
        self.batch(&self.writer.events)
    }

    /// The blocks of these events (positions as `push` gave them), for a
    /// pack that wants only some: the texts are shared, not copied.
    pub fn blocks(&self, events: &[usize]) -> Vec<u32> {
        let mut words = Vec::with_capacity(events.len() * EVENT_WORDS);
        for &event in events {
            words.extend_from_slice(self.writer.block(event));
        }
        words
    }

    /// A batch of the texts written and these event blocks.
    pub fn batch<'a>(&'a self, events: &'a [u32]) -> Batch<'a> {
        Batch {
            text: &self.writer.text,
            strings: &self.writer.strings,
            events,
        }
    }
}
