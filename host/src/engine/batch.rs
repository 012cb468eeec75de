//! Writing a `batch` of the WIT contract: the host parses each audit event
//! once, natively, with the same types a pack reads it as, and lays the
//! batch out flat (`rule_sdk::wire`), so a pack reads an event without
//! parsing JSON and all the packs of a deployment share that one parse.

use rule_sdk::Event as ParsedEvent;
use rule_sdk::wire::{BatchWriter, EVENT_WORDS};

use super::bindings::Batch;
use crate::decode::DecodedDoc;
use crate::engine::EventKind;

/// The documents of one engine batch that some pack wants, written once.
pub struct BatchText {
    writer: BatchWriter,
}

impl BatchText {
    pub fn with_capacity(text_bytes: usize, events: usize) -> Self {
        BatchText {
            writer: BatchWriter::with_capacity(text_bytes, events),
        }
    }

    /// Write one decoded document; its position among those written is its
    /// event's. An audit event whose fields do not have the audit schema's
    /// types (a string where a list belongs, ...) is an error, for the
    /// caller to count: it reaches no pack.
    pub fn push(&mut self, doc: &DecodedDoc) -> Result<usize, String> {
        match doc.kind {
            EventKind::Audit => {
                let event = ParsedEvent::from_json(&doc.json)
                    .map_err(|e| format!("not an audit event of the audit.k8s.io schema: {e}"))?;
                self.writer.push_audit(&event);
            }
            EventKind::Other => self.writer.push_other(&doc.json),
        }
        Ok(self.writer.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.writer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writer.is_empty()
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
