//! The shippers' shapes: root, `kubernetes.audit`, string fields, search
//! hits, and malformed input.

use super::*;
use serde_json::json;

/// A decoded document as JSON: an audit event rendered from its layout
/// (its texts, lists and bodies; empty texts are absent), or another
/// document's source. What the packs get, in a form tests can compare.
pub(super) fn rendered(doc: &DecodedDoc) -> Value {
    if let Some(json) = doc.other_json() {
        return serde_json::from_str(json).unwrap();
    }
    let e = doc.audit_event().expect("an audit event");
    fn put(m: &mut Map<String, Value>, key: &str, text: &str) {
        if !text.is_empty() {
            m.insert(key.into(), text.into());
        }
    }
    fn texts(list: &[std::borrow::Cow<'_, str>]) -> Value {
        list.iter().map(|t| Value::from(t.as_ref())).collect()
    }
    fn user(u: &rule_sdk::audit::UserInfo<'_>) -> Value {
        let mut m = Map::new();
        put(&mut m, "username", &u.username);
        put(&mut m, "uid", &u.uid);
        if !u.groups.is_empty() {
            m.insert("groups".into(), texts(&u.groups));
        }
        let mut extra = Map::new();
        for (k, v) in &u.extra {
            let values = extra.entry(k.to_string()).or_insert_with(|| json!([]));
            values.as_array_mut().unwrap().push(v.as_ref().into());
        }
        if !extra.is_empty() {
            m.insert("extra".into(), extra.into());
        }
        m.into()
    }
    let mut v = Map::new();
    for (key, text) in [
        ("kind", &e.kind),
        ("apiVersion", &e.api_version),
        ("level", &e.level),
        ("auditID", &e.audit_id),
        ("stage", &e.stage),
        ("requestURI", &e.request_uri),
        ("verb", &e.verb),
        ("userAgent", &e.user_agent),
        ("requestReceivedTimestamp", &e.request_received_timestamp),
        ("stageTimestamp", &e.stage_timestamp),
        ("timestamp", &e.timestamp),
    ] {
        put(&mut v, key, text);
    }
    v.insert("user".into(), user(&e.user));
    if let Some(u) = &e.impersonated_user {
        v.insert("impersonatedUser".into(), user(u));
    }
    if !e.source_ips.is_empty() {
        v.insert("sourceIPs".into(), texts(&e.source_ips));
    }
    if let Some(o) = &e.object_ref {
        let mut m = Map::new();
        for (key, text) in [
            ("resource", &o.resource),
            ("namespace", &o.namespace),
            ("name", &o.name),
            ("uid", &o.uid),
            ("apiGroup", &o.api_group),
            ("apiVersion", &o.api_version),
            ("resourceVersion", &o.resource_version),
            ("subresource", &o.subresource),
        ] {
            put(&mut m, key, text);
        }
        v.insert("objectRef".into(), m.into());
    }
    if let Some(r) = &e.response_status {
        let mut m = Map::new();
        m.insert("code".into(), r.code.into());
        put(&mut m, "status", &r.status);
        put(&mut m, "reason", &r.reason);
        put(&mut m, "message", &r.message);
        v.insert("responseStatus".into(), m.into());
    }
    for (key, body) in [
        ("requestObject", &e.request_body),
        ("responseObject", &e.response_body),
    ] {
        if let Some(body) = body {
            v.insert(key.into(), serde_json::from_str(body.json()).unwrap());
        }
    }
    if !e.annotations.is_empty() {
        let m: Map<String, Value> = e
            .annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_ref().into()))
            .collect();
        v.insert("annotations".into(), m.into());
    }
    if let Some(meta) = &e.metadata {
        v.insert(
            "metadata".into(),
            json!({"creationTimestamp": meta.creation_timestamp.as_ref()}),
        );
    }
    v.into()
}

fn event() -> Value {
    json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x1",
        "stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=id",
        "user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"d","name":"p"},
        "responseStatus":{"code":101},"stageTimestamp":"2024-03-01T10:00:00Z",
        "annotations":{"authorization.k8s.io/decision":"allow","mutation.webhook.admission.k8s.io/round_0_index_1":"{}"}})
}

fn decode(shape: EventShape, line: &Value) -> DecodedDoc {
    Decoder::new(shape)
        .decode_line(line.to_string(), 7)
        .unwrap()
}

fn assert_canonical(doc: &DecodedDoc) {
    assert_eq!(doc.kind, EventKind::Audit);
    assert_eq!(
        (doc.verb(), doc.resource(), doc.subresource()),
        ("create", "pods", "exec")
    );
    assert_eq!(doc.time, "2024-03-01T10:00:00Z");
    let v = rendered(doc);
    assert_eq!(v["user"]["username"], "alice");
    assert_eq!(v["annotations"]["authorization.k8s.io/decision"], "allow");
    assert_eq!(
        v["annotations"]["mutation.webhook.admission.k8s.io/round_0_index_1"],
        "{}"
    );
}

#[test]
fn root_shape_takes_the_fast_path() {
    let doc = decode(EventShape::Auto, &event());
    assert_canonical(&doc);
    assert_eq!(doc.origin, DocRef::line(7));
    assert_canonical(&decode(EventShape::Root, &event()));
}

#[test]
fn elastic_agent_shape_restores_annotation_keys() {
    let mut audit = event();
    let obj = audit.as_object_mut().unwrap();
    obj.remove("kind");
    obj.remove("apiVersion");
    obj.insert(
        "annotations".into(),
        json!({"authorization_k8s_io/decision":"allow","mutation_webhook_admission_k8s_io/round_0_index_1":"{}"}),
    );
    let doc = json!({"@timestamp":"2024-03-01T10:00:00Z","kubernetes":{"audit":audit}});
    assert_canonical(&decode(EventShape::Auto, &doc));
    assert_canonical(&decode(EventShape::ElasticAgent, &doc));
    let dotted_key = json!({"kubernetes.audit": audit});
    assert_canonical(&decode(EventShape::Auto, &dotted_key));
}

#[test]
fn embedded_string_fields() {
    for field in ["log", "message"] {
        let doc = json!({ field: event().to_string(), "stream": "stdout" });
        assert_canonical(&decode(EventShape::Auto, &doc));
        assert_canonical(&decode(EventShape::Field(field.into()), &doc));
    }
    let doc = json!({"event": {"original": event().to_string()}});
    assert_canonical(&decode(EventShape::Auto, &doc));
    assert_canonical(&decode("field:event.original".parse().unwrap(), &doc));
}

#[test]
fn v1beta1_time() {
    let doc = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","timestamp":"2019-02-12T12:30:00Z",
        "verb":"list","objectRef":{"resource":"secrets"}});
    let d = decode(EventShape::Auto, &doc);
    assert_eq!(
        (d.kind, d.time.as_str(), d.resource()),
        (EventKind::Audit, "2019-02-12T12:30:00Z", "secrets")
    );
}

#[test]
fn other_documents_stay_plain_json() {
    let syslog = json!({"@timestamp":"2024-03-01T10:00:00Z","message":"sudo: alice : COMMAND=/bin/ls","host":{"name":"n1"}});
    let d = decode(EventShape::Auto, &syslog);
    assert_eq!(d.kind, EventKind::Other);
    assert_eq!(d.time, "2024-03-01T10:00:00Z");
    assert_eq!(rendered(&d), syslog);
    // A log line that merely starts with "{" is not an error in auto mode.
    let d = decode(EventShape::Auto, &json!({"log": "{not json"}));
    assert_eq!(d.kind, EventKind::Other);
}

#[test]
fn search_hits_keep_index_and_id() {
    let hit = json!({"_index":"logs-2024.03.01","_id":"abc","_source": event()});
    let d = decode(EventShape::Auto, &hit);
    assert_canonical(&d);
    assert_eq!(d.origin.index.as_deref(), Some("logs-2024.03.01"));
    assert_eq!(d.origin.id.as_deref(), Some("abc"));
    assert_eq!(d.origin.key(), "logs-2024.03.01/abc");
}

#[test]
fn a_source_text_decodes_as_its_parsed_object_does() {
    let origin = || DocRef {
        index: Some("logs-2024.03.01".into()),
        id: Some("x".into()),
        ..Default::default()
    };
    let root = r#"{"@timestamp":"2024-03-01T10:00:00Z","kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec"},"stageTimestamp":"2024-03-01T10:00:00.5Z"}"#;
    let agent = r#"{"@timestamp":"2024-03-01T10:00:00Z","kubernetes":{"audit":{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","objectRef":{"resource":"secrets"},"stageTimestamp":"2024-03-01T10:00:01Z"}}}"#;
    let other = r#"{"@timestamp":"2024-03-01T10:00:02Z","message":"sudo: dave"}"#;
    let decoder = Decoder::default();
    for text in [root, agent, other] {
        let from_text = decoder.decode_source_text(text, origin()).unwrap();
        let object: Map<String, Value> = serde_json::from_str(text).unwrap();
        let from_object = decoder.decode_source(object, origin()).unwrap();
        assert_eq!(from_text.origin, from_object.origin);
        assert_eq!(
            (
                from_text.kind,
                from_text.verb(),
                from_text.resource(),
                from_text.subresource(),
                &from_text.time
            ),
            (
                from_object.kind,
                from_object.verb(),
                from_object.resource(),
                from_object.subresource(),
                &from_object.time
            ),
            "{text}"
        );
        assert_eq!(
            rendered(&from_text),
            rendered(&from_object),
            "the packs see the same event"
        );
    }
    assert!(decoder.decode_source_text("[1]", origin()).is_err());
    assert!(decoder.decode_source_text("{", origin()).is_err());
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let d = Decoder::default();
    assert!(matches!(
        d.decode_line("{\"kind\":".into(), 1),
        Err(DecodeError::Json(_))
    ));
    assert_eq!(
        d.decode_line("[1,2]".into(), 1).unwrap_err(),
        DecodeError::NotAnObject("an array")
    );
    assert_eq!(
        d.decode_line("{\"_source\": 3}".into(), 1).unwrap_err(),
        DecodeError::NotAnObject("a number")
    );
    let strict = Decoder::new(EventShape::Field("log".into()));
    let err = strict
        .decode_line(json!({"log": "{\"a\":1}"}).to_string(), 1)
        .unwrap_err();
    assert!(
        matches!(err, DecodeError::BadEmbeddedEvent { .. }),
        "{err:?}"
    );
    assert!("nonsense".parse::<EventShape>().is_err());
}

/// Found by fuzzing: the fast path's probe skipped a lone UTF-16
/// surrogate escape in a field it does not read, and passed on a
/// "document" no JSON reader accepts. A lone surrogate is malformed
/// whichever field holds it; a proper pair is text like any other.
#[test]
fn a_lone_surrogate_escape_is_malformed_wherever_it_is() {
    let lone = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","annotations":{"k":"\ud800 x"}}"#;
    for shape in [EventShape::Auto, EventShape::Root] {
        let err = Decoder::new(shape)
            .decode_line(lone.to_string(), 3)
            .unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{err}");
        assert!(
            Decoder::new(EventShape::Auto)
                .decode_source_text(lone, DocRef::default())
                .is_err()
        );
    }
    let pair = lone.replace(r"\ud800 x", r"\ud83d\ude00 x");
    let doc = Decoder::new(EventShape::Auto).decode_line(pair, 3).unwrap();
    assert_eq!(doc.kind, EventKind::Audit);
    assert_eq!(doc.verb(), "get");
    let value = rendered(&doc);
    assert_eq!(value["annotations"]["k"], "\u{1F600} x");
}

/// Found by fuzzing: an event under `kubernetes.audit` with a `kind` or
/// `apiVersion` of another value kept it, so its canonical form no
/// longer read as an audit event.
#[test]
fn an_elastic_agent_event_always_names_itself_an_audit_event() {
    for (kind, api) in [
        ("get", "v0"),
        ("Event", "v1"),
        ("Event", "audit.k8s.io/v1beta1"),
    ] {
        let line = json!({"@timestamp": "2024-03-01T10:00:00Z",
            "kubernetes": {"audit": {"kind": kind, "apiVersion": api, "verb": "get",
                "auditID": "a", "objectRef": {"resource": "secrets"}}}});
        let doc = decode(EventShape::Auto, &line);
        assert_eq!(doc.kind, EventKind::Audit);
        let again = decode(EventShape::Root, &rendered(&doc));
        assert_eq!(again.kind, EventKind::Audit, "{kind} {api}");
        assert_eq!(again.resource(), "secrets");
        let canonical = rendered(&doc);
        assert_eq!(canonical["kind"], "Event");
        let want = if api.starts_with("audit.k8s.io/") {
            api
        } else {
            "audit.k8s.io/v1"
        };
        assert_eq!(canonical["apiVersion"], want);
    }
}

/// `--cluster-field` names the cluster of a root event (the fast path), of
/// one found deeper (a search hit's export, decoded apart) and of a batch's
/// events; an envelope's own cluster comes first.
#[test]
fn the_cluster_field_names_each_documents_cluster() {
    let decoder =
        Decoder::new(EventShape::Auto).with_cluster_field(Some("kubernetes.cluster.name".into()));
    let cluster_of = |doc: &DecodedDoc| {
        let annotation = rendered(doc)["annotations"][CLUSTER_ANNOTATION].clone();
        (doc.cluster.clone(), annotation)
    };
    let want = (Some("prod-eu".to_string()), json!("prod-eu"));

    let mut root = event();
    root["kubernetes.cluster.name"] = json!("prod-eu");
    let doc = decoder.decode_line(root.to_string(), 1).unwrap();
    assert_eq!(cluster_of(&doc), want);

    let hit = json!({"_index": "logs", "_id": "a",
        "_source": {"kubernetes": {"cluster": {"name": "prod-eu"}}, "verb": "get",
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "y"}});
    let doc = decoder.decode_line(hit.to_string(), 2).unwrap();
    assert_eq!(cluster_of(&doc), want);

    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
        "kubernetes": {"cluster": {"name": "prod-eu"}}, "items": [event(), event()]});
    let docs = decoder.decode(list.to_string(), 3).unwrap().docs;
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| cluster_of(d) == want));

    // No field: no cluster, nothing added.
    let doc = decoder.decode_line(event().to_string(), 4).unwrap();
    assert_eq!(cluster_of(&doc), (None, Value::Null));
}
