//! Shapes that name their cluster: Elastic Agent's ECS fields, EKS's log
//! group, AKS's diagnostic records.

use serde_json::{Value, json};

use super::*;

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
