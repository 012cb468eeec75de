//! Decoding a stored document into what rules see: a canonical audit event
//! or a plain JSON document, decoded once for every pack.
//!
//! Shippers store the Kubernetes audit event in different places:
//! - at the root of the document (Fluentd, Fluent Bit, Logstash, webhook
//!   receivers, which may drop `kind` and `apiVersion`);
//! - under `kubernetes.audit` (Elastic Agent's Kubernetes integration, which
//!   also rewrites the dots of annotation keys to `_`);
//! - as a JSON string in a field (`log`, `message`, `event.original`);
//! - many in one document: a webhook `EventList`, a CloudWatch Logs
//!   subscription envelope (EKS) (`batch`);
//! - in a managed cloud's own record: GKE's Cloud Logging entry (`gke`),
//!   AKS's diagnostic log record (`aks`).
//!
//! Whatever the shape, the rules get the same canonical audit.k8s.io/v1
//! event, naming itself (`kind: Event`, `apiVersion`). A document that
//! looks like an audit event (or a known envelope of them) but does not
//! decode is an error, counted with its reason, never an "other document".
//!
//! A line of a JSON-lines file may also be a whole search hit
//! (`{"_index": .., "_id": .., "_source": {..}}`), as exported from
//! Elasticsearch; its source is decoded and its index and id kept.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde_json::{Map, Value};

use crate::contract::EventKind;

mod aks;
mod batch;
mod gke;
#[cfg(test)]
mod shape_tests;
#[cfg(test)]
mod tests;

/// The annotation that carries the cluster's name where the document's
/// envelope names it (GKE, AKS, EKS through CloudWatch).
pub const CLUSTER_ANNOTATION: &str = "k8scop.io/cluster";

/// Where the audit event sits in a document (`--event-shape`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventShape {
    /// Recognise each document by its shape: `kubernetes.audit`, the root,
    /// an EventList, a CloudWatch envelope, a GKE entry, an AKS record (or
    /// an Event Hub message of them), then the `log`, `message` and
    /// `event.original` string fields.
    #[default]
    Auto,
    Root,
    /// `kubernetes.audit`, Elastic Agent's Kubernetes integration.
    ElasticAgent,
    /// A JSON string in this (dotted) field.
    Field(String),
    /// A webhook `EventList` (`items`).
    EventList,
    /// A CloudWatch Logs subscription envelope (`logEvents`), as EKS ships.
    CloudWatch,
    /// GKE's Cloud Logging entry (`protoPayload`).
    Gke,
    /// AKS's diagnostic log record (`properties.log`).
    Aks,
}

/// How an audit event was found: what the summary and the metrics count
/// audit events by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    Root,
    ElasticAgent,
    Field,
    EventList,
    CloudWatch,
    Gke,
    Aks,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::Root,
        Shape::ElasticAgent,
        Shape::Field,
        Shape::EventList,
        Shape::CloudWatch,
        Shape::Gke,
        Shape::Aks,
    ];

    /// The name `--event-shape` forces it by (`field` for any field).
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Root => "root",
            Shape::ElasticAgent => "kubernetes.audit",
            Shape::Field => "field",
            Shape::EventList => "event-list",
            Shape::CloudWatch => "cloudwatch",
            Shape::Gke => "gke",
            Shape::Aks => "aks",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => EventShape::Auto,
            "root" => EventShape::Root,
            "kubernetes.audit" | "elastic-agent" => EventShape::ElasticAgent,
            "event-list" => EventShape::EventList,
            "cloudwatch" => EventShape::CloudWatch,
            "gke" => EventShape::Gke,
            "aks" => EventShape::Aks,
            other => match other.strip_prefix("field:") {
                Some(field) if !field.is_empty() => EventShape::Field(field.to_string()),
                _ => {
                    return Err(format!(
                        "unknown event shape {other:?}: use auto, root, kubernetes.audit, field:<name> (e.g. field:log), event-list, cloudwatch, gke or aks"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for EventShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventShape::Auto => f.write_str("auto"),
            EventShape::Root => f.write_str("root"),
            EventShape::ElasticAgent => f.write_str("kubernetes.audit"),
            EventShape::Field(name) => write!(f, "field:{name}"),
            EventShape::EventList => f.write_str("event-list"),
            EventShape::CloudWatch => f.write_str("cloudwatch"),
            EventShape::Gke => f.write_str("gke"),
            EventShape::Aks => f.write_str("aks"),
        }
    }
}

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

/// A document ready for the rule engine.
#[derive(Debug, Clone)]
pub struct DecodedDoc {
    pub origin: DocRef,
    pub kind: EventKind,
    /// Canonical audit event JSON, or the document's JSON source.
    pub json: String,
    pub verb: String,
    pub resource: String,
    pub subresource: String,
    /// RFC 3339, as the document gives it ("" when it has none).
    pub time: String,
    /// The request an audit event belongs to, and the stage it was logged
    /// at ("" when absent): the host counts each request once.
    pub audit_id: String,
    pub stage: String,
    /// How the audit event was found (`None` for other documents).
    pub shape: Option<Shape>,
    /// The cluster's name, where the document's envelope gives it (also
    /// the event's `k8scop.io/cluster` annotation).
    pub cluster: Option<String>,
}

/// What one document decoded into: usually one document, several for a
/// batch (an EventList, a CloudWatch envelope), each with its own origin.
#[derive(Debug, Default)]
pub struct Decoded {
    pub docs: Vec<DecodedDoc>,
    /// Events of a batch that do not decode (the others do), by origin.
    pub failed: Vec<(DocRef, DecodeError)>,
}

impl Decoded {
    fn one(doc: DecodedDoc) -> Self {
        Decoded {
            docs: vec![doc],
            failed: Vec::new(),
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
    fn undecodable(shape: Shape, reason: impl Into<String>) -> Self {
        DecodeError::Undecodable {
            shape,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Decoder {
    shape: EventShape,
}

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

const EMBEDDED_FIELDS: [&str; 3] = ["log", "message", "event.original"];

impl Decoder {
    pub fn new(shape: EventShape) -> Self {
        Decoder { shape }
    }

    pub fn shape(&self) -> &EventShape {
        &self.shape
    }

    /// Decode one line of a JSON-lines file into its documents: one, or
    /// each event of a batch (with the item's position in its origin).
    pub fn decode(&self, line: String, line_number: u64) -> Result<Decoded, DecodeError> {
        if matches!(self.shape, EventShape::Auto | EventShape::Root)
            && let Some((mut doc, missing)) = fast_root_audit(&line, DocRef::line(line_number))
        {
            doc.json = canonical_text(line, missing);
            return Ok(Decoded::one(doc));
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(DecodeError::NotAnObject(json_type(&value)));
        };
        let mut origin = DocRef::line(line_number);
        if let Some(source) = object.remove("_source") {
            let Value::Object(source) = source else {
                return Err(DecodeError::NotAnObject(json_type(&source)));
            };
            origin.index = object
                .get("_index")
                .and_then(Value::as_str)
                .map(String::from);
            origin.id = object.get("_id").and_then(Value::as_str).map(String::from);
            // A search hit is known by its index and id, as when read from
            // Elasticsearch; the line number of the export adds nothing.
            if origin.id.is_some() {
                origin.line = None;
            }
            object = source;
        }
        self.decode_object(object, origin)
    }

    /// Decode a document's source from its text (a search hit's
    /// `_source`): an audit event at the root is probed, not parsed into a
    /// tree, and reaches the packs as the text it is.
    pub fn decode_text(&self, text: &str, origin: DocRef) -> Result<Decoded, DecodeError> {
        if matches!(self.shape, EventShape::Auto | EventShape::Root)
            && let Some((mut doc, missing)) = fast_root_audit(text, origin.clone())
        {
            doc.json = canonical_text(text.to_string(), missing);
            return Ok(Decoded::one(doc));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(DecodeError::NotAnObject(json_type(&value)));
        };
        self.decode_object(object, origin)
    }

    /// Decode a document's source (as read from Elasticsearch).
    pub fn decode_object(
        &self,
        source: Map<String, Value>,
        origin: DocRef,
    ) -> Result<Decoded, DecodeError> {
        let one = |doc| Ok(Decoded::one(doc));
        match &self.shape {
            EventShape::Root => one(root_or_other(source, origin)),
            EventShape::ElasticAgent => one(match take_elastic_agent_event(&source) {
                Some(event) => audit_doc(event, origin, Shape::ElasticAgent, ecs_cluster(&source)),
                None => other_doc(source, origin),
            }),
            EventShape::Field(field) => match embedded_event(&source, field, true)? {
                Some(event) => one(field_doc(event, &source, field, origin)),
                None => one(other_doc(source, origin)),
            },
            // A forced shape decodes its own documents; others are plain.
            EventShape::EventList if batch::is_event_list(&source) => {
                batch::event_list(source, &origin)
            }
            EventShape::CloudWatch if batch::is_cloudwatch(&source) => {
                batch::cloudwatch(source, &origin)
            }
            EventShape::Gke if gke::is_k8s_entry(&source) => one(gke::translate(&source, origin)?),
            EventShape::Aks if aks::is_records(&source) => Ok(aks::records(source, &origin)),
            EventShape::Aks if aks::log(&source).is_some() => one(aks::decode(&source, origin)?),
            EventShape::EventList | EventShape::CloudWatch | EventShape::Gke | EventShape::Aks => {
                one(other_doc(source, origin))
            }
            EventShape::Auto => {
                if let Some(event) = take_elastic_agent_event(&source) {
                    let cluster = ecs_cluster(&source);
                    return one(audit_doc(event, origin, Shape::ElasticAgent, cluster));
                }
                if is_audit_event(&source) {
                    return one(audit_doc(source, origin, Shape::Root, None));
                }
                if batch::is_event_list(&source) {
                    return batch::event_list(source, &origin);
                }
                if batch::is_cloudwatch(&source) {
                    return batch::cloudwatch(source, &origin);
                }
                if gke::is_k8s_entry(&source) {
                    return one(gke::translate(&source, origin)?);
                }
                if aks::is_record(&source) {
                    return one(aks::decode(&source, origin)?);
                }
                if aks::is_records(&source) {
                    return Ok(aks::records(source, &origin));
                }
                for field in EMBEDDED_FIELDS {
                    if let Some(event) = embedded_event(&source, field, false)? {
                        return one(field_doc(event, &source, field, origin));
                    }
                }
                one(other_doc(source, origin))
            }
        }
    }

    /// Decode a line that holds one document (an event, or any JSON
    /// object); a batch of several is an error. See [`Decoder::decode`].
    pub fn decode_line(&self, line: String, line_number: u64) -> Result<DecodedDoc, DecodeError> {
        self.decode(line, line_number)?.single()
    }

    /// [`Decoder::decode_text`] for a source that holds one document.
    pub fn decode_source_text(
        &self,
        text: &str,
        origin: DocRef,
    ) -> Result<DecodedDoc, DecodeError> {
        self.decode_text(text, origin)?.single()
    }

    /// [`Decoder::decode_object`] for a source that holds one document.
    pub fn decode_source(
        &self,
        source: Map<String, Value>,
        origin: DocRef,
    ) -> Result<DecodedDoc, DecodeError> {
        self.decode_object(source, origin)?.single()
    }
}

/// A root audit event read by the probe, without a tree, and the keys its
/// text lacks to name itself (see [`canonical_text`]). `None`: not a plain
/// root event, for the full parse to decide. The caller moves the text in
/// as the document's JSON: it is (nearly) the canonical form already.
fn fast_root_audit(text: &str, origin: DocRef) -> Option<(DecodedDoc, &'static str)> {
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
    let time = [
        probe.stage_timestamp,
        probe.request_received_timestamp,
        probe.timestamp,
    ]
    .into_iter()
    .flatten()
    .find(|t| !t.is_empty())
    .unwrap_or_default();
    let doc = DecodedDoc {
        origin,
        kind: EventKind::Audit,
        verb: probe.verb.unwrap_or_default().into_owned(),
        resource: resource.into_owned(),
        subresource: subresource.into_owned(),
        time: time.into_owned(),
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
fn canonical_text(text: String, missing: &str) -> String {
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
fn may_hold_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u").any(|(at, _)| {
        let hex = &text.as_bytes()[at + 2..];
        hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}

fn root_or_other(source: Map<String, Value>, origin: DocRef) -> DecodedDoc {
    if is_audit_event(&source) {
        audit_doc(source, origin, Shape::Root, None)
    } else {
        other_doc(source, origin)
    }
}

/// An audit event is known by its shape: `kind: Event` with an
/// `apiVersion` of audit.k8s.io, or without one (webhook receivers and
/// some shippers drop it) when it has a verb or an auditID (a core v1
/// Event shipped without its apiVersion has neither); or, without a
/// `kind`, `auditID`, `stage`, `verb` and `requestURI`.
fn is_audit_event(object: &Map<String, Value>) -> bool {
    let str_of = |k: &str| object.get(k).and_then(Value::as_str);
    let absent = |k: &str| object.get(k).is_none_or(Value::is_null);
    let api = match object.get("apiVersion") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(v) if v.starts_with("audit.k8s.io/") => Some(true),
            _ => Some(false),
        },
    };
    let full = ["auditID", "stage", "verb", "requestURI"]
        .iter()
        .all(|k| str_of(k).is_some());
    match (str_of("kind"), api) {
        (_, Some(false)) => false,
        (Some("Event"), Some(true)) => true,
        (Some("Event"), None) => str_of("verb").is_some() || str_of("auditID").is_some(),
        (None, _) => absent("kind") && full,
        _ => false,
    }
}

/// Elastic Agent keeps the event under `kubernetes.audit` (nested, or as a
/// literal dotted key) and rewrites annotation keys' dots to `_`.
fn take_elastic_agent_event(source: &Map<String, Value>) -> Option<Map<String, Value>> {
    let audit = source
        .get("kubernetes")
        .and_then(|k| k.get("audit"))
        .or_else(|| source.get("kubernetes.audit"))?
        .as_object()?;
    let mut event = audit.clone();
    if let Some(Value::Object(annotations)) = event.get_mut("annotations") {
        *annotations = std::mem::take(annotations)
            .into_iter()
            .map(|(k, v)| (restore_annotation_key(&k), v))
            .collect();
    }
    // Where it sits makes it an audit event: it names itself as one, so
    // its canonical form reads as an audit event again (found by fuzzing:
    // a `kind` of another value made it "other" at the root).
    event.insert("kind".into(), "Event".into());
    Some(event)
}

/// ECS's `orchestrator.cluster.name`, which Elastic Agent sets when told
/// the cluster's name.
fn ecs_cluster(source: &Map<String, Value>) -> Option<String> {
    dotted(source, "orchestrator.cluster.name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(String::from)
}

/// `authorization_k8s_io/decision` -> `authorization.k8s.io/decision`. Only
/// the prefix (a DNS name, which cannot hold `_`) is rewritten; the name
/// part may legitimately contain underscores.
fn restore_annotation_key(key: &str) -> String {
    match key.split_once('/') {
        Some((prefix, name)) => format!("{}/{name}", prefix.replace('_', ".")),
        None => key.to_string(),
    }
}

/// An audit event serialised as a JSON string in `field`. `strict` is for a
/// field the operator named: text that looks like JSON but is not an audit
/// event is an error there; in auto mode it is just a log line.
fn embedded_event(
    source: &Map<String, Value>,
    field: &str,
    strict: bool,
) -> Result<Option<Map<String, Value>>, DecodeError> {
    let Some(text) = dotted(source, field).and_then(Value::as_str) else {
        return Ok(None);
    };
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(None);
    }
    let bad = |reason: String| {
        if strict {
            Err(DecodeError::BadEmbeddedEvent {
                field: field.to_string(),
                reason,
            })
        } else {
            Ok(None)
        }
    };
    match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(event) if is_audit_event(&event) => Ok(Some(event)),
        Ok(_) => bad(
            "JSON that is not an audit event (kind Event, or auditID, stage, verb and requestURI)"
                .into(),
        ),
        // An audit event cut short (a container runtime splits long log
        // lines at 16 KiB): audit data lost, not a log line.
        Err(e) if looks_like_audit_text(text) => Err(DecodeError::BadEmbeddedEvent {
            field: field.to_string(),
            reason: e.to_string(),
        }),
        Err(e) => bad(e.to_string()),
    }
}

/// Text that names itself audit data: an audit apiVersion, or an auditID.
fn looks_like_audit_text(text: &str) -> bool {
    text.contains("\"audit.k8s.io/") || text.contains("\"auditID\"")
}

/// An event from a string field; EKS's CloudWatch export names the
/// cluster in the record's `logGroup`.
fn field_doc(
    event: Map<String, Value>,
    source: &Map<String, Value>,
    field: &str,
    origin: DocRef,
) -> DecodedDoc {
    let cluster = (field == "message")
        .then(|| source.get("logGroup").and_then(Value::as_str))
        .flatten()
        .and_then(batch::eks_cluster);
    audit_doc(event, origin, Shape::Field, cluster)
}

/// A field by dotted path, nested or as a literal dotted key.
fn dotted<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let first = object.get(parts.next()?)?;
    parts.try_fold(first, |v, k| v.get(k))
}

/// The canonical form: the event names itself (`kind: Event`, an
/// `apiVersion` of audit.k8s.io, which the packs' schema reads), and
/// carries the cluster's name where the envelope gave it.
fn audit_doc(
    mut event: Map<String, Value>,
    origin: DocRef,
    shape: Shape,
    cluster: Option<String>,
) -> DecodedDoc {
    if event.get("kind").and_then(Value::as_str) != Some("Event") {
        event.insert("kind".into(), "Event".into());
    }
    let names_audit = event
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("audit.k8s.io/"));
    if !names_audit {
        event.insert("apiVersion".into(), "audit.k8s.io/v1".into());
    }
    if let Some(cluster) = &cluster {
        let annotations = event
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Value::Object(annotations) = annotations {
            annotations.insert(CLUSTER_ANNOTATION.into(), cluster.clone().into());
        }
    }
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let object_ref = event.get("objectRef");
    let time = ["stageTimestamp", "requestReceivedTimestamp", "timestamp"]
        .iter()
        .map(|k| s(event.get(*k)))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    DecodedDoc {
        origin,
        kind: EventKind::Audit,
        verb: s(event.get("verb")),
        resource: s(object_ref.and_then(|o| o.get("resource"))),
        subresource: s(object_ref.and_then(|o| o.get("subresource"))),
        time,
        audit_id: s(event.get("auditID")),
        stage: s(event.get("stage")),
        shape: Some(shape),
        cluster,
        json: Value::Object(event).to_string(),
    }
}

fn other_doc(source: Map<String, Value>, origin: DocRef) -> DecodedDoc {
    let time = ["@timestamp", "timestamp", "time"]
        .iter()
        .find_map(|k| source.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    DecodedDoc {
        origin,
        kind: EventKind::Other,
        verb: String::new(),
        resource: String::new(),
        subresource: String::new(),
        time,
        audit_id: String::new(),
        stage: String::new(),
        shape: None,
        cluster: None,
        json: Value::Object(source).to_string(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
