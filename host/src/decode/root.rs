//! The fast path for the most common document: an audit event at the root
//! of a document, parsed once, straight into the form the packs read
//! (`rule_sdk::Event`, then the batch layout), without building a tree.
//! What the fast path cannot decide is left to the full parse.

use rule_sdk::Event;
use rule_sdk::wire::BatchWriter;

use super::{DecodeError, DocRef, OnPage};

/// A root audit event, parsed once and laid out on `page`. `None`: not a plain root event (or one
/// that does not parse), for the full parse to decide and, if it looks like
/// audit data, to say why it does not decode.
pub(super) fn fast_root_audit(
    text: &str,
    origin: DocRef,
    page: &mut BatchWriter,
) -> Option<Result<OnPage, DecodeError>> {
    // A search hit's export and Elastic Agent's document hold the event
    // deeper; a text merely naming these keys (in a body) takes the full
    // parse too, which is slower, never wrong.
    if may_hold_surrogate_escape(text)
        || holds(text, "\"_source\"")
        || holds(text, "\"kubernetes\"")
    {
        return None;
    }
    let mut event = Event::from_json(text).ok()?;
    let names_audit = event.api_version.starts_with("audit.k8s.io/");
    let full = [
        &event.audit_id,
        &event.stage,
        &event.verb,
        &event.request_uri,
    ]
    .iter()
    .all(|t| !t.is_empty());
    // The recognition rule of `is_audit_event`, with an empty text read as
    // absent; an empty `apiVersion` that is there names no audit version.
    let absent_api = event.api_version.is_empty() && !holds(text, "\"apiVersion\"");
    let recognised = match (event.kind.as_ref(), names_audit) {
        ("Event", true) => true,
        ("Event", false) => absent_api && (!event.verb.is_empty() || !event.audit_id.is_empty()),
        ("", true) => full,
        ("", false) => absent_api && full,
        _ => false,
    };
    if !recognised {
        return None;
    }
    // An alert is never dated by the clock: a document time the event
    // lacks is the full parse's to read.
    let times = [
        &event.stage_timestamp,
        &event.request_received_timestamp,
        &event.timestamp,
    ];
    if super::event_time(times.iter().map(|t| Some(t.as_ref())))
        .1
        .is_none()
        && holds(text, "\"@timestamp\"")
    {
        return None;
    }
    if !names_audit {
        event.api_version = "audit.k8s.io/v1".into();
    }
    Some(Ok(super::place_event(page, &event, origin, None)))
}

/// Whether `text` holds `key` (SIMD search: this runs on every line).
fn holds(text: &str, key: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), key.as_bytes()).is_some()
}

/// Whether the text may escape a UTF-16 surrogate (`\uD800`-`\uDFFF`). The
/// probe skips the strings it does not read without checking their escapes,
/// and a lone surrogate is not text (serde_json refuses it): such a line
/// takes the full parse, which accepts a pair and refuses a lone one, as
/// for any other line. Rare in audit logs, so the fast path stays fast.
pub(super) fn may_hold_surrogate_escape(text: &str) -> bool {
    memchr::memmem::find_iter(text.as_bytes(), b"\\u").any(|at| {
        let hex = &text.as_bytes()[at + 2..];
        hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}
