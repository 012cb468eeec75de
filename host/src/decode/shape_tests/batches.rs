//! Batches: a webhook's EventList and a CloudWatch subscription envelope,
//! each event with its position in the document.

use serde_json::{Value, json};

use super::*;

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
    let v = crate::decode::tests::rendered(&decoded.docs[0]);
    assert_eq!(v["logStream"], "authenticator-6f0b2e8c");
    // logEvents that is not an array fails the document.
    let bad =
        json!({"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/x/cluster","logEvents":"nope"});
    assert!(Decoder::default().decode(bad.to_string(), 1).is_err());
    assert_eq!(batch::eks_cluster("/aws/eks/a/b/cluster"), None);
    assert_eq!(batch::eks_cluster("/aws/lambda/f"), None);
}
