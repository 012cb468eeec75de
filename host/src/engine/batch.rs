//! Writing a `batch` of the WIT contract: each document arrives decoded
//! once, in the decode stage, into the batch's flat layout
//! (`rule_sdk::wire`) with the same types a pack reads it as; the batch is
//! those layouts copied end to end, so a pack reads an event without parsing
//! JSON and all the packs of a deployment share that one parse.

use rule_sdk::wire::BatchWriter;

use crate::contract::Batch;
use crate::decode::DecodedDoc;

/// Buffers larger than this are not kept between batches (a batch of 500
/// typical audit events is about 0.5 MB).
const KEPT_TEXT_BYTES: usize = 16 << 20;

/// A part's own words: its events' blocks and list entries, moved to
/// point into the span of text the part shares.
#[derive(Default)]
pub struct PartWords {
    blocks: Vec<u32>,
    strings: Vec<u32>,
}

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
        Batch {
            text: &self.writer.text,
            strings: &self.writer.strings,
            events: &self.writer.events,
        }
    }

    /// A batch of these events (positions as `push` gave them, in order),
    /// for a pack given some: the span of text they lie in, shared, not
    /// copied, and their blocks and list entries moved into `words`.
    pub fn part<'a>(&'a self, events: &[usize], words: &'a mut PartWords) -> Batch<'a> {
        let text = self
            .writer
            .part(events, &mut words.blocks, &mut words.strings);
        Batch {
            text,
            strings: &words.strings,
            events: &words.blocks,
        }
    }
}
