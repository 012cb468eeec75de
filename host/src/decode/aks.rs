//! AKS ships the API server's audit log as Azure diagnostic log records
//! (to a storage account or an Event Hub): `category` `kube-audit` (every
//! event) or `kube-audit-admin` (no get and list), the event as a JSON
//! string in `properties.log`, the cluster at the end of `resourceId`
//! (`/SUBSCRIPTIONS/<id>/RESOURCEGROUPS/<group>/PROVIDERS/
//! MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/<name>`, upper-cased by Azure).
//! A storage account holds one record per line; an Event Hub message holds
//! many, as `{"records": [..]}`, each decoded with its position.

use serde_json::{Map, Value};

use super::{
    DecodeError, Decoded, DecodedDoc, DocRef, Shape, audit_doc, dotted, is_audit_event, other_doc,
};

/// An Event Hub message of diagnostic records, some of the audit categories.
pub(super) fn is_records(source: &Map<String, Value>) -> bool {
    source
        .get("records")
        .and_then(Value::as_array)
        .is_some_and(|records| records.iter().any(|r| r.as_object().is_some_and(is_record)))
}

/// Each record of an Event Hub message: an audit one is its event, one of
/// another category (the API server's own log, ...) a plain document.
pub(super) fn records(mut source: Map<String, Value>, origin: &DocRef) -> Decoded {
    let Some(Value::Array(records)) = source.remove("records") else {
        unreachable!("is_records checked records");
    };
    let mut out = Decoded::default();
    for (i, record) in records.into_iter().enumerate() {
        let origin = origin.with_item(i);
        match record {
            Value::Object(record) if is_record(&record) => match decode(&record, origin.clone()) {
                Ok(doc) => out.docs.push(doc),
                Err(e) => out.failed.push((origin, e)),
            },
            Value::Object(record) => out.docs.push(other_doc(record, origin)),
            _ => out.failed.push((
                origin,
                DecodeError::undecodable(Shape::Aks, "a record that is not an object"),
            )),
        }
    }
    out
}

/// A record of the audit categories: it must hold an audit event.
pub(super) fn is_record(source: &Map<String, Value>) -> bool {
    source
        .get("category")
        .and_then(Value::as_str)
        .is_some_and(|c| {
            c.eq_ignore_ascii_case("kube-audit") || c.eq_ignore_ascii_case("kube-audit-admin")
        })
}

/// The record's `properties.log`, when it is a string.
pub(super) fn log(source: &Map<String, Value>) -> Option<&str> {
    dotted(source, "properties.log").and_then(Value::as_str)
}

pub(super) fn decode(
    source: &Map<String, Value>,
    origin: DocRef,
) -> Result<DecodedDoc, DecodeError> {
    let bad = |reason: String| DecodeError::undecodable(Shape::Aks, reason);
    let text =
        log(source).ok_or_else(|| bad("no string properties.log in a kube-audit record".into()))?;
    let event: Map<String, Value> = serde_json::from_str(text.trim())
        .map_err(|e| bad(format!("properties.log is not a JSON object: {e}")))?;
    if !is_audit_event(&event) {
        return Err(bad(
            "properties.log holds JSON that is not an audit event".into()
        ));
    }
    audit_doc(event, origin, Shape::Aks, cluster(source))
}

/// `.../MANAGEDCLUSTERS/<name>` of the record's `resourceId`.
fn cluster(source: &Map<String, Value>) -> Option<String> {
    let id = source.get("resourceId").and_then(Value::as_str)?;
    let mut parts = id.split('/');
    parts.find(|p| p.eq_ignore_ascii_case("managedclusters"))?;
    parts.next().filter(|n| !n.is_empty()).map(String::from)
}
