//! The shippers' shapes: Elastic Agent's `kubernetes.audit` (with its
//! annotation keys restored), and an event as a JSON string in a log field
//! (Fluent Bit's `log`, `message`, `event.original`, AKS's `properties.log`).

use serde_json::{Map, Value};

use super::*;

/// Elastic Agent keeps the event under `kubernetes.audit` (nested, or as a
/// literal dotted key) and rewrites annotation keys' dots to `_`.
pub(super) fn take_elastic_agent_event(source: &Map<String, Value>) -> Option<Map<String, Value>> {
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
pub(super) fn ecs_cluster(source: &Map<String, Value>) -> Option<String> {
    dotted(source, "orchestrator.cluster.name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(String::from)
}

/// `authorization_k8s_io/decision` -> `authorization.k8s.io/decision`. Only
/// the prefix (a DNS name, which cannot hold `_`) is rewritten; the name
/// part may legitimately contain underscores.
pub(super) fn restore_annotation_key(key: &str) -> String {
    match key.split_once('/') {
        Some((prefix, name)) => format!("{}/{name}", prefix.replace('_', ".")),
        None => key.to_string(),
    }
}

/// An audit event serialised as a JSON string in `field`. `strict` is for a
/// field the operator named: text that looks like JSON but is not an audit
/// event is an error there; in auto mode it is just a log line.
pub(super) fn embedded_event(
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
pub(super) fn field_doc(
    event: Map<String, Value>,
    source: &Map<String, Value>,
    field: &str,
    origin: DocRef,
) -> Result<DecodedDoc, DecodeError> {
    let cluster = (field == "message")
        .then(|| source.get("logGroup").and_then(Value::as_str))
        .flatten()
        .and_then(batch::eks_cluster);
    audit_doc(event, origin, Shape::Field, cluster)
}

/// A field by dotted path, nested or as a literal dotted key.
pub(super) fn dotted<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let first = object.get(parts.next()?)?;
    parts.try_fold(first, |v, k| v.get(k))
}
