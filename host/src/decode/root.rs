//! The fast path for the most common document: an audit event at the root
//! of a document, recognised by a probe that reads only the fields needed
//! to route it, without building a tree; the text itself then goes to the
//! packs as the canonical form, with any key it lacks spliced in.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};

use super::{DecodedDoc, DocRef, Shape};
use crate::contract::EventKind;

/// Just the fields needed to recognise a root-level audit event and route
/// it, read without building a tree. Most documents take this path.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditProbe<'a> {
    /// Present (`Some`), and then `null` (`Some(None)`) or a text: a key
    /// the canonical form adds must be absent, not null.
    #[serde(borrow, default, deserialize_with = "present")]
    kind: Option<Option<Cow<'a, str>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    api_version: Option<Option<Cow<'a, str>>>,
    #[serde(borrow, default)]
    verb: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "auditID")]
    audit_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stage: Option<Cow<'a, str>>,
    #[serde(rename = "requestURI", default)]
    request_uri: Option<IsText>,
    #[serde(borrow, default)]
    object_ref: Option<ProbeRef<'a>>,
    #[serde(borrow, default)]
    stage_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request_received_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "@timestamp")]
    at_timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "_source", default)]
    source: Option<IgnoredAny>,
    #[serde(default)]
    kubernetes: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ProbeRef<'a> {
    #[serde(borrow, default)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subresource: Option<Cow<'a, str>>,
}

/// A text, borrowed where it can be (serde borrows a `Cow` only as a field).
#[derive(Deserialize)]
struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

fn present<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Cow<'a, str>>>, D::Error> {
    Ok(Some(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0)))
}

/// A JSON string, checked and skipped without being copied.
struct IsText;

impl<'de> Deserialize<'de> for IsText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = IsText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<IsText, E> {
                Ok(IsText)
            }
        }
        d.deserialize_str(Text)
    }
}

/// A root audit event read by the probe, without a tree, and the keys its
/// text lacks to name itself (see [`canonical_text`]). `None`: not a plain
/// root event, for the full parse to decide. The caller moves the text in
/// as the document's JSON: it is (nearly) the canonical form already.
pub(super) fn fast_root_audit(text: &str, origin: DocRef) -> Option<(DecodedDoc, &'static str)> {
    if may_hold_surrogate_escape(text) {
        return None;
    }
    let probe: AuditProbe<'_> = serde_json::from_str(text).ok()?;
    if probe.source.is_some() || probe.kubernetes.is_some() {
        return None;
    }
    let is_text = |p: &Option<IsText>| p.is_some();
    let names_audit = |v: &str| v.starts_with("audit.k8s.io/");
    let full = probe.audit_id.is_some()
        && probe.stage.is_some()
        && probe.verb.is_some()
        && is_text(&probe.request_uri);
    // What to splice in; a `null` key is left to the full parse.
    let missing = match (&probe.kind, &probe.api_version) {
        (Some(Some(k)), Some(Some(v))) if k == "Event" && names_audit(v) => "",
        (Some(Some(k)), None)
            if k == "Event" && (probe.verb.is_some() || probe.audit_id.is_some()) =>
        {
            r#""apiVersion":"audit.k8s.io/v1","#
        }
        (None, Some(Some(v))) if names_audit(v) && full => r#""kind":"Event","#,
        (None, None) if full => r#""kind":"Event","apiVersion":"audit.k8s.io/v1","#,
        _ => return None,
    };
    let (resource, subresource) = probe
        .object_ref
        .map(|r| {
            (
                r.resource.unwrap_or_default(),
                r.subresource.unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let (time, time_fallback) = super::event_time([
        probe.stage_timestamp.as_deref(),
        probe.request_received_timestamp.as_deref(),
        probe.timestamp.as_deref(),
        probe.at_timestamp.as_deref(),
    ]);
    let doc = DecodedDoc {
        origin,
        kind: EventKind::Audit,
        verb: probe.verb.unwrap_or_default().into_owned(),
        resource: resource.into_owned(),
        subresource: subresource.into_owned(),
        time,
        time_fallback,
        audit_id: probe.audit_id.unwrap_or_default().into_owned(),
        stage: probe.stage.unwrap_or_default().into_owned(),
        shape: Some(Shape::Root),
        cluster: None,
        json: String::new(),
    };
    Some((doc, missing))
}

/// A root event's text with the keys it lacks (`"kind":"Event",` ...)
/// spliced in after its opening brace: the probe read an object with audit
/// fields, so the first `{` opens it and a member follows. The probe saw
/// those keys absent, so none is duplicated.
pub(super) fn canonical_text(text: String, missing: &str) -> String {
    if missing.is_empty() {
        return text;
    }
    let at = text.find('{').map_or(0, |at| at + 1);
    let mut json = String::with_capacity(text.len() + missing.len());
    json.push_str(&text[..at]);
    json.push_str(missing);
    json.push_str(&text[at..]);
    json
}

/// Whether the text may escape a UTF-16 surrogate (`\uD800`-`\uDFFF`). The
/// probe skips the strings it does not read without checking their escapes,
/// and a lone surrogate is not text (serde_json refuses it): such a line
/// takes the full parse, which accepts a pair and refuses a lone one, as
/// for any other line. Rare in audit logs, so the fast path stays fast.
pub(super) fn may_hold_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u").any(|(at, _)| {
        let hex = &text.as_bytes()[at + 2..];
        hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}
