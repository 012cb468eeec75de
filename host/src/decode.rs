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

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rule_sdk::bindings::k8scop::rules::types::ListField;
use rule_sdk::wire::BatchWriter;
use serde_json::{Map, Value};

use crate::contract::EventKind;

mod aks;
mod batch;
mod cluster_field;
mod doc;
mod gke;
mod root;
mod shape;
mod shippers;

pub use doc::{DecodeError, Decoded, DecodedDoc, DocFacts, DocRef, Laid, Line, OnPage};
pub use shape::{EventShape, Shape};

use root::fast_root_audit;
use shippers::{dotted, ecs_cluster, embedded_event, field_doc, take_elastic_agent_event};
#[cfg(test)]
mod shape_tests;
#[cfg(test)]
mod tests;

/// The annotation that carries the cluster's name where the document's
/// envelope (GKE, AKS, EKS through CloudWatch) or `--cluster-field` names
/// it; packs read it as `Event::cluster`.
pub use rule_sdk::audit::CLUSTER_ANNOTATION;

#[derive(Debug, Clone, Default)]
pub struct Decoder {
    shape: EventShape,
    /// `--cluster-field`: where a document names its cluster.
    cluster_field: Option<String>,
}

const EMBEDDED_FIELDS: [&str; 3] = ["log", "message", "event.original"];

impl Decoder {
    pub fn new(shape: EventShape) -> Self {
        Decoder {
            shape,
            cluster_field: None,
        }
    }

    /// Read each document's cluster from `field` (a dotted path), for a
    /// fleet whose audit logs share one index. A cluster the document's
    /// envelope names comes first: it is the audit data's own.
    pub fn with_cluster_field(mut self, field: Option<String>) -> Self {
        self.cluster_field = field.filter(|f| !f.is_empty());
        self
    }

    pub fn shape(&self) -> &EventShape {
        &self.shape
    }

    /// Decode one line of a JSON-lines file into its documents: one, or
    /// each event of a batch (with the item's position in its origin).
    pub fn decode(&self, line: String, line_number: u64) -> Result<Decoded, DecodeError> {
        let mut page = BatchWriter::with_capacity(line.len(), 1);
        let line = self.line_onto(&mut page, &line, line_number)?;
        Ok(line.complete(&page_of(page)))
    }

    /// [`Decoder::decode`], a root audit event laid out on `page` (shared
    /// by the lines of a read batch) and the rest decoded apart.
    pub fn line_onto(
        &self,
        page: &mut BatchWriter,
        line: &str,
        line_number: u64,
    ) -> Result<Line, DecodeError> {
        let decoded = self.line_onto_page(page, line, line_number)?;
        // A search hit's export holds the document under `_source`.
        let name = self.cluster_in(line).or_else(|| {
            let field = self.cluster_field.as_deref()?;
            cluster_field::text_at(line, &format!("_source.{field}"))
        });
        Ok(name_cluster(page, name, decoded))
    }

    fn line_onto_page(
        &self,
        page: &mut BatchWriter,
        line: &str,
        line_number: u64,
    ) -> Result<Line, DecodeError> {
        if matches!(self.shape, EventShape::Auto | EventShape::Root)
            && let Some(doc) = fast_root_audit(line, DocRef::line(line_number), page)
        {
            return doc.map(Line::OnPage);
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| DecodeError::Json(e.to_string()))?;
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
        self.decode_object(object, origin).map(Line::Apart)
    }

    /// Decode a document's source from its text (a search hit's
    /// `_source`): an audit event at the root is parsed once, straight
    /// into its layout, without building a tree.
    pub fn decode_text(&self, text: &str, origin: DocRef) -> Result<Decoded, DecodeError> {
        let mut page = BatchWriter::with_capacity(text.len(), 1);
        let line = self.source_onto(&mut page, text, origin)?;
        Ok(line.complete(&page_of(page)))
    }

    /// [`Decoder::decode_text`] onto a read batch's `page`.
    pub fn source_onto(
        &self,
        page: &mut BatchWriter,
        text: &str,
        origin: DocRef,
    ) -> Result<Line, DecodeError> {
        let decoded = self.source_onto_page(page, text, origin)?;
        Ok(name_cluster(page, self.cluster_in(text), decoded))
    }

    fn source_onto_page(
        &self,
        page: &mut BatchWriter,
        text: &str,
        origin: DocRef,
    ) -> Result<Line, DecodeError> {
        if matches!(self.shape, EventShape::Auto | EventShape::Root)
            && let Some(doc) = fast_root_audit(text, origin.clone(), page)
        {
            return doc.map(Line::OnPage);
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(DecodeError::NotAnObject(json_type(&value)));
        };
        self.decode_object(object, origin).map(Line::Apart)
    }

    /// The cluster `--cluster-field` reads in a document's `text`.
    fn cluster_in(&self, text: &str) -> Option<String> {
        cluster_field::text_at(text, self.cluster_field.as_deref()?)
    }

    /// Decode a document's source (as read from Elasticsearch).
    pub fn decode_object(
        &self,
        source: Map<String, Value>,
        origin: DocRef,
    ) -> Result<Decoded, DecodeError> {
        let one = |doc| Ok(Decoded::one(doc));
        match &self.shape {
            EventShape::Root => one(root_or_other(source, origin)?),
            EventShape::ElasticAgent => one(match take_elastic_agent_event(&source) {
                Some(event) => audit_doc(event, origin, Shape::ElasticAgent, ecs_cluster(&source))?,
                None => other_doc(source, origin),
            }),
            EventShape::Field(field) => match embedded_event(&source, field, true)? {
                Some(event) => one(field_doc(event, &source, field, origin)?),
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
                    return one(audit_doc(event, origin, Shape::ElasticAgent, cluster)?);
                }
                if is_audit_event(&source) {
                    return one(audit_doc(source, origin, Shape::Root, None)?);
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
                        return one(field_doc(event, &source, field, origin)?);
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

/// Give the cluster `--cluster-field` read (`name`) to each audit event of
/// a document that no envelope named one for: on the document, and as the
/// annotation packs read (`Event::cluster`).
fn name_cluster(page: &mut BatchWriter, name: Option<String>, mut line: Line) -> Line {
    let Some(name) = name else {
        return line;
    };
    match &mut line {
        Line::OnPage(doc) => {
            page.add_pair(
                doc.index(),
                ListField::Annotations,
                CLUSTER_ANNOTATION,
                &name,
            );
            doc.cluster = Some(name);
        }
        Line::Apart(decoded) => {
            for doc in &mut decoded.docs {
                if doc.kind == EventKind::Audit && doc.cluster.is_none() {
                    doc.annotate(CLUSTER_ANNOTATION, &name);
                    doc.cluster = Some(name.clone());
                }
            }
        }
    }
    line
}

fn root_or_other(source: Map<String, Value>, origin: DocRef) -> Result<DecodedDoc, DecodeError> {
    if is_audit_event(&source) {
        audit_doc(source, origin, Shape::Root, None)
    } else {
        Ok(other_doc(source, origin))
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
/// carries the cluster's name where the envelope gave it. Fields of the
/// wrong types for the audit schema (a text where a list belongs) make it
/// undecodable: it reaches no pack, and is counted with its reason.
fn audit_doc(
    mut event: Map<String, Value>,
    origin: DocRef,
    shape: Shape,
    cluster: Option<String>,
) -> Result<DecodedDoc, DecodeError> {
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
    let at_timestamp = event
        .get("@timestamp")
        .and_then(Value::as_str)
        .map(String::from);
    // The packs' types read a text: a tree is not one of their inputs.
    let text = Value::Object(event).to_string();
    let parsed = rule_sdk::Event::from_json(&text).map_err(|e| {
        DecodeError::undecodable(
            shape,
            format!("not an audit event of the audit.k8s.io schema: {e}"),
        )
    })?;
    Ok(event_doc(
        &parsed,
        text.len(),
        origin,
        shape,
        cluster,
        at_timestamp.as_deref(),
    ))
}

/// A parsed audit event as a document, laid out for the packs once.
fn event_doc(
    event: &rule_sdk::Event<'_>,
    text_bytes: usize,
    origin: DocRef,
    shape: Shape,
    cluster: Option<String>,
    at_timestamp: Option<&str>,
) -> DecodedDoc {
    let mut page = BatchWriter::with_capacity(text_bytes, 1);
    let mut doc = place_event(&mut page, event, origin, at_timestamp).on(&page_of(page));
    doc.shape = Some(shape);
    doc.cluster = cluster;
    doc
}

/// Lay a parsed audit event out on `page`, dated by the first of its
/// times that parses.
fn place_event(
    page: &mut BatchWriter,
    event: &rule_sdk::Event<'_>,
    origin: DocRef,
    at_timestamp: Option<&str>,
) -> OnPage {
    let (time, timestamp, time_fallback) = event_time([
        Some(event.stage_timestamp.as_ref()),
        Some(event.request_received_timestamp.as_ref()),
        Some(event.timestamp.as_ref()),
        at_timestamp,
    ]);
    let index = page.len();
    page.push_audit(event);
    OnPage {
        index,
        origin,
        time,
        timestamp,
        time_fallback,
        cluster: None,
    }
}

/// A page whose writing is done, to be shared by its documents.
pub fn page_of(page: BatchWriter) -> Arc<BatchWriter> {
    Arc::new(page)
}

fn other_doc(source: Map<String, Value>, origin: DocRef) -> DecodedDoc {
    let time = ["@timestamp", "timestamp", "time"]
        .iter()
        .find_map(|k| source.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    let json = Value::Object(source).to_string();
    let mut laid_out = BatchWriter::with_capacity(json.len(), 1);
    laid_out.push_other(&json);
    DecodedDoc {
        origin,
        kind: EventKind::Other,
        event: Laid::alone(laid_out),
        timestamp: parse_time(&time),
        time,
        time_fallback: false,
        shape: None,
        cluster: None,
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

/// The first of an event's times that parses as RFC 3339 (and its value),
/// and whether an earlier one was there but did not parse (a shipper's or a
/// writer's mistake: the alert is then dated by the next time, never by the
/// clock).
fn event_time<'a>(
    candidates: impl IntoIterator<Item = Option<&'a str>>,
) -> (String, Option<DateTime<Utc>>, bool) {
    let mut fallback = false;
    for text in candidates.into_iter().flatten().filter(|t| !t.is_empty()) {
        if let Some(time) = parse_time(text) {
            return (text.to_string(), Some(time), fallback);
        }
        fallback = true;
    }
    (String::new(), None, fallback)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
