//! No identity is invisible by name alone, end to end (`k8scop replay`, the
//! shipped packs, the aggregation): a privileged rollout made by the
//! controllers is one alert that counts its objects, and a kube-system
//! controller's token used from kubectl is reported.

use std::process::{Command, Output};

use k8scop_testkit::rules_dir;
use serde_json::{Value, json};

fn replay(events: &[Value], packs: &[&str]) -> Vec<Value> {
    let rules = rules_dir(packs);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.jsonl");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["replay", "--output", "-", "--input"])
        .arg(&input)
        .arg("--rules")
        .arg(rules.path())
        .env("K8SCOP_LOG", "warn")
        .output()
        .expect("run k8scop");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is a JSON alert"))
        .collect()
}

const SA_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
];
const KCM: &str = "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819";

#[allow(clippy::too_many_arguments)]
fn create(
    i: u32,
    user: &str,
    groups: &[&str],
    agent: &str,
    resource: &str,
    group: &str,
    name: &str,
    object: Value,
) -> Value {
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/v1")
    };
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": format!("0d1e2f30-0000-4000-8000-{i:012}"), "stage": "ResponseComplete",
        "verb": "create", "requestURI": format!("{prefix}/namespaces/shop/{resource}"),
        "user": {"username": user, "groups": groups}, "sourceIPs": ["172.18.0.2"], "userAgent": agent,
        "objectRef": {"resource": resource, "namespace": "shop", "name": name, "apiGroup": group,
                      "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": object, "responseObject": object,
        "requestReceivedTimestamp": format!("2024-03-01T10:00:0{i}.000000Z"),
        "stageTimestamp": format!("2024-03-01T10:00:0{i}.020000Z"),
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
}

fn spec() -> Value {
    json!({"containers": [{"name": "shell", "image": "docker.io/library/ubuntu:22.04",
                           "securityContext": {"privileged": true}}]})
}

/// Alice's Deployment, the deployment-controller's ReplicaSet and the
/// replicaset-controller's two pods: one privileged-pod alert counting 4.
#[test]
fn one_privileged_rollout_is_one_alert_counting_its_objects() {
    let hash = "6b9f7c5d8";
    let owned_by = |kind: &str, name: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": true}]);
    let deployment = json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "tools", "namespace": "shop"},
        "spec": {"template": {"metadata": {"labels": {"app": "tools"}}, "spec": spec()}}});
    let replicaset = json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {"name": format!("tools-{hash}"), "namespace": "shop",
                     "labels": {"pod-template-hash": hash}, "ownerReferences": owned_by("Deployment", "tools")},
        "spec": {"template": {"metadata": {"labels": {"app": "tools", "pod-template-hash": hash}}, "spec": spec()}}});
    let pod = |n: &str| {
        json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": format!("tools-{hash}-{n}"), "namespace": "shop",
                     "labels": {"app": "tools", "pod-template-hash": hash},
                     "ownerReferences": owned_by("ReplicaSet", &format!("tools-{hash}"))},
        "spec": spec()})
    };
    let rs = "system:serviceaccount:kube-system:replicaset-controller";
    let events = [
        create(
            0,
            "alice",
            &["system:authenticated"],
            "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
            "deployments",
            "apps",
            "tools",
            deployment,
        ),
        create(
            1,
            "system:serviceaccount:kube-system:deployment-controller",
            SA_GROUPS,
            &format!("{KCM}/system:serviceaccount:kube-system:deployment-controller"),
            "replicasets",
            "apps",
            &format!("tools-{hash}"),
            replicaset,
        ),
        create(
            2,
            rs,
            SA_GROUPS,
            &format!("{KCM}/{rs}"),
            "pods",
            "",
            "",
            pod("x2x9q"),
        ),
        create(
            3,
            rs,
            SA_GROUPS,
            &format!("{KCM}/{rs}"),
            "pods",
            "",
            "",
            pod("b7k4m"),
        ),
    ];
    let alerts = replay(&events, &["k8scop-falco"]);
    let privileged: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] == "k8scop-falco/privileged-pod")
        .collect();
    assert_eq!(privileged.len(), 1, "{alerts:#?}");
    assert_eq!(privileged[0]["k8scop"]["count"], 4, "{}", privileged[0]);
    // Nothing else but alice's own (her deployment, her name on no
    // allow-list): the controllers at work are the control plane.
    let others: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] != "k8scop-falco/privileged-pod")
        .collect();
    assert!(
        others.iter().all(|a| a["user"]["name"] == "alice"
            && [
                "k8scop-falco/deployment-created",
                "k8scop-falco/disallowed-user"
            ]
            .contains(&a["rule"]["id"].as_str().unwrap())),
        "{others:#?}"
    );
}

/// The replicaset-controller's token from kubectl: the privileged pod is
/// reported by the Falco pack, and the client by the correlation pack.
#[test]
fn a_controller_token_from_kubectl_is_reported() {
    let rs = "system:serviceaccount:kube-system:replicaset-controller";
    let kubectl = "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f";
    let pod = json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "debug", "namespace": "shop"}, "spec": spec()});
    let alerts = replay(
        &[create(0, rs, SA_GROUPS, kubectl, "pods", "", "debug", pod)],
        &["k8scop-falco", "k8scop-correlation"],
    );
    let rules: Vec<&str> = alerts
        .iter()
        .map(|a| a["rule"]["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"k8scop-falco/privileged-pod"), "{rules:?}");
    assert!(
        rules.contains(&"k8scop-correlation/control-plane-unexpected-client"),
        "{rules:?}"
    );
}
