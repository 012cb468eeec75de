//! Each shape the decoder recognises, from documents modelled on the real
//! ones: what the packs get, where each event came from, and what fails.

use serde_json::{Value, json};

use super::*;

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
fn an_event_list_unpacks_into_its_items_each_with_its_position() {
    let list = json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},
        "items":[bare_event("i-0"), bare_event("i-1"), bare_event("i-2")]});
    let decoded = decode_all(EventShape::Auto, &list);
    assert!(decoded.failed.is_empty());
    let ids: Vec<String> = decoded
        .docs
        .iter()
        .map(|d| {
            assert_eq!(d.shape, Some(Shape::EventList));
            canonical(d)["auditID"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, ["i-0", "i-1", "i-2"]);
    let keys: Vec<String> = decoded.docs.iter().map(|d| d.origin.key()).collect();
    assert_eq!(keys, ["line:5#0", "line:5#1", "line:5#2"]);
    // Forced, the same; and a search hit's items are keyed by its id.
    assert_eq!(decode_all(EventShape::EventList, &list).docs.len(), 3);
    let hit = Decoder::default()
        .decode_text(
            &list.to_string(),
            DocRef {
                index: Some("audit-2024.05.14".into()),
                id: Some("h1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(hit.docs[2].origin.key(), "audit-2024.05.14/h1#2");
    // A batch in a single-document call is an error, not a lost event.
    assert_eq!(
        Decoder::default()
            .decode_line(list.to_string(), 1)
            .unwrap_err(),
        DecodeError::NotOneEvent(3)
    );
}

#[test]
fn an_event_list_with_a_bad_item_decodes_the_others() {
    let list = json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1",
        "items":[bare_event("ok-0"), {"hello":"world"}, 42, bare_event("ok-3")]});
    let decoded = decode_all(EventShape::Auto, &list);
    let ids: Vec<&str> = decoded
        .docs
        .iter()
        .map(|d| d.origin.key())
        .map(|k| if k.ends_with("#0") { "0" } else { "3" })
        .collect();
    assert_eq!(ids, ["0", "3"]);
    let failed: Vec<(Option<u32>, bool)> = decoded
        .failed
        .iter()
        .map(|(origin, e)| {
            (
                origin.item,
                matches!(
                    e,
                    DecodeError::Undecodable {
                        shape: Shape::EventList,
                        ..
                    }
                ),
            )
        })
        .collect();
    assert_eq!(failed, [(Some(1), true), (Some(2), true)]);
    // Items that are not an array: the whole document fails, with why.
    let bad =
        json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{"0":bare_event("x")}});
    let err = Decoder::default().decode(bad.to_string(), 1).unwrap_err();
    assert!(err.to_string().contains("items is an object"), "{err}");
    // An empty list (Go writes its items as null) holds no event.
    let empty = json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null});
    assert!(decode_all(EventShape::Auto, &empty).docs.is_empty());
}

fn envelope(group: &str, stream: &str, messages: &[String]) -> Value {
    json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":group,"logStream":stream,
        "subscriptionFilters":["audit"],
        "logEvents": messages.iter().enumerate().map(|(i, m)| json!({"id":format!("3784{i}"),"timestamp":1715677925000u64 + i as u64,"message":m})).collect::<Vec<_>>()})
}

#[test]
fn a_cloudwatch_envelope_unpacks_its_log_events_with_the_cluster() {
    let messages = [event().to_string(), bare_event("b-1").to_string()];
    let doc = envelope(
        "/aws/eks/prod-eu/cluster",
        "kube-apiserver-audit-6f0b2e8c",
        &messages,
    );
    for shape in [EventShape::Auto, EventShape::CloudWatch] {
        let decoded = decode_all(shape, &doc);
        assert!(decoded.failed.is_empty());
        assert_eq!(decoded.docs.len(), 2);
        for (i, d) in decoded.docs.iter().enumerate() {
            assert_eq!(d.shape, Some(Shape::CloudWatch));
            assert_eq!(
                d.origin,
                DocRef {
                    line: Some(5),
                    item: Some(i as u32),
                    ..Default::default()
                }
            );
            assert_eq!(d.cluster.as_deref(), Some("prod-eu"));
            assert_eq!(canonical(d)["annotations"][CLUSTER_ANNOTATION], "prod-eu");
        }
        assert_ne!(decoded.docs[0].origin.key(), decoded.docs[1].origin.key());
    }
    // An audit stream's message that is not JSON is a counted failure.
    let doc = envelope(
        "/aws/eks/prod-eu/cluster",
        "kube-apiserver-audit-6f0b2e8c",
        &[event().to_string(), "{\"kind\":\"Event\",".into()],
    );
    let decoded = decode_all(EventShape::Auto, &doc);
    assert_eq!(decoded.docs.len(), 1);
    assert_eq!(decoded.failed.len(), 1);
    assert_eq!(decoded.failed[0].0.item, Some(1));
    assert!(decoded.failed[0].1.to_string().contains("not JSON"));
    // Another stream of the group (the authenticator's) holds log lines:
    // other documents, each with its group and stream.
    let doc = envelope(
        "/aws/eks/prod-eu/cluster",
        "authenticator-6f0b2e8c",
        &["time=\"2024-05-14T09:12:03Z\" level=info msg=\"access granted\"".into()],
    );
    let decoded = decode_all(EventShape::Auto, &doc);
    assert_eq!(decoded.docs[0].kind, EventKind::Other);
    let v = super::tests::rendered(&decoded.docs[0]);
    assert_eq!(v["logStream"], "authenticator-6f0b2e8c");
    // logEvents that is not an array fails the document.
    let bad =
        json!({"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/x/cluster","logEvents":"nope"});
    assert!(Decoder::default().decode(bad.to_string(), 1).is_err());
    assert_eq!(batch::eks_cluster("/aws/eks/a/b/cluster"), None);
    assert_eq!(batch::eks_cluster("/aws/lambda/f"), None);
}

#[test]
fn an_elastic_agent_document_names_its_cluster_in_ecs() {
    let doc = json!({"orchestrator":{"cluster":{"name":"prod-k8s"}},"kubernetes":{"audit":bare_event("e-1")}});
    let d = Decoder::default().decode_line(doc.to_string(), 1).unwrap();
    assert_eq!(
        (d.shape, d.cluster.as_deref()),
        (Some(Shape::ElasticAgent), Some("prod-k8s"))
    );
    assert_eq!(canonical(&d)["annotations"][CLUSTER_ANNOTATION], "prod-k8s");
}

#[test]
fn an_eks_event_in_message_names_its_cluster_from_the_log_group() {
    let doc = json!({"timestamp":1715677924000u64,"message":event().to_string(),
        "logGroup":"/aws/eks/prod-eu/cluster","logStream":"kube-apiserver-audit-1"});
    let d = Decoder::default().decode_line(doc.to_string(), 1).unwrap();
    assert_eq!(
        (d.shape, d.cluster.as_deref()),
        (Some(Shape::Field), Some("prod-eu"))
    );
}

fn aks_record(category: &str, log: &str) -> Value {
    json!({"operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "category":category,
        "resourceId":"/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD",
        "properties":{"log":log,"stream":"stdout","pod":"kube-apiserver-6d8c9b7f5-x2x7q"},
        "time":"2024-05-14T09:14:00.0000000Z"})
}

#[test]
fn an_aks_record_is_found_without_being_told() {
    for category in ["kube-audit", "kube-audit-admin"] {
        let record = aks_record(category, &event().to_string());
        for shape in [
            EventShape::Auto,
            EventShape::Aks,
            EventShape::Field("properties.log".into()),
        ] {
            let d = Decoder::new(shape.clone())
                .decode_line(record.to_string(), 1)
                .unwrap();
            assert_eq!(canonical(&d)["verb"], "list", "{shape}");
            let want = if matches!(shape, EventShape::Field(_)) {
                Shape::Field
            } else {
                Shape::Aks
            };
            assert_eq!(d.shape, Some(want));
        }
        let d = Decoder::default()
            .decode_line(record.to_string(), 1)
            .unwrap();
        assert_eq!(d.cluster.as_deref(), Some("AKS-PROD"));
        assert_eq!(canonical(&d)["annotations"][CLUSTER_ANNOTATION], "AKS-PROD");
    }
    // A kube-audit record whose log is not an event fails, with why.
    for log in ["I0514 09:14:00 apiserver started", "{\"a\":1}"] {
        let err = Decoder::default()
            .decode_line(aks_record("kube-audit", log).to_string(), 1)
            .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Undecodable {
                    shape: Shape::Aks,
                    ..
                }
            ),
            "{err}"
        );
    }
    // Another category's record (the API server's own log) is another document.
    let d = Decoder::default()
        .decode_line(aks_record("kube-apiserver", "I0514 started").to_string(), 1)
        .unwrap();
    assert_eq!(d.kind, EventKind::Other);
}

#[test]
fn an_event_hub_message_of_aks_records_unpacks_into_them() {
    let message = json!({"records": [
        aks_record("kube-audit", &event().to_string()),
        aks_record("kube-apiserver", "I0514 09:14:00 apiserver started"),
        aks_record("kube-audit-admin", "not json"),
        aks_record("kube-audit-admin", &bare_event("r-3").to_string()),
    ]});
    for shape in [EventShape::Auto, EventShape::Aks] {
        let decoded = decode_all(shape, &message);
        let kinds: Vec<(Option<u32>, EventKind)> = decoded
            .docs
            .iter()
            .map(|d| (d.origin.item, d.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (Some(0), EventKind::Audit),
                (Some(1), EventKind::Other),
                (Some(3), EventKind::Audit)
            ]
        );
        assert_eq!(decoded.docs[2].cluster.as_deref(), Some("AKS-PROD"));
        assert_eq!(decoded.failed.len(), 1);
        assert_eq!(decoded.failed[0].0.item, Some(2));
    }
    // Records of other services are another document.
    let other = json!({"records": [{"category": "AuditEvent", "properties": {}}]});
    assert_eq!(
        decode_all(EventShape::Auto, &other).docs[0].kind,
        EventKind::Other
    );
}

fn gke_entry(method: &str, resource_name: &str, status: Value) -> Value {
    json!({"insertId":"ins-1","logName":"projects/acme/logs/cloudaudit.googleapis.com%2Factivity",
        "operation":{"first":true,"last":true,"id":"op-1","producer":"k8s.io"},
        "protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo":{"principalEmail":"nina@acme.example"},
            "methodName":method,"resourceName":resource_name,"serviceName":"k8s.io",
            "requestMetadata":{"callerIp":"203.0.113.44","callerSuppliedUserAgent":"kubectl/v1.29.1"},
            "status":status},
        "resource":{"type":"k8s_cluster","labels":{"cluster_name":"prod-gke","location":"europe-west1","project_id":"acme"}},
        "labels":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"access granted by IAM permissions."},
        "timestamp":"2024-05-14T09:13:00.123456Z"})
}

#[test]
fn a_gke_entry_becomes_the_audit_event_it_stands_for() {
    let entry = gke_entry(
        "io.k8s.core.v1.pods.exec.create",
        "core/v1/namespaces/default/pods/web-5d9c/exec",
        json!({}),
    );
    for shape in [EventShape::Auto, EventShape::Gke] {
        let d = Decoder::new(shape)
            .decode_line(entry.to_string(), 1)
            .unwrap();
        assert_eq!(
            (d.shape, d.cluster.as_deref()),
            (Some(Shape::Gke), Some("prod-gke"))
        );
        assert_eq!(
            (d.verb(), d.resource(), d.subresource()),
            ("create", "pods", "exec")
        );
        assert_eq!(d.time, "2024-05-14T09:13:00.123456Z");
        let v = canonical(&d);
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["auditID"], "op-1");
        assert_eq!(v["stage"], "ResponseComplete");
        assert_eq!(
            v["requestURI"],
            "/api/v1/namespaces/default/pods/web-5d9c/exec"
        );
        assert_eq!(v["user"]["username"], "nina@acme.example");
        assert_eq!(v["sourceIPs"], json!(["203.0.113.44"]));
        assert_eq!(v["userAgent"], "kubectl/v1.29.1");
        assert_eq!(
            v["objectRef"],
            json!({"resource":"pods","namespace":"default","name":"web-5d9c","apiVersion":"v1","subresource":"exec"})
        );
        assert_eq!(v["responseStatus"]["code"], 200);
        assert_eq!(v["annotations"]["authorization.k8s.io/decision"], "allow");
        assert_eq!(v["annotations"][CLUSTER_ANNOTATION], "prod-gke");
        let event = d.audit_event().unwrap();
        assert!(event.was_allowed());
    }
}

#[test]
fn gke_status_codes_become_http_codes() {
    for (grpc, http) in [
        (0, 200),
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ] {
        let entry = gke_entry(
            "io.k8s.core.v1.secrets.get",
            "core/v1/namespaces/default/secrets/db",
            json!({"code": grpc, "message": "denied"}),
        );
        let d = Decoder::default()
            .decode_line(entry.to_string(), 1)
            .unwrap();
        let v = canonical(&d);
        assert_eq!(v["responseStatus"]["code"], http, "gRPC {grpc}");
        if grpc != 0 {
            assert_eq!(v["responseStatus"]["status"], "Failure");
            assert_eq!(v["responseStatus"]["message"], "denied");
        }
    }
}

#[test]
fn gke_bodies_stages_and_groups() {
    let mut entry = gke_entry(
        "io.k8s.apps.v1.deployments.create",
        "apps/v1/namespaces/shop/deployments/web",
        json!({}),
    );
    let body = json!({"@type":"apps.k8s.io/v1.Deployment","apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx"}]}}}});
    entry["protoPayload"]["request"] = body.clone();
    entry["protoPayload"]["response"] = body;
    entry["operation"] = json!({"first":true,"last":false,"id":"op-9"});
    let v = canonical(
        &Decoder::default()
            .decode_line(entry.to_string(), 1)
            .unwrap(),
    );
    assert_eq!(v["level"], "RequestResponse");
    assert!(v["requestObject"].get("@type").is_none());
    assert_eq!(v["requestObject"]["kind"], "Deployment");
    assert!(v["responseObject"].get("@type").is_none());
    assert_eq!(v["objectRef"]["apiGroup"], "apps");
    assert_eq!(
        v["requestURI"],
        "/apis/apps/v1/namespaces/shop/deployments/web"
    );
    // The first of two entries of one request is its start.
    assert_eq!(v["stage"], "ResponseStarted");
    // Without a resource name, the method says what it can.
    let entry = gke_entry(
        "io.k8s.authorization.rbac.v1.clusterrolebindings.watch",
        "",
        json!({}),
    );
    let v = canonical(
        &Decoder::default()
            .decode_line(entry.to_string(), 1)
            .unwrap(),
    );
    assert_eq!(v["objectRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(
        v["requestURI"],
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?watch=true"
    );
    assert_eq!(v["verb"], "watch");
}

#[test]
fn a_gke_entry_that_does_not_translate_is_a_failure_not_other() {
    for method in [
        "io.k8s.core.v1.pods.frobnicate",
        "io.k8s.core.pods.get",
        "io.k8s.core.v1.a.b.c.get",
    ] {
        let entry = gke_entry(method, "", json!({}));
        let err = Decoder::default()
            .decode_line(entry.to_string(), 1)
            .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Undecodable {
                    shape: Shape::Gke,
                    ..
                }
            ),
            "{method}: {err}"
        );
        assert!(err.to_string().contains("methodName"), "{err}");
    }
    let entry = gke_entry(
        "io.k8s.core.v1.pods.get",
        "",
        json!({"code": "PERMISSION_DENIED"}),
    );
    assert!(
        Decoder::default()
            .decode_line(entry.to_string(), 1)
            .is_err()
    );
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
