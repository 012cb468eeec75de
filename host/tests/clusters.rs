//! A fleet's audit logs in one index (`--cluster-field`): every alert names
//! its cluster, aggregation and the correlation pack's per-identity state
//! are per cluster, and `--cluster-name` names the documents that carry
//! none. Run as the binary a user runs, on a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use k8scop_testkit::{Succeeds, alerts_on_stdout, rules_dir};
use serde_json::{Value, json};

/// An audit event as a shipper stores it, the cluster beside it, at
/// `second` past 10:00.
fn event(
    cluster: Option<Value>,
    verb: &str,
    resource: &str,
    sub: &str,
    name: &str,
    second: u32,
) -> String {
    let time = format!(
        "2024-03-01T10:{:02}:{:02}.000000Z",
        second / 60,
        second % 60
    );
    let mut event = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("{verb}-{resource}-{name}-{second}-{cluster:?}"),
        "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/shop/{resource}/{name}"),
        "verb": verb, "user": {"username": "eve", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"], "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "objectRef": {"resource": resource, "subresource": sub, "namespace": "shop", "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": if sub == "exec" { 101 } else { 200 }},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
    });
    if let Some(Value::Object(fields)) = cluster {
        event.as_object_mut().unwrap().extend(fields);
    }
    event.to_string()
}

/// ECS's nested form for one cluster, a flat dotted key for the other: the
/// field is read either way.
fn named(cluster: &str) -> Option<Value> {
    Some(match cluster {
        "prod-eu" => json!({"orchestrator": {"cluster": {"name": "prod-eu"}}}),
        other => json!({"orchestrator.cluster.name": other}),
    })
}

fn exec(cluster: Option<Value>, second: u32) -> String {
    event(cluster, "create", "pods", "exec", "api-1", second)
}

fn secret(cluster: Option<Value>, name: &str, second: u32) -> String {
    event(cluster, "get", "secrets", "", name, second)
}

/// Replay `lines` with the classic and correlation packs; the alerts.
fn replay(lines: &[String], flags: &[&str]) -> Vec<Value> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    let rules = rules_dir(&["k8scop-classic", "k8scop-correlation"]);
    let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["replay", "--input"])
        .arg(file.path())
        .arg("--rules")
        .arg(rules.path())
        .args(flags)
        .env("K8SCOP_LOG", "warn")
        .succeeds();
    alerts_on_stdout(&out)
}

/// The clusters of one rule's alerts, with their counts.
fn by_cluster(alerts: &[Value], rule: &str) -> BTreeMap<String, u64> {
    alerts
        .iter()
        .filter(|a| a["rule"]["id"] == rule)
        .map(|a| {
            let cluster = a["orchestrator"]["cluster"]["name"]
                .as_str()
                .unwrap_or("(none)");
            (cluster.to_string(), a["k8scop"]["count"].as_u64().unwrap())
        })
        .fold(BTreeMap::new(), |mut m, (c, n)| {
            *m.entry(c).or_default() += n;
            m
        })
}

const EXEC: &str = "k8scop-classic/pod-exec";
const BURST: &str = "k8scop-correlation/secret-read-burst";

#[test]
fn alerts_and_their_aggregates_are_per_cluster() {
    let lines = [
        exec(named("prod-eu"), 0),
        exec(named("prod-us"), 1),
        exec(named("prod-us"), 2),
        exec(None, 3),
    ];
    let fleet = [
        "--cluster-field",
        "orchestrator.cluster.name",
        "--cluster-name",
        "lab",
    ];
    let alerts = replay(&lines, &fleet);
    let want = BTreeMap::from([
        ("lab".to_string(), 1),
        ("prod-eu".to_string(), 1),
        ("prod-us".to_string(), 2),
    ]);
    assert_eq!(by_cluster(&alerts, EXEC), want, "{alerts:#?}");
    assert_eq!(alerts.iter().filter(|a| a["rule"]["id"] == EXEC).count(), 3);

    // Without the field, --cluster-name names the one cluster watched: the
    // same exec in "two clusters" is one aggregate.
    let alerts = replay(&lines, &["--cluster-name", "lab"]);
    assert_eq!(
        by_cluster(&alerts, EXEC),
        BTreeMap::from([("lab".to_string(), 4)])
    );
}

#[test]
fn correlation_state_is_per_cluster() {
    // Ten distinct secrets within a minute is a burst (the pack's default).
    let split: Vec<String> = (0..10)
        .map(|i| {
            let cluster = if i % 2 == 0 { "prod-eu" } else { "prod-us" };
            secret(named(cluster), &format!("s{i}"), i)
        })
        .collect();
    let field = ["--cluster-field", "orchestrator.cluster.name"];
    let alerts = replay(&split, &field);
    assert_eq!(
        by_cluster(&alerts, BURST),
        BTreeMap::new(),
        "five reads in each of two clusters"
    );
    // The same reads seen as one cluster's are a burst: the field decides.
    let alerts = replay(&split, &[]);
    assert_eq!(by_cluster(&alerts, BURST).values().sum::<u64>(), 1);

    let one: Vec<String> = (0..10)
        .map(|i| secret(named("prod-us"), &format!("s{i}"), i))
        .collect();
    let alerts = replay(&one, &field);
    assert_eq!(
        by_cluster(&alerts, BURST),
        BTreeMap::from([("prod-us".to_string(), 1)])
    );
}
