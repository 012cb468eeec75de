use super::*;
use rule_sdk::bindings::k8scop::rules::types::TextField;
use serde_json::{Value, json};

fn event(user: &str, agent: &str, verb: &str, uri: &str, object_ref: Value) -> Value {
    let mut e = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "a", "stage": "ResponseComplete", "verb": verb, "requestURI": uri,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "userAgent": agent, "sourceIPs": ["172.18.0.3"],
        "responseStatus": {"metadata": {}, "code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow"}
    });
    if !object_ref.is_null() {
        e["objectRef"] = object_ref;
    }
    e
}

fn builtin() -> ChatterFilter {
    ChatterFilter::new(ChatterMode::Drop, None).unwrap()
}

fn rule_of(filter: &ChatterFilter, e: &Value) -> Option<String> {
    filter.classify(doc(e).facts()).map(String::from)
}

const KUBELET_AGENT: &str = "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819";
const PROXY_AGENT: &str = "kube-proxy/v1.29.2 (linux/amd64) kubernetes/4b8e819";
const KUBECTL: &str = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819";
const PROXY_SA: &str = "system:serviceaccount:kube-system:kube-proxy";

#[test]
fn the_built_in_rules_compile() {
    assert!(builtin_rules().len() >= 20);
}

#[test]
fn lease_renewals_and_watches_are_chatter() {
    let f = builtin();
    let renew = event(
        "system:kube-controller-manager",
        "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/leader-election",
        "update",
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s",
        json!({"resource": "leases", "namespace": "kube-system", "name": "kube-controller-manager", "apiGroup": "coordination.k8s.io"}),
    );
    assert_eq!(
        rule_of(&f, &renew).as_deref(),
        Some("leader-election-lease")
    );
    let watch = event(
        PROXY_SA,
        PROXY_AGENT,
        "watch",
        "/apis/discovery.k8s.io/v1/endpointslices?allowWatchBookmarks=true&watch=true",
        json!({"resource": "endpointslices", "apiGroup": "discovery.k8s.io"}),
    );
    assert_eq!(rule_of(&f, &watch).as_deref(), Some("informer-watch"));
    let probe = event(
        "system:anonymous",
        "kube-probe/1.29",
        "get",
        "/livez",
        Value::Null,
    );
    assert_eq!(rule_of(&f, &probe).as_deref(), Some("health-check"));
}

#[test]
fn a_stolen_kube_proxy_token_reading_secrets_is_not_chatter() {
    let f = builtin();
    for agent in [PROXY_AGENT, KUBECTL] {
        for (verb, uri, object_ref) in [
            (
                "get",
                "/api/v1/namespaces/kube-system/secrets/admin-token",
                json!({"resource": "secrets", "namespace": "kube-system", "name": "admin-token"}),
            ),
            (
                "list",
                "/api/v1/secrets?limit=500&resourceVersion=0",
                json!({"resource": "secrets"}),
            ),
            (
                "watch",
                "/api/v1/secrets?watch=true",
                json!({"resource": "secrets"}),
            ),
        ] {
            let e = event(PROXY_SA, agent, verb, uri, object_ref);
            assert_eq!(rule_of(&f, &e), None, "{agent} {verb} {uri}");
        }
    }
}

#[test]
fn a_chatter_request_from_another_client_is_not_chatter() {
    let f = builtin();
    // The kube-proxy's own watch, but sent by kubectl with its token.
    let e = event(
        PROXY_SA,
        KUBECTL,
        "watch",
        "/api/v1/services?watch=true",
        json!({"resource": "services"}),
    );
    assert_eq!(rule_of(&f, &e), None);
    // kube-proxy does not touch pods.
    let e = event(
        PROXY_SA,
        PROXY_AGENT,
        "watch",
        "/api/v1/pods?watch=true",
        json!({"resource": "pods"}),
    );
    assert_eq!(rule_of(&f, &e), None);
}

#[test]
fn a_kubelet_only_renews_its_own_node() {
    let f = builtin();
    let lease = |user: &str, name: &str| {
        event(
            user,
            KUBELET_AGENT,
            "update",
            &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
            json!({"resource": "leases", "namespace": "kube-node-lease", "name": name}),
        )
    };
    assert_eq!(
        rule_of(&f, &lease("system:node:worker-1", "worker-1")).as_deref(),
        Some("kubelet-node-lease")
    );
    assert_eq!(
        rule_of(&f, &lease("system:node:worker-1", "worker-2")),
        None
    );
    let status = |name: &str| {
        event(
            "system:node:worker-1",
            KUBELET_AGENT,
            "patch",
            &format!("/api/v1/nodes/{name}/status?timeout=10s"),
            json!({"resource": "nodes", "name": name, "subresource": "status"}),
        )
    };
    assert_eq!(
        rule_of(&f, &status("worker-1")).as_deref(),
        Some("kubelet-node-status")
    );
    assert_eq!(rule_of(&f, &status("worker-2")), None);
}

#[test]
fn ad_hoc_lists_are_not_informer_relists() {
    let f = builtin();
    let list = |uri: &str| {
        event(
            "system:kube-controller-manager",
            "kube-controller-manager/v1.29.2",
            "list",
            uri,
            json!({"resource": "pods"}),
        )
    };
    assert_eq!(
        rule_of(&f, &list("/api/v1/pods?limit=500&resourceVersion=0")).as_deref(),
        Some("informer-list")
    );
    assert_eq!(rule_of(&f, &list("/api/v1/pods?limit=500")), None);
}

#[test]
fn denied_and_impersonated_requests_are_never_chatter() {
    let f = builtin();
    let mut e = event(
        "system:node:worker-1",
        KUBELET_AGENT,
        "watch",
        "/api/v1/pods?watch=true",
        json!({"resource": "pods"}),
    );
    assert_eq!(rule_of(&f, &e).as_deref(), Some("informer-watch"));
    e["responseStatus"]["code"] = json!(403);
    assert_eq!(rule_of(&f, &e), None);
    e["responseStatus"]["code"] = json!(200);
    e["annotations"]["authorization.k8s.io/decision"] = json!("forbid");
    assert_eq!(rule_of(&f, &e), None);
    e["annotations"]["authorization.k8s.io/decision"] = json!("allow");
    e["impersonatedUser"] = json!({"username": "system:admin"});
    assert_eq!(rule_of(&f, &e), None);
}

#[test]
fn anonymous_requests_other_than_probes_are_not_chatter() {
    let f = builtin();
    let e = event(
        "system:anonymous",
        "curl/8.5.0",
        "get",
        "/healthz",
        Value::Null,
    );
    assert_eq!(rule_of(&f, &e), None);
    let e = event(
        "system:anonymous",
        "kube-probe/1.29",
        "get",
        "/api/v1/namespaces",
        json!({"resource": "namespaces"}),
    );
    assert_eq!(rule_of(&f, &e), None);
}

#[test]
fn operator_rules_extend_the_built_ins_and_are_checked() {
    let rules = parse_rules(
        r#"
        [[rule]]
        name = "argocd-watches"
        users = ["system:serviceaccount:argocd:argocd-application-controller"]
        user-agents = ["argocd-application-controller/*"]
        verbs = ["watch"]
        resources = ["*"]
        "#,
    )
    .unwrap();
    assert_eq!(rules.len(), 1);
    let f = ChatterFilter {
        mode: ChatterMode::Drop,
        rules,
    };
    let e = event(
        "system:serviceaccount:argocd:argocd-application-controller",
        "argocd-application-controller/v2.10.0",
        "watch",
        "/apis/apps/v1/deployments?watch=true",
        json!({"resource": "deployments", "apiGroup": "apps"}),
    );
    assert_eq!(rule_of(&f, &e).as_deref(), Some("argocd-watches"));

    let err = |text: &str| format!("{:#}", parse_rules(text).unwrap_err());
    assert!(
        err("[[rule]]\nname = \"x\"\nusers = []\nverbs = [\"get\"]\nresources = [\"pods\"]")
            .contains("`users` is empty")
    );
    assert!(
        err("[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]")
            .contains("either `resources`")
    );
    assert!(
        err(
            "[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]\nresources = [\"secrets\"]"
        )
        .contains("never dropped")
    );
    assert!(err("[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]\nresources = [\"pods\"]\ncolour = 1").contains("colour"));
}

/// MicroK8s' kubelite and k3s send one agent for every component: the
/// same routine is chatter under it, and kubectl with the same
/// identity is not.
#[test]
fn microk8s_and_k3s_components_are_known_by_their_agents() {
    let filter = builtin();
    let lease = |user: &str, agent: &str, name: &str| {
        event(
            user,
            agent,
            "update",
            &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
            json!({"resource": "leases", "namespace": "kube-node-lease", "name": name,
                   "apiGroup": "coordination.k8s.io"}),
        )
    };
    for agent in [
        "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119",
        "k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6",
        KUBELET_AGENT,
    ] {
        let e = lease("system:node:mk8s-1", agent, "mk8s-1");
        assert_eq!(
            rule_of(&filter, &e).as_deref(),
            Some("kubelet-node-lease"),
            "{agent}"
        );
    }
    let e = lease("system:node:mk8s-1", KUBECTL, "mk8s-1");
    assert_eq!(rule_of(&filter, &e), None);
    // The controller-manager's controllers, with their suffix.
    let status = |agent: &str| {
        event(
            "system:serviceaccount:kube-system:replicaset-controller",
            agent,
            "update",
            "/apis/apps/v1/namespaces/kube-system/replicasets/coredns-d489fb88/status",
            json!({"resource": "replicasets", "subresource": "status",
                   "namespace": "kube-system", "name": "coredns-d489fb88", "apiGroup": "apps"}),
        )
    };
    let kubelite = "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119/system:serviceaccount:kube-system:replicaset-controller";
    assert_eq!(
        rule_of(&filter, &status(kubelite)).as_deref(),
        Some("controller-status")
    );
    assert_eq!(rule_of(&filter, &status(KUBECTL)), None);
    // The API server's own requests come over loopback.
    let identity = |ip: &str| {
        let mut e = event(
            "system:apiserver",
            "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119",
            "update",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/apiserver-x",
            json!({"resource": "leases", "namespace": "kube-system", "name": "apiserver-x",
                   "apiGroup": "coordination.k8s.io"}),
        );
        e["sourceIPs"] = json!([ip]);
        e
    };
    assert_eq!(
        rule_of(&filter, &identity("127.0.0.1")).as_deref(),
        Some("apiserver-identity-lease")
    );
    assert_eq!(rule_of(&filter, &identity("203.0.113.9")), None);
}

#[test]
fn operators_add_components_to_the_rules_of_their_role() {
    let agent = "my-distro/v1.0 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:replicaset-controller";
    let e = event(
        "system:serviceaccount:kube-system:replicaset-controller",
        agent,
        "update",
        "/apis/apps/v1/namespaces/shop/replicasets/web-1/status",
        json!({"resource": "replicasets", "subresource": "status", "namespace": "shop",
               "name": "web-1", "apiGroup": "apps"}),
    );
    assert_eq!(rule_of(&builtin(), &e), None);
    let file = parse_file(
        r#"
        [[control-plane]]
        role = "controllers"
        users = ["system:serviceaccount:kube-system:*"]
        user-agents = ["my-distro/*"]
        "#,
    )
    .unwrap();
    let mut filter = builtin();
    for row in &file.control_plane {
        add_component(&mut filter.rules, row);
    }
    assert_eq!(rule_of(&filter, &e).as_deref(), Some("controller-status"));
    let err = |text: &str| format!("{:#}", parse_file(text).unwrap_err());
    assert!(
        err("[[control-plane]]\nrole = \"x\"\nusers = [\"a\"]\nuser-agents = [\"b\"]")
            .contains("role")
    );
    assert!(
        err("[[control-plane]]\nrole = \"kubelet\"\nusers = [\"a\"]\nuser-agents = []")
            .contains("AND its agent")
    );
}

fn doc(e: &Value) -> DecodedDoc {
    crate::decode::Decoder::default()
        .decode_line(e.to_string(), 1)
        .unwrap()
}

#[test]
fn modes_drop_label_or_leave_the_batch() {
    let chatter = event(
        "system:node:worker-1",
        KUBELET_AGENT,
        "watch",
        "/api/v1/pods?watch=true",
        json!({"resource": "pods"}),
    );
    let attack = event(
        PROXY_SA,
        KUBECTL,
        "get",
        "/api/v1/namespaces/kube-system/secrets/admin-token",
        json!({"resource": "secrets", "namespace": "kube-system", "name": "admin-token"}),
    );
    let batch = vec![doc(&chatter), doc(&attack)];

    let mut docs = batch.clone();
    let off = ChatterFilter::new(ChatterMode::Off, None).unwrap();
    assert_eq!(off.apply(&mut docs).total(), 0);
    assert_eq!(docs.len(), 2);

    let mut docs = batch.clone();
    let drop = ChatterFilter::new(ChatterMode::Drop, None).unwrap();
    let reduced = drop.apply(&mut docs);
    assert_eq!(
        reduced.by_rule,
        BTreeMap::from([("informer-watch".to_string(), 1)])
    );
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].view().text(TextField::Name), "admin-token");

    let mut docs = batch.clone();
    let label = ChatterFilter::new(ChatterMode::Label, None).unwrap();
    assert_eq!(label.apply(&mut docs).total(), 1);
    assert_eq!(docs.len(), 2);
    let annotation = |doc: &DecodedDoc, key: &str| {
        let event = doc.audit_event().unwrap();
        event.annotation(key).map(String::from)
    };
    assert_eq!(
        annotation(&docs[0], CHATTER_ANNOTATION).as_deref(),
        Some("informer-watch")
    );
    assert_eq!(
        annotation(&docs[0], "authorization.k8s.io/decision").as_deref(),
        Some("allow")
    );
    assert_eq!(annotation(&docs[1], CHATTER_ANNOTATION), None);
}
