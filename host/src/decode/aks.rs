//! AKS ships the API server's audit log as Azure diagnostic log records
//! (to a storage account or an Event Hub): `category` `kube-audit` (every
//! event) or `kube-audit-admin` (no get and list), the event as a JSON
//! string in `properties.log`, the cluster at the end of `resourceId`
//! (`/SUBSCRIPTIONS/<id>/RESOURCEGROUPS/<group>/PROVIDERS/
//! MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/<name>`, upper-cased by Azure).

use serde_json::{Map, Value};

use super::{DecodeError, DecodedDoc, DocRef, Shape, audit_doc, dotted, is_audit_event};

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
    Ok(audit_doc(event, origin, Shape::Aks, cluster(source)))
}

/// `.../MANAGEDCLUSTERS/<name>` of the record's `resourceId`.
fn cluster(source: &Map<String, Value>) -> Option<String> {
    let id = source.get("resourceId").and_then(Value::as_str)?;
    let mut parts = id.split('/');
    parts.find(|p| p.eq_ignore_ascii_case("managedclusters"))?;
    parts.next().filter(|n| !n.is_empty()).map(String::from)
}
