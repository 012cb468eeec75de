//! Each shape the decoder recognises, from documents modelled on the real
//! ones: what the packs get, where each event came from, and what fails.

use serde_json::{Value, json};

use super::*;

mod batches;
mod clusters;
mod gke;

fn event() -> Value {
    json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1",
        "stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/namespaces/kube-system/secrets",
        "user":{"username":"alice","groups":["system:authenticated"]},
        "objectRef":{"resource":"secrets","namespace":"kube-system","apiVersion":"v1"},
        "responseStatus":{"metadata":{},"code":200},"stageTimestamp":"2024-05-14T09:12:03Z"})
}

/// `event()` without `kind` and `apiVersion`, as a webhook receiver or a
/// list's item writes it.
fn bare_event(audit_id: &str) -> Value {
    let mut e = event();
    let o = e.as_object_mut().unwrap();
    o.remove("kind");
    o.remove("apiVersion");
    o.insert("auditID".into(), audit_id.into());
    e
}

fn decode_all(shape: EventShape, line: &Value) -> Decoded {
    Decoder::new(shape).decode(line.to_string(), 5).unwrap()
}

fn canonical(doc: &DecodedDoc) -> Value {
    assert_eq!(doc.kind, EventKind::Audit);
    let v = super::tests::rendered(doc);
    assert_eq!(v["kind"], "Event");
    assert!(
        v["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("audit.k8s.io/")
    );
    v
}

#[test]
fn an_event_without_api_version_is_an_audit_event_on_both_paths() {
    let decoder = Decoder::default();
    let text_origin = || DocRef::line(5);
    for line in [
        bare_event("a-1"),
        {
            let mut e = event();
            e.as_object_mut().unwrap().remove("apiVersion");
            e
        },
        {
            let mut e = event();
            e.as_object_mut().unwrap().remove("kind");
            e
        },
    ] {
        let fast = decoder.decode_line(line.to_string(), 5).unwrap();
        assert_eq!(fast.shape, Some(Shape::Root));
        assert_eq!((fast.verb(), fast.resource()), ("list", "secrets"));
        let v = canonical(&fast);
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["user"]["username"], "alice");
        // The full parse (a document with another key order, from
        // Elasticsearch) agrees with the probe.
        let object: Map<String, Value> = serde_json::from_value(line.clone()).unwrap();
        let slow = decoder.decode_source(object, text_origin()).unwrap();
        assert_eq!(canonical(&slow), v);
        let text = decoder
            .decode_source_text(&line.to_string(), text_origin())
            .unwrap();
        assert_eq!(canonical(&text), v);
    }
    // A null kind is not an absent one: the full parse names it.
    let mut null_kind = bare_event("a-2");
    null_kind["kind"] = Value::Null;
    assert_eq!(
        canonical(&decoder.decode_line(null_kind.to_string(), 1).unwrap())["kind"],
        "Event"
    );
}

#[test]
fn what_is_not_an_audit_event_stays_other() {
    let decoder = Decoder::default();
    // A core v1 Event, and one shipped without its apiVersion.
    let core = json!({"kind":"Event","apiVersion":"v1","reason":"Killing","involvedObject":{"kind":"Pod"}});
    let bare_core = json!({"kind":"Event","reason":"Killing","involvedObject":{"kind":"Pod"}});
    // An auditID and a verb alone are not the audit schema's shape.
    let partial = json!({"auditID":"x","verb":"get"});
    let core_list = json!({"kind":"EventList","apiVersion":"v1","items":[{"reason":"Killing"}]});
    let control = json!({"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",
        "logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
    let gke_cluster_op = json!({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
        "methodName":"google.container.v1.ClusterManager.UpdateCluster","serviceName":"container.googleapis.com"},
        "resource":{"type":"gke_cluster"}});
    for doc in [core, bare_core, partial, core_list, control, gke_cluster_op] {
        let d = decoder.decode_line(doc.to_string(), 1).unwrap();
        assert_eq!((d.kind, d.shape), (EventKind::Other, None), "{doc}");
    }
}

#[test]
fn an_audit_event_cut_short_in_a_log_field_is_a_failure() {
    let text = event().to_string();
    let cut = &text[..text.len() / 2];
    let err = Decoder::default()
        .decode_line(json!({"log": cut, "stream": "stdout"}).to_string(), 1)
        .unwrap_err();
    assert!(matches!(err, DecodeError::BadEmbeddedEvent { .. }), "{err}");
    // Any other text that starts with a brace is a log line.
    let d = Decoder::default()
        .decode_line(
            json!({"log": "{\"level\":\"info\",\"msg\":\"cut"}).to_string(),
            1,
        )
        .unwrap();
    assert_eq!(d.kind, EventKind::Other);
}

#[test]
fn shapes_are_named_and_forced_by_name() {
    for (name, shape) in [
        ("auto", EventShape::Auto),
        ("root", EventShape::Root),
        ("kubernetes.audit", EventShape::ElasticAgent),
        (
            "field:properties.log",
            EventShape::Field("properties.log".into()),
        ),
        ("event-list", EventShape::EventList),
        ("cloudwatch", EventShape::CloudWatch),
        ("gke", EventShape::Gke),
        ("aks", EventShape::Aks),
    ] {
        assert_eq!(name.parse::<EventShape>().unwrap(), shape);
        assert_eq!(shape.to_string(), name);
    }
    let err = "eks".parse::<EventShape>().unwrap_err();
    for name in ["event-list", "cloudwatch", "gke", "aks"] {
        assert!(err.contains(name), "{err}");
    }
    // A forced shape decodes its own documents and leaves the others as
    // other documents.
    let list = json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[bare_event("f")]});
    assert_eq!(
        decode_all(EventShape::Gke, &list).docs[0].kind,
        EventKind::Other
    );
    assert_eq!(
        decode_all(EventShape::Root, &list).docs[0].kind,
        EventKind::Other
    );
    let root = Decoder::new(EventShape::EventList)
        .decode_line(event().to_string(), 1)
        .unwrap();
    assert_eq!(root.kind, EventKind::Other);
}
