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

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::contract::EventKind;

mod aks;
mod batch;
mod gke;
mod root;
mod shippers;

use root::{canonical_text, fast_root_audit};
use shippers::{dotted, ecs_cluster, embedded_event, field_doc, take_elastic_agent_event};
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
    /// RFC 3339: the first of the event's times that parses (the stage's,
    /// when the request was received, v1beta1's, the document's
    /// `@timestamp`); "" when none does.
    pub time: String,
    /// The event's first time did not parse and a later one is used.
    pub time_fallback: bool,
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
    let (time, time_fallback) = event_time(
        [
            "stageTimestamp",
            "requestReceivedTimestamp",
            "timestamp",
            "@timestamp",
        ]
        .iter()
        .map(|k| event.get(*k).and_then(Value::as_str)),
    );
    DecodedDoc {
        origin,
        kind: EventKind::Audit,
        verb: s(event.get("verb")),
        resource: s(object_ref.and_then(|o| o.get("resource"))),
        subresource: s(object_ref.and_then(|o| o.get("subresource"))),
        time,
        time_fallback,
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
        time_fallback: false,
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

/// The first of an event's times that parses as RFC 3339, and whether an
/// earlier one was there but did not parse (a shipper's or a writer's
/// mistake: the alert is then dated by the next time, never by the clock).
fn event_time<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> (String, bool) {
    let mut fallback = false;
    for text in candidates.into_iter().flatten().filter(|t| !t.is_empty()) {
        if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
            return (text.to_string(), fallback);
        }
        fallback = true;
    }
    (String::new(), fallback)
}
