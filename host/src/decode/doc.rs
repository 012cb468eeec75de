//! What decoding gives: each document with where it came from, its event
//! laid out once for the packs, and the failures, counted by origin.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rule_sdk::bindings::k8scop::rules::types::{ListField, TextField};
use rule_sdk::wire::{BatchWriter, EventView};

use super::Shape;
use crate::contract::EventKind;

/// Where a document came from, to point an alert back at it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Line number in an input file, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The event's position in a document that holds many (an EventList's
    /// `items`, a CloudWatch envelope's `logEvents`), from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
}

impl DocRef {
    pub fn line(line: u64) -> Self {
        DocRef {
            line: Some(line),
            ..Default::default()
        }
    }

    /// The same reference, to the `item`th event of its document.
    pub fn with_item(&self, item: usize) -> Self {
        DocRef {
            item: Some(u32::try_from(item).unwrap_or(u32::MAX)),
            ..self.clone()
        }
    }

    /// A stable text form, used in deterministic alert ids: each event of
    /// a batch document has its own (`line:5#3`, `index/id#3`).
    pub fn key(&self) -> String {
        let doc = match (&self.index, &self.id, self.line) {
            (Some(index), Some(id), _) => format!("{index}/{id}"),
            (None, Some(id), _) => id.clone(),
            (_, None, Some(line)) => format!("line:{line}"),
            _ => String::new(),
        };
        match self.item {
            Some(item) => format!("{doc}#{item}"),
            None => doc,
        }
    }
}

/// A document ready for the rule engine, decoded once: what the chatter
/// filter, the request folding and the interest filter read, and what the
/// engine copies into a batch, is this one form.
#[derive(Debug, Clone)]
pub struct DecodedDoc {
    pub origin: DocRef,
    pub kind: EventKind,
    /// The event laid out as in a pack's batch (`rule_sdk::wire`), on the
    /// page of the documents decoded with it; a document that is not an
    /// audit event is its JSON.
    pub event: Laid,
    /// RFC 3339: the first of the event's times that parses (the stage's,
    /// when the request was received, v1beta1's, the document's
    /// `@timestamp`); "" when none does.
    pub time: String,
    /// `time`, parsed.
    pub timestamp: Option<DateTime<Utc>>,
    /// The event's first time did not parse and a later one is used.
    pub time_fallback: bool,
    /// How the audit event was found (`None` for other documents).
    pub shape: Option<Shape>,
    /// The cluster's name, where the document's envelope gives it (also
    /// the event's `k8scop.io/cluster` annotation).
    pub cluster: Option<String>,
}

/// What the decode stage's filters (chatter, request folding) read of a
/// document: the same for a document and for an event still on the page
/// being written, so an event they drop is never completed.
#[derive(Clone, Copy)]
pub struct DocFacts<'a> {
    pub kind: EventKind,
    pub timestamp: Option<DateTime<Utc>>,
    pub view: EventView<'a>,
}

impl DecodedDoc {
    pub fn facts(&self) -> DocFacts<'_> {
        DocFacts {
            kind: self.kind,
            timestamp: self.timestamp,
            view: self.view(),
        }
    }

    /// The event's fields, read from its layout.
    pub fn view(&self) -> EventView<'_> {
        self.event
            .page
            .reader()
            .view(self.event.index)
            .expect("a decoded document's event is on its page")
    }

    /// Add an annotation to the event as the packs see it. Its page is
    /// shared, so the event moves to a page of its own first.
    pub fn annotate(&mut self, key: &str, value: &str) {
        let mut alone = BatchWriter::default();
        alone.append_event(&self.event.page, self.event.index);
        alone.add_pair(0, ListField::Annotations, key, value);
        self.event = Laid::alone(alone);
    }

    /// The event as a pack reads it.
    pub fn audit_event(&self) -> Option<rule_sdk::Event<'_>> {
        let view = self.view();
        view.is_audit().then(|| view.event())
    }

    /// A document's JSON source, when it is not an audit event.
    pub fn other_json(&self) -> Option<&str> {
        self.view().other_json()
    }

    pub fn verb(&self) -> &str {
        self.view().text(TextField::Verb)
    }

    pub fn resource(&self) -> &str {
        self.view().text(TextField::Resource)
    }

    pub fn subresource(&self) -> &str {
        self.view().text(TextField::Subresource)
    }

    /// The request an audit event belongs to ("" when absent).
    pub fn audit_id(&self) -> &str {
        self.view().text(TextField::AuditId)
    }

    /// The stage it was logged at ("" when absent).
    pub fn stage(&self) -> &str {
        self.view().text(TextField::Stage)
    }
}

/// Where a decoded event's layout lives: its place on a page, the one
/// writer that the events decoded together (a read batch) are laid out on.
/// A page is one allocation for hundreds of events, not three per event,
/// and is freed once, by whichever stage drops its last event.
#[derive(Debug, Clone)]
pub struct Laid {
    page: Arc<BatchWriter>,
    index: usize,
}

impl Laid {
    /// The only event of `page`.
    pub(super) fn alone(page: BatchWriter) -> Self {
        Laid {
            page: Arc::new(page),
            index: 0,
        }
    }

    pub fn page(&self) -> &BatchWriter {
        &self.page
    }

    /// The event's position on its page.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// A root audit event laid out on a page still being written (the decode
/// stage's read batch): a document once the page is complete.
#[derive(Debug)]
pub struct OnPage {
    pub(super) index: usize,
    pub(super) origin: DocRef,
    pub(super) time: String,
    pub(super) timestamp: Option<DateTime<Utc>>,
    pub(super) time_fallback: bool,
    /// What `--cluster-field` read (a root event has no envelope).
    pub(super) cluster: Option<String>,
}

impl OnPage {
    /// Its facts, read off the page it is being written on.
    pub fn facts<'a>(&self, page: &'a BatchWriter) -> DocFacts<'a> {
        DocFacts {
            kind: EventKind::Audit,
            timestamp: self.timestamp,
            view: page
                .reader()
                .view(self.index)
                .expect("an event laid out on the page"),
        }
    }

    /// The event's position on its page.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The same document, its event copied to position `index` of another
    /// page (`BatchWriter::append_event`).
    pub fn moved_to(self, index: usize) -> Self {
        OnPage { index, ..self }
    }

    pub fn time_fallback(&self) -> bool {
        self.time_fallback
    }

    /// The document, on its completed page.
    pub fn on(self, page: &Arc<BatchWriter>) -> DecodedDoc {
        DecodedDoc {
            origin: self.origin,
            kind: EventKind::Audit,
            event: Laid {
                page: Arc::clone(page),
                index: self.index,
            },
            time: self.time,
            timestamp: self.timestamp,
            time_fallback: self.time_fallback,
            shape: Some(Shape::Root),
            cluster: self.cluster,
        }
    }
}

/// One line's (or search hit's) decoding: the common case, a root audit
/// event, laid out on the page; any other document decoded apart.
#[derive(Debug)]
pub enum Line {
    OnPage(OnPage),
    Apart(Decoded),
}

/// What one document decoded into: usually one document, several for a
/// batch (an EventList, a CloudWatch envelope), each with its own origin.
#[derive(Debug, Default)]
pub struct Decoded {
    pub docs: Vec<DecodedDoc>,
    /// Events of a batch that do not decode (the others do), by origin.
    pub failed: Vec<(DocRef, DecodeError)>,
}

impl Line {
    /// The documents, once the page they may be laid out on is complete.
    pub fn complete(self, page: &Arc<BatchWriter>) -> Decoded {
        match self {
            Line::OnPage(doc) => Decoded::one(doc.on(page)),
            Line::Apart(decoded) => decoded,
        }
    }
}

impl Decoded {
    pub(super) fn one(doc: DecodedDoc) -> Self {
        Decoded {
            docs: vec![doc],
            failed: Vec::new(),
        }
    }

    /// Take an event of a batch, or its failure by its origin.
    pub(super) fn add(&mut self, origin: &DocRef, doc: Result<DecodedDoc, DecodeError>) {
        match doc {
            Ok(doc) => self.docs.push(doc),
            Err(e) => self.failed.push((origin.clone(), e)),
        }
    }

    /// The one document decoded, for a caller that holds one event.
    pub fn single(mut self) -> Result<DecodedDoc, DecodeError> {
        if let Some((_, error)) = self.failed.into_iter().next() {
            return Err(error);
        }
        match self.docs.len() {
            1 => Ok(self.docs.remove(0)),
            n => Err(DecodeError::NotOneEvent(n)),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("a document must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("field {field} holds something that is not an audit event: {reason}")]
    BadEmbeddedEvent { field: String, reason: String },
    /// A document of a shape that holds audit events (or an event of one)
    /// that does not decode.
    #[error("looks like {shape} audit data but does not decode: {reason}")]
    Undecodable { shape: Shape, reason: String },
    #[error("holds {0} documents where one was expected")]
    NotOneEvent(usize),
}

impl DecodeError {
    pub(super) fn undecodable(shape: Shape, reason: impl Into<String>) -> Self {
        DecodeError::Undecodable {
            shape,
            reason: reason.into(),
        }
    }
}
