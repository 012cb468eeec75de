//! Documents that hold many audit events: the webhook backend's
//! `EventList` (`items`), and the CloudWatch Logs subscription envelope
//! (`logEvents`) that EKS's control-plane log arrives in. Each event keeps
//! its own origin (its position in the array), so alert ids stay distinct
//! and deterministic; an item that does not decode is counted failed, by
//! position, and the others decode.

use serde_json::{Map, Value};

use super::{DecodeError, Decoded, DocRef, Shape, audit_doc, is_audit_event, json_type, other_doc};

/// `kind: EventList` with an audit.k8s.io `apiVersion`, or none. A core
/// `v1` EventList (`kubectl get events -o json`) is not audit data.
pub(super) fn is_event_list(source: &Map<String, Value>) -> bool {
    source.get("kind").and_then(Value::as_str) == Some("EventList")
        && match source.get("apiVersion") {
            None | Some(Value::Null) => true,
            Some(v) => v.as_str().is_some_and(|v| v.starts_with("audit.k8s.io/")),
        }
}

/// The events of an EventList. Its items carry no `kind` of their own (a
/// list's items seldom do): each is recognised by its fields.
pub(super) fn event_list(
    mut source: Map<String, Value>,
    origin: &DocRef,
) -> Result<Decoded, DecodeError> {
    let items = match source.remove("items") {
        Some(Value::Array(items)) => items,
        // Go writes an empty list's items as null.
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            return Err(DecodeError::undecodable(
                Shape::EventList,
                format!("items is {}, not an array", json_type(&other)),
            ));
        }
    };
    let mut out = Decoded::default();
    for (i, item) in items.into_iter().enumerate() {
        let origin = origin.with_item(i);
        match item {
            Value::Object(event) if is_audit_event(&event) => {
                out.add(
                    &origin,
                    audit_doc(event, origin.clone(), Shape::EventList, None),
                );
            }
            Value::Object(_) => out.failed.push((
                origin,
                DecodeError::undecodable(Shape::EventList, NOT_AN_EVENT),
            )),
            other => out.failed.push((
                origin,
                DecodeError::undecodable(
                    Shape::EventList,
                    format!("an item is {}, not an audit event", json_type(&other)),
                ),
            )),
        }
    }
    Ok(out)
}

const NOT_AN_EVENT: &str =
    "an item that is not an audit event (kind Event, or auditID, stage, verb and requestURI)";

/// A subscription envelope's data (`logEvents`, with `messageType`
/// `DATA_MESSAGE`, or with a `logGroup` where a Firehose transform dropped
/// the type). A `CONTROL_MESSAGE` only checks that the destination is
/// reachable: it is another document.
pub(super) fn is_cloudwatch(source: &Map<String, Value>) -> bool {
    let message_type = source.get("messageType").and_then(Value::as_str);
    source.contains_key("logEvents")
        && match message_type {
            Some(t) => t == "DATA_MESSAGE",
            None => source.get("logGroup").is_some_and(Value::is_string),
        }
}

/// The log events of a CloudWatch envelope, each a document of its own.
/// From an EKS audit stream (`kube-apiserver-audit-*`) every message must
/// be an audit event; a subscription on the whole log group also sends
/// the other streams (authenticator, scheduler, ...), whose lines are
/// other documents, with the group and stream they came from.
pub(super) fn cloudwatch(
    source: Map<String, Value>,
    origin: &DocRef,
) -> Result<Decoded, DecodeError> {
    let text = |k: &str| source.get(k).and_then(Value::as_str).unwrap_or_default();
    let cluster = eks_cluster(text("logGroup"));
    let audit_stream = text("logStream").starts_with("kube-apiserver-audit");
    let events = match source.get("logEvents") {
        Some(Value::Array(events)) => events,
        Some(other) => {
            return Err(DecodeError::undecodable(
                Shape::CloudWatch,
                format!("logEvents is {}, not an array", json_type(other)),
            ));
        }
        None => unreachable!("is_cloudwatch checked logEvents"),
    };
    let mut out = Decoded::default();
    for (i, log_event) in events.iter().enumerate() {
        let origin = origin.with_item(i);
        let message = log_event.get("message").and_then(Value::as_str);
        let event = message.map(|m| serde_json::from_str::<Map<String, Value>>(m.trim()));
        match event {
            Some(Ok(event)) if is_audit_event(&event) => out.add(
                &origin,
                audit_doc(event, origin.clone(), Shape::CloudWatch, cluster.clone()),
            ),
            _ if !audit_stream => {
                let mut line = log_event.as_object().cloned().unwrap_or_default();
                for k in ["logGroup", "logStream", "owner"] {
                    if let Some(v) = source.get(k) {
                        line.insert(k.into(), v.clone());
                    }
                }
                out.docs.push(other_doc(line, origin));
            }
            None => out.failed.push((
                origin,
                DecodeError::undecodable(Shape::CloudWatch, "a log event without a message"),
            )),
            Some(Ok(_)) => out.failed.push((
                origin,
                DecodeError::undecodable(
                    Shape::CloudWatch,
                    "a message of the audit stream that is not an audit event",
                ),
            )),
            Some(Err(e)) => out.failed.push((
                origin,
                DecodeError::undecodable(
                    Shape::CloudWatch,
                    format!("a message of the audit stream that is not JSON: {e}"),
                ),
            )),
        }
    }
    Ok(out)
}

/// EKS writes its control-plane log to the group `/aws/eks/<cluster>/cluster`.
pub(super) fn eks_cluster(log_group: &str) -> Option<String> {
    let cluster = log_group
        .strip_prefix("/aws/eks/")?
        .strip_suffix("/cluster")?;
    (!cluster.is_empty() && !cluster.contains('/')).then(|| cluster.to_string())
}
