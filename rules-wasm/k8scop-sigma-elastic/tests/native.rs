//! The pack run natively across batches: what `cases.json` (one batch per
//! case) cannot show, state kept from one batch to the next and its bounds.

use k8scop_sigma_elastic::SigmaElastic;
use rule_sdk::EventKind;
use rule_sdk::native::NativePack;
use rule_sdk::serde_json::{Value, json};

fn deployment_event(verb: &str, user: &str, containers: &[&str], id: &str) -> String {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": format!("registry.example.com/{c}:1")}))
        .collect();
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": containers}}}});
    json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": id, "stage": "ResponseComplete", "verb": verb,
        "requestURI": "/apis/apps/v1/namespaces/shop/deployments/web",
        "user": {"username": user}, "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.29.2",
        "objectRef": {"resource": "deployments", "namespace": "shop", "name": "web", "apiGroup": "apps", "apiVersion": "v1"},
        "responseStatus": {"code": if verb == "create" { 201 } else { 200 }},
        "requestObject": object, "responseObject": object,
        "stageTimestamp": "2024-03-01T11:00:00Z"})
    .to_string()
}

fn rules_of(alerts: &[rule_sdk::native::Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.rule_id.as_str()).collect()
}

#[test]
fn a_workload_seen_in_one_batch_is_compared_in_the_next() {
    let mut pack = NativePack::<SigmaElastic>::new(&[]);
    let created = deployment_event("create", "bob", &["web"], "a1");
    assert!(
        pack.evaluate([(EventKind::Audit, created.as_str())])
            .is_empty()
    );
    let injected = deployment_event("update", "mallory", &["web", "tap"], "a2");
    let alerts = pack.evaluate([(EventKind::Audit, injected.as_str())]);
    assert_eq!(rules_of(&alerts), ["k8scop-sigma-elastic/sidecar-injected"]);
    let container = alerts[0].fields.iter().find(|(k, _)| k == "container");
    assert_eq!(container.map(|(_, v)| v.as_str()), Some("tap"));
    // The same containers again add nothing.
    let again = deployment_event("update", "mallory", &["web", "tap"], "a3");
    assert!(
        pack.evaluate([(EventKind::Audit, again.as_str())])
            .is_empty()
    );
}

#[test]
fn remembered_workloads_are_capped() {
    let mut pack = NativePack::<SigmaElastic>::new(&[("max_tracked_workloads", "1")]);
    let web = deployment_event("create", "bob", &["web"], "b1");
    let other = web
        .replace("\"web\"", "\"api\"")
        .replace("/web\"", "/api\"");
    assert!(
        pack.evaluate([
            (EventKind::Audit, web.as_str()),
            (EventKind::Audit, other.as_str())
        ])
        .is_empty()
    );
    // `web` was forgotten to make room for `api`: an update alone (no patch
    // to read) cannot say what was added.
    let injected = deployment_event("update", "mallory", &["web", "tap"], "b2");
    assert!(
        pack.evaluate([(EventKind::Audit, injected.as_str())])
            .is_empty()
    );
}

#[test]
fn a_failed_authentication_logged_in_two_batches_counts_once() {
    let mut pack = NativePack::<SigmaElastic>::new(&[]);
    let event = |stage: &str| {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": "c1", "stage": stage, "verb": "list", "requestURI": "/api/v1/secrets",
            "user": {}, "sourceIPs": ["198.51.100.23"], "userAgent": "python-requests/2.31.0",
            "responseStatus": {"code": 401, "message": "Unauthorized"},
            "stageTimestamp": "2024-03-01T11:00:00Z"})
        .to_string()
    };
    let started = event("ResponseStarted");
    let complete = event("ResponseComplete");
    let first = pack.evaluate([(EventKind::Audit, started.as_str())]);
    assert_eq!(
        rules_of(&first),
        ["k8scop-sigma-elastic/request-unauthenticated"]
    );
    assert!(
        pack.evaluate([(EventKind::Audit, complete.as_str())])
            .is_empty()
    );
}

#[test]
fn rules_are_described_for_the_host() {
    let info = NativePack::<SigmaElastic>::describe();
    assert_eq!(info.name, "k8scop-sigma-elastic");
    let mut ids: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "rule ids are unique");
    for rule in &info.rules {
        assert!(rule.id.starts_with("k8scop-sigma-elastic/"), "{}", rule.id);
        assert!(
            rule.tags.iter().any(|t| t.starts_with("attack.t")),
            "{} has an ATT&CK technique",
            rule.id
        );
        assert!(!rule.description.is_empty() && !rule.title.is_empty());
    }
}
