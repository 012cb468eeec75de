//! The decode stage: raw lines and hits become documents for the packs,
//! counted by shape; chatter and the stages folded into their request's
//! counted stage leave here, counted.

use rule_sdk::wire::BatchWriter;
use tokio::sync::mpsc;

use super::{Decoded, Raw, item_reason};
use crate::chatter::{ChatterCounts, ChatterFilter, ChatterMode};
use crate::contract::EventKind;
use crate::decode::{DecodeError, DecodedDoc, Decoder, DocRef, page_of};
use crate::ops::{DocumentKind, Metrics};
use crate::request_once::RequestOnce;
use crate::summary::DecodeReport;

pub(super) fn decode_stage(
    decoder: Decoder,
    mut request_once: RequestOnce,
    chatter: &ChatterFilter,
    batch_size: usize,
    mut rx: mpsc::Receiver<Raw>,
    tx: mpsc::Sender<Decoded>,
    metrics: &Metrics,
) -> DecodeReport {
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
            Raw::Lines(lines) => {
                // The batch's root audit events are laid out on one page.
                let bytes = lines.iter().map(|l| l.text.as_ref().map_or(0, String::len));
                let mut page = BatchWriter::with_capacity(bytes.sum(), lines.len());
                let mut decoded_lines = Vec::with_capacity(lines.len());
                for line in lines {
                    let decoded = line.text.map_err(|e| e.to_string()).and_then(|text| {
                        decoder
                            .line_onto(&mut page, &text, line.number)
                            .map_err(|e| e.to_string())
                    });
                    match decoded {
                        Ok(decoded) => decoded_lines.push((decoded, line.number)),
                        Err(reason) => {
                            metrics.documents_failed(1);
                            summary.failures.record_line(line.number, reason);
                        }
                    }
                }
                let page = page_of(page);
                let mut docs = Vec::with_capacity(decoded_lines.len());
                for (decoded, number) in decoded_lines {
                    let decoded = decoded.complete(&page);
                    // A batch's items that did not decode, by position.
                    for (origin, e) in take(decoded, &mut docs, &mut summary, metrics) {
                        metrics.documents_failed(1);
                        let at = format!("line {number}");
                        summary.failures.record_item(at, item_reason(&origin, &e));
                    }
                }
                Decoded::Docs(docs)
            }
            Raw::Hits(hits) => {
                let bytes = hits.iter().map(|h| h.source_text().len()).sum();
                let mut page = BatchWriter::with_capacity(bytes, hits.len());
                let mut decoded_hits = Vec::with_capacity(hits.len());
                for hit in hits {
                    let text = hit.source_text();
                    let origin = DocRef {
                        index: Some(hit.index.clone()),
                        id: Some(hit.id.clone()),
                        ..Default::default()
                    };
                    match decoder.source_onto(&mut page, text, origin.clone()) {
                        Ok(decoded) => decoded_hits.push(decoded),
                        Err(e) => {
                            metrics.documents_failed(1);
                            summary.failures.record_doc(&origin.key(), e.to_string());
                        }
                    }
                }
                let page = page_of(page);
                let mut docs = Vec::with_capacity(decoded_hits.len());
                for decoded in decoded_hits {
                    let decoded = decoded.complete(&page);
                    for (origin, e) in take(decoded, &mut docs, &mut summary, metrics) {
                        metrics.documents_failed(1);
                        let at = format!("document {}", origin.key());
                        summary.failures.record_item(at, e.to_string());
                    }
                }
                Decoded::Docs(docs)
            }
        };
        // Chatter and the stages folded into their request's counted stage
        // leave here, counted: dropped documents were read, so a
        // checkpoint past them is right.
        let out = match out {
            Decoded::Docs(mut docs) => {
                let reduced = chatter.apply(&mut docs);
                if let Some(counts) = summary.chatter.as_mut() {
                    metrics.chatter().record(chatter.mode(), &reduced);
                    counts.add(&reduced);
                }
                let folded = request_once.retain(&mut docs);
                summary.stages.add(folded);
                metrics.stages_folded(&folded);
                metrics.set_open_requests(request_once.open_count());
                Decoded::Docs(docs)
            }
            end => end,
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

/// Take a document's decoded events into `docs`: the document counted
/// once (by its first event's kind and shape, or for a batch whose every
/// item failed, by theirs), a batch's events also on their own; what is
/// left is the items of a batch that did not decode.
fn take(
    decoded: crate::decode::Decoded,
    docs: &mut Vec<DecodedDoc>,
    summary: &mut DecodeReport,
    metrics: &Metrics,
) -> Vec<(DocRef, DecodeError)> {
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
    summary.events_decoded += decoded.docs.len() as u64;
    for doc in decoded.docs {
        if doc.time_fallback {
            summary.time_fallbacks += 1;
            metrics.audit_time_fallback();
        }
        match doc.kind {
            EventKind::Audit => {
                metrics.documents_decoded(DocumentKind::Audit, 1);
                if let Some(shape) = doc.shape {
                    metrics.audit_event_decoded(shape);
                }
            }
            EventKind::Other => metrics.documents_decoded(DocumentKind::Other, 1),
        }
        if batch {
            let shape = doc.shape.unwrap_or(crate::decode::Shape::Root);
            *summary.unpacked_by_shape.entry(shape).or_default() += 1;
        }
        docs.push(doc);
    }
    decoded.failed
}
