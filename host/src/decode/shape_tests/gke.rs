//! GKE's Cloud Audit Logs entries, translated into the audit event.

use serde_json::{Value, json};

use super::*;

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
