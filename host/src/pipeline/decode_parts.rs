//! Decoding a read batch on several threads: the documents cut into
//! consecutive parts, each part parsed onto a page of its own by one of the
//! engine's workers. Parsing is the stage's cost and needs nothing from
//! the documents before; what does (the chatter filter, each request
//! counted once) runs after, in the log's order, as the parts come back in
//! order (`decode_stage`).

use rule_sdk::wire::BatchWriter;

use crate::decode::Line;
use crate::workers::Workers;

/// A part is at least this many documents: below it, handing it to a
/// thread costs more than parsing it.
const MIN_PART: usize = 64;

/// A part's documents, each with what names it (a line number, a hit's
/// origin) and what it decoded into, its root events on `page`.
pub(super) struct DecodedPart<K> {
    pub page: BatchWriter,
    pub docs: Vec<(K, Result<Line, String>)>,
}

/// Whether `documents` are worth cutting into parts on these workers.
pub(super) fn worth_parts(workers: &Workers, documents: usize) -> bool {
    workers.threads() > 1 && documents >= 2 * MIN_PART
}

/// `items` cut into one part per thread (at least `MIN_PART` each),
/// decoded side by side; the parts come back in order.
pub(super) fn decode_in_parts<I, K>(
    workers: &Workers,
    items: Vec<I>,
    size: impl Fn(&I) -> usize,
    decode: impl Fn(&mut BatchWriter, I) -> (K, Result<Line, String>) + Sync,
) -> Vec<DecodedPart<K>>
where
    I: Send,
    K: Send,
{
    let count = (items.len() / MIN_PART).clamp(1, workers.threads());
    let per_part = items.len().div_ceil(count);
    let mut parts: Vec<(usize, Vec<I>)> = Vec::with_capacity(count);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let part: Vec<I> = items.by_ref().take(per_part).collect();
        let bytes = part.iter().map(&size).sum();
        parts.push((bytes, part));
    }
    workers.map(parts, |(bytes, part)| {
        let mut page = BatchWriter::with_capacity(bytes, part.len());
        let docs = part
            .into_iter()
            .map(|item| decode(&mut page, item))
            .collect();
        DecodedPart { page, docs }
    })
}
