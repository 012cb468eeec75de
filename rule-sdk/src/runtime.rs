//! The glue between the WIT exports and a [`Pack`]; used by [`export_pack!`]
//! and by [`crate::native`], so WASM and native runs execute the same code.

use std::cell::RefCell;

use crate::bindings::k8scop::rules::types as wit;
use crate::host::{LogLevel, log as host_log};
use crate::wire::{BatchEvent, BatchReader};
use crate::{Alerts, Config, Doc, Event, EventKind, Pack, Value};

/// The pack instance, created on first use with the operator's config.
pub struct PackCell<P>(RefCell<Option<P>>);

impl<P: Pack> PackCell<P> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        PackCell(RefCell::new(None))
    }

    pub fn evaluate_wit(&self, batch: wit::Batch) -> Result<Vec<wit::Alert>, String> {
        let mut slot = self.0.borrow_mut();
        let pack = slot.get_or_insert_with(|| P::new(&Config::new()));
        let reader = BatchReader::new(&batch.text, &batch.strings, &batch.events);
        Ok(evaluate_laid_out(pack, reader))
    }
}

/// Hand each event of a batch, as laid out by the host, to the pack.
pub fn evaluate_laid_out<P: Pack>(pack: &mut P, batch: BatchReader<'_>) -> Vec<wit::Alert> {
    let mut out = Alerts::new();
    batch.for_each(|index, event| match event {
        BatchEvent::Audit(event) => on_doc(pack, &mut out, index, &Doc::Audit(event)),
        BatchEvent::Other(json) => on_other_json(pack, &mut out, index, json),
        BatchEvent::Unknown(kind) => host_log(
            LogLevel::Warn,
            &format!("event {index}: of a kind ({kind}) this rule-sdk does not know"),
        ),
    });
    out.raised
}

/// The pack's name, version, rules, and the configuration keys it reads
/// while it is built (a throwaway instance). The host describes a pack
/// before it knows the pack's name, so before it can give its values; it
/// describes it again once they are set, for the packs whose rules come
/// from them ([`Pack::rules`]).
pub fn describe<P: Pack>() -> wit::PackInfo {
    let (pack, settings) = crate::config::recording(|| P::new(&Config::new()));
    wit::PackInfo {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        rules: pack
            .rules()
            .into_iter()
            .map(|mut rule| {
                if P::STATELESS && !rule.tags.iter().any(|t| t == crate::STATELESS_TAG) {
                    rule.tags.push(crate::STATELESS_TAG.to_string());
                }
                rule
            })
            .collect(),
        settings,
    }
}

/// Parse each event from its JSON and hand it to the pack: how a pack runs
/// natively (the WASM export gets its events already parsed, by the host).
/// An event the pack cannot parse is logged (with its batch index) and
/// skipped.
pub fn evaluate_batch<'a, P: Pack>(
    pack: &mut P,
    events: impl Iterator<Item = (EventKind, &'a str)>,
) -> Vec<wit::Alert> {
    let mut out = Alerts::new();
    for (index, (kind, json)) in events.enumerate() {
        match kind {
            EventKind::Audit => match Event::from_json(json) {
                Ok(event) => on_doc(pack, &mut out, index, &Doc::Audit(&event)),
                Err(e) => host_log(
                    LogLevel::Warn,
                    &format!("event {index}: not an audit event: {e}"),
                ),
            },
            EventKind::Other => on_other_json(pack, &mut out, index, json),
        }
    }
    out.raised
}

fn on_other_json<P: Pack>(pack: &mut P, out: &mut Alerts, index: usize, json: &str) {
    match serde_json::from_str::<Value>(json) {
        Ok(value) => on_doc(pack, out, index, &Doc::Other(&value)),
        Err(e) => host_log(LogLevel::Warn, &format!("event {index}: invalid JSON: {e}")),
    }
}

/// One event through the pack.
fn on_doc<P: Pack>(pack: &mut P, out: &mut Alerts, index: usize, doc: &Doc<'_>) {
    out.event_index = index as u32;
    pack.on_event(doc, out);
}
