//! The decode stage: raw lines and hits become documents for the packs,
//! counted by shape; chatter and the stages folded into their request's
//! counted stage leave here, counted, decided as each is decoded. With
//! several threads, a read batch is parsed in parts side by side
//! (`decode_parts`) and decided after, in the same order.

use rule_sdk::bindings::k8scop::rules::types::ListField;
use rule_sdk::wire::{BatchWriter, Mark};
use tokio::sync::mpsc;

use super::decode_parts::{DecodedPart, decode_in_parts, worth_parts};
use super::reduce::{Fate, Reducer};
use super::{Decoded, Raw, item_reason};
use crate::chatter::{CHATTER_ANNOTATION, ChatterCounts, ChatterFilter, ChatterMode};
use crate::contract::EventKind;
use crate::decode::{DecodeError, DecodedDoc, Decoder, DocRef, Line, Shape, page_of};
use crate::ops::{DocumentKind, Metrics};
use crate::request_once::RequestOnce;
use crate::summary::DecodeReport;
use crate::workers::Workers;

/// How the stage parses: the decoder, and the threads it may parse on.
pub(super) struct Parsing {
    pub decoder: Decoder,
    pub workers: Workers,
}

pub(super) fn decode_stage(
    parsing: Parsing,
    mut request_once: RequestOnce,
    chatter: &ChatterFilter,
    batch_size: usize,
    mut rx: mpsc::Receiver<Raw>,
    tx: mpsc::Sender<Decoded>,
    metrics: &Metrics,
) -> DecodeReport {
    let Parsing { decoder, workers } = parsing;
    let workers = &workers;
    let mut summary = DecodeReport::default();
    if chatter.mode() != ChatterMode::Off {
        summary.chatter = Some(ChatterCounts {
            mode: chatter.mode(),
            ..Default::default()
        });
    }
    while let Some(raw) = rx.blocking_recv() {
        let out = match raw {
            Raw::End(mut end) => {
                end.requests = request_once.open_requests();
                Decoded::End(end)
            }
            Raw::Lines(lines) if worth_parts(workers, lines.len()) => {
                let text_len =
                    |l: &crate::source::jsonl::RawLine| l.text.as_ref().map_or(0, String::len);
                let parts = decode_in_parts(workers, lines, text_len, |page, line| {
                    let decoded = line.text.map_err(|e| e.to_string()).and_then(|text| {
                        decoder
                            .line_onto(page, &text, line.number)
                            .map_err(|e| e.to_string())
                    });
                    (line.number, decoded)
                });
                let mut batch = PageBatch::new(chatter, &mut request_once);
                batch.reserve_parts(&parts);
                for part in parts {
                    for (number, decoded) in part.docs {
                        match decoded {
                            Ok(decoded) => {
                                let at = || format!("line {number}");
                                batch.take_from(&part.page, decoded, at, &mut summary, metrics);
                            }
                            Err(reason) => {
                                metrics.documents_failed(1);
                                summary.failures.record_line(number, reason);
                            }
                        }
                    }
                }
                Decoded::Docs(batch.finish(&mut summary, metrics))
            }
            Raw::Lines(lines) => {
                let mut batch = PageBatch::new(chatter, &mut request_once);
                batch.reserve(lines.iter().map(|l| l.text.as_ref().map_or(0, String::len)));
                for line in lines {
                    let at = || format!("line {}", line.number);
                    let before = batch.page.mark();
                    let decoded = line.text.map_err(|e| e.to_string()).and_then(|text| {
                        decoder
                            .line_onto(&mut batch.page, &text, line.number)
                            .map_err(|e| e.to_string())
                    });
                    match decoded {
                        Ok(decoded) => batch.take(decoded, before, at, &mut summary, metrics),
                        Err(reason) => {
                            metrics.documents_failed(1);
                            summary.failures.record_line(line.number, reason);
                        }
                    }
                }
                Decoded::Docs(batch.finish(&mut summary, metrics))
            }
            Raw::Hits(hits) if worth_parts(workers, hits.len()) => {
                let source_len = |h: &crate::source::elasticsearch::Hit| h.source_text().len();
                let parts = decode_in_parts(workers, hits, source_len, |page, hit| {
                    let origin = DocRef {
                        index: Some(hit.index.clone()),
                        id: Some(hit.id.clone()),
                        ..Default::default()
                    };
                    let decoded = decoder
                        .source_onto(page, hit.source_text(), origin.clone())
                        .map_err(|e| e.to_string());
                    (origin, decoded)
                });
                let mut batch = PageBatch::new(chatter, &mut request_once);
                batch.reserve_parts(&parts);
                for part in parts {
                    for (origin, decoded) in part.docs {
                        match decoded {
                            Ok(decoded) => {
                                let at = || format!("document {}", origin.key());
                                batch.take_from(&part.page, decoded, at, &mut summary, metrics);
                            }
                            Err(reason) => {
                                metrics.documents_failed(1);
                                summary.failures.record_doc(&origin.key(), reason);
                            }
                        }
                    }
                }
                Decoded::Docs(batch.finish(&mut summary, metrics))
            }
            Raw::Hits(hits) => {
                let mut batch = PageBatch::new(chatter, &mut request_once);
                batch.reserve(hits.iter().map(|h| h.source_text().len()));
                for hit in hits {
                    let origin = DocRef {
                        index: Some(hit.index.clone()),
                        id: Some(hit.id.clone()),
                        ..Default::default()
                    };
                    let at = || format!("document {}", origin.key());
                    let before = batch.page.mark();
                    match decoder.source_onto(&mut batch.page, hit.source_text(), origin.clone()) {
                        Ok(decoded) => batch.take(decoded, before, at, &mut summary, metrics),
                        Err(e) => {
                            metrics.documents_failed(1);
                            summary.failures.record_doc(&origin.key(), e.to_string());
                        }
                    }
                }
                Decoded::Docs(batch.finish(&mut summary, metrics))
            }
        };
        // A search page may be larger than a pack's batch: split it, so
        // packs always get batches of the configured size.
        let batches = match out {
            Decoded::Docs(mut docs) if docs.len() > batch_size => {
                let mut batches = Vec::new();
                while docs.len() > batch_size {
                    let rest = docs.split_off(batch_size);
                    batches.push(Decoded::Docs(std::mem::replace(&mut docs, rest)));
                }
                batches.push(Decoded::Docs(docs));
                batches
            }
            other => vec![other],
        };
        if batches.into_iter().any(|b| tx.blocking_send(b).is_err()) {
            break;
        }
    }
    summary
}

/// One read batch on its way through the stage: its root audit events laid
/// out on one page, each document decided as it comes (`reduce`), the kept
/// in order.
struct PageBatch<'a> {
    page: BatchWriter,
    reducer: Reducer<'a>,
    kept: Vec<Line>,
}

impl<'a> PageBatch<'a> {
    fn new(chatter: &'a ChatterFilter, requests: &'a mut RequestOnce) -> Self {
        PageBatch {
            page: BatchWriter::default(),
            reducer: Reducer::new(chatter, requests),
            kept: Vec::new(),
        }
    }

    /// Room for documents of these sizes: their texts are at most that.
    fn reserve(&mut self, sizes: impl ExactSizeIterator<Item = usize>) {
        let count = sizes.len();
        self.page = BatchWriter::with_capacity(sizes.sum(), count);
        self.kept.reserve(count);
    }

    /// Room for the documents of decoded parts, to be copied off their pages.
    fn reserve_parts<K>(&mut self, parts: &[DecodedPart<K>]) {
        let bytes = parts.iter().map(|p| p.page.text.len()).sum();
        let count = parts.iter().map(|p| p.docs.len()).sum();
        self.page = BatchWriter::with_capacity(bytes, count);
        self.kept.reserve(count);
    }

    /// [`take`](Self::take) a document decoded onto another page (a part's):
    /// its event is copied onto this batch's page in one piece first, so it
    /// is decided, labelled or taken back as if it had been decoded here.
    fn take_from(
        &mut self,
        page: &BatchWriter,
        decoded: Line,
        at: impl Fn() -> String,
        summary: &mut DecodeReport,
        metrics: &Metrics,
    ) {
        let before = self.page.mark();
        let decoded = match decoded {
            Line::OnPage(doc) => {
                self.page.append_event(page, doc.index());
                Line::OnPage(doc.moved_to(self.page.len() - 1))
            }
            apart => apart,
        };
        self.take(decoded, before, at, summary, metrics);
    }

    /// Count a decoded document, decide each of its events, and keep those
    /// that go on; `before` is where the page stood before the document was
    /// decoded, `at` names it for the failures of a batch's items.
    fn take(
        &mut self,
        decoded: Line,
        before: Mark,
        at: impl Fn() -> String,
        summary: &mut DecodeReport,
        metrics: &Metrics,
    ) {
        match decoded {
            Line::OnPage(doc) => {
                summary.decoded_audit += 1;
                *summary.audit_by_shape.entry(Shape::Root).or_default() += 1;
                count_event(
                    EventKind::Audit,
                    Some(Shape::Root),
                    doc.time_fallback(),
                    false,
                    summary,
                    metrics,
                );
                // The event is the page's last: a dropped one is taken back.
                match self.reducer.fate(doc.facts(&self.page)) {
                    Fate::Drop => self.page.rewind(before),
                    Fate::Label(rule) => {
                        let index = doc.index();
                        self.page
                            .add_pair(index, ListField::Annotations, CHATTER_ANNOTATION, rule);
                        self.kept.push(Line::OnPage(doc));
                    }
                    Fate::Keep => self.kept.push(Line::OnPage(doc)),
                }
            }
            Line::Apart(mut decoded) => {
                count_document(&decoded, summary, metrics);
                for (origin, e) in std::mem::take(&mut decoded.failed) {
                    metrics.documents_failed(1);
                    summary.failures.record_item(at(), item_reason(&origin, &e));
                }
                decoded
                    .docs
                    .retain_mut(|doc| match self.reducer.fate(doc.facts()) {
                        Fate::Drop => false,
                        Fate::Label(rule) => {
                            doc.annotate(CHATTER_ANNOTATION, rule);
                            true
                        }
                        Fate::Keep => true,
                    });
                self.kept.push(Line::Apart(decoded));
            }
        }
    }

    /// The kept documents, on the completed page, with what the filters
    /// took out counted.
    fn finish(self, summary: &mut DecodeReport, metrics: &Metrics) -> Vec<DecodedDoc> {
        let (reduced, folded, open) = self.reducer.finish();
        if let Some(counts) = summary.chatter.as_mut() {
            metrics.chatter().record(counts.mode, &reduced);
            counts.add(&reduced);
        }
        summary.stages.add(folded);
        metrics.stages_folded(&folded);
        metrics.set_open_requests(open);
        let page = page_of(self.page);
        let mut docs = Vec::with_capacity(self.kept.len());
        for line in self.kept {
            docs.extend(line.complete(&page).docs);
        }
        docs
    }
}

/// Count a document decoded apart: once (by its first event's kind and
/// shape, or for a batch whose every item failed, by theirs), and each of
/// its events on its own.
fn count_document(decoded: &crate::decode::Decoded, summary: &mut DecodeReport, metrics: &Metrics) {
    let batch = decoded
        .docs
        .iter()
        .map(|d| &d.origin)
        .any(|o| o.item.is_some())
        || decoded.failed.iter().any(|(o, _)| o.item.is_some());
    summary.batch_documents += u64::from(batch);
    let failed_shape = decoded.failed.iter().find_map(|(_, e)| match e {
        DecodeError::Undecodable { shape, .. } => Some(*shape),
        _ => None,
    });
    match decoded.docs.first() {
        Some(first) if first.kind == EventKind::Audit => {
            summary.decoded_audit += 1;
            if let Some(shape) = first.shape {
                *summary.audit_by_shape.entry(shape).or_default() += 1;
            }
        }
        Some(_) => summary.decoded_other += 1,
        None => match failed_shape {
            Some(shape) => {
                summary.decoded_audit += 1;
                *summary.audit_by_shape.entry(shape).or_default() += 1;
            }
            None => summary.decoded_other += 1,
        },
    }
    for doc in &decoded.docs {
        count_event(
            doc.kind,
            doc.shape,
            doc.time_fallback,
            batch,
            summary,
            metrics,
        );
    }
}

/// Count one decoded event (of a batch document, when `batch`).
fn count_event(
    kind: EventKind,
    shape: Option<Shape>,
    time_fallback: bool,
    batch: bool,
    summary: &mut DecodeReport,
    metrics: &Metrics,
) {
    summary.events_decoded += 1;
    if time_fallback {
        summary.time_fallbacks += 1;
        metrics.audit_time_fallback();
    }
    match kind {
        EventKind::Audit => {
            metrics.documents_decoded(DocumentKind::Audit, 1);
            if let Some(shape) = shape {
                metrics.audit_event_decoded(shape);
            }
        }
        EventKind::Other => metrics.documents_decoded(DocumentKind::Other, 1),
    }
    if batch {
        let shape = shape.unwrap_or(Shape::Root);
        *summary.unpacked_by_shape.entry(shape).or_default() += 1;
    }
}
