//! Alert retention: the lifecycle policy installed at start beside the
//! alert template. ILM and ISM cannot run here, so a local responder
//! answers in the shape of Elastic's and OpenSearch's documentation and
//! records every request; the test server (no ILM/ISM routes) shows that a
//! cluster without them only gets a warning.

mod common;

use common::*;
use k8scop::es::retention::{self, Installed, Retention};
use k8scop::es::{EsClient, EsConfig, Flavor, template};
use k8scop_testkit::recorded::{Recorded, RecordedServer};
use k8scop_testkit::{TestCluster, rules_dir};
use serde_json::{Value, json};

const ES: Flavor = Flavor::Elasticsearch {
    major: 8,
    minor: 15,
};
const OS: Flavor = Flavor::OpenSearch { major: 2 };

fn client(server: &RecordedServer) -> EsClient {
    EsClient::new(&EsConfig::new(server.url())).unwrap()
}

fn age(text: &str) -> Retention {
    text.parse().unwrap()
}

fn puts(server: &RecordedServer, prefix: &str) -> Vec<Recorded> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with(prefix))
        .collect()
}

fn body(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// Elasticsearch: the ILM policy is created with a delete phase at the
/// age, the template names it, and a second start with the same age sends
/// no second PUT (the policy read back, with the fields Elasticsearch
/// adds, is what is wanted).
#[test]
fn ilm_policy_is_installed_once_and_the_template_names_it() {
    let es = RecordedServer::start();
    let stored = json!({"alerts-retention": {"version": 1, "modified_date": "2026-12-06T08:00:00.000Z",
        "policy": {"phases": {"delete": {"min_age": "90d", "actions": {"delete": {"delete_searchable_snapshot": true}}}}},
        "in_use_by": {"indices": [], "data_streams": [], "composable_templates": []}}});
    es.route(
        "GET",
        "/_ilm/policy/alerts-retention",
        &[
            (
                404,
                json!({"error": {"type": "resource_not_found_exception", "reason": "Lifecycle policy not found: alerts-retention"}, "status": 404}),
            ),
            (200, stored),
        ],
    );
    es.route(
        "PUT",
        "/_ilm/policy/",
        &[(200, json!({"acknowledged": true}))],
    );
    es.route(
        "PUT",
        "/_index_template/",
        &[(200, json!({"acknowledged": true}))],
    );
    let client = client(&es);

    let (installed, lifecycle) = run(retention::install(&client, &ES, "alerts", &age("90d")));
    assert_eq!(installed, Installed::Written);
    assert_eq!(lifecycle.as_deref(), Some("alerts-retention"));
    let put = puts(&es, "/_ilm/policy/");
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].path, "/_ilm/policy/alerts-retention");
    assert_eq!(
        body(&put[0]),
        json!({"policy": {"phases": {"delete": {"min_age": "90d", "actions": {"delete": {}}}}}})
    );

    run(template::install_with_lifecycle(
        &client,
        "alerts",
        lifecycle.as_deref(),
    ))
    .unwrap();
    let template = body(&puts(&es, "/_index_template/")[0]);
    assert_eq!(
        template["template"]["settings"]["index"]["lifecycle"]["name"],
        "alerts-retention"
    );
    assert_eq!(template["index_patterns"], json!(["alerts-*"]));

    // Started again, same age: read, found equal, not written.
    let (installed, lifecycle) = run(retention::install(&client, &ES, "alerts", &age("90d")));
    assert_eq!(installed, Installed::Unchanged);
    assert_eq!(lifecycle.as_deref(), Some("alerts-retention"));
    assert_eq!(puts(&es, "/_ilm/policy/").len(), 1, "no second PUT");
}

/// OpenSearch: the ISM policy is created with its ism_template claiming
/// `<prefix>-*`, left alone when equal, and updated naming the seq_no and
/// primary term read when the age changes; the template names no ILM policy.
#[test]
fn ism_policy_is_created_then_updated_with_seq_no_and_primary_term() {
    let os = RecordedServer::start();
    let read_back = |age: &str, seq_no: u64| {
        let mut policy = retention::ism_policy("alerts", age)["policy"].clone();
        policy["policy_id"] = json!("alerts-retention");
        policy["last_updated_time"] = json!(1_733_472_000_000u64);
        policy["schema_version"] = json!(21);
        policy["error_notification"] = Value::Null;
        policy["ism_template"][0]["last_updated_time"] = json!(1_733_472_000_000u64);
        json!({"_id": "alerts-retention", "_version": seq_no + 1, "_seq_no": seq_no, "_primary_term": 1, "policy": policy})
    };
    os.route(
        "GET",
        "/_plugins/_ism/policies/alerts-retention",
        &[
            (
                404,
                json!({"error": {"type": "status_exception", "reason": "Policy not found"}, "status": 404}),
            ),
            (200, read_back("90d", 0)),
            (200, read_back("90d", 0)),
        ],
    );
    os.route(
        "PUT",
        "/_plugins/_ism/policies/",
        &[(
            201,
            json!({"_id": "alerts-retention", "_version": 1, "_primary_term": 1, "_seq_no": 0, "policy": {}}),
        )],
    );
    let client = client(&os);

    let (installed, lifecycle) = run(retention::install(&client, &OS, "alerts", &age("90d")));
    assert_eq!(installed, Installed::Written);
    assert_eq!(
        lifecycle, None,
        "OpenSearch indices are claimed by ism_template"
    );
    let put = puts(&os, "/_plugins/_ism/policies/");
    assert_eq!(put[0].path, "/_plugins/_ism/policies/alerts-retention");
    let created = body(&put[0]);
    assert_eq!(
        created["policy"]["ism_template"][0]["index_patterns"],
        json!(["alerts-*"])
    );
    assert_eq!(
        created["policy"]["states"][0]["transitions"][0],
        json!({"state_name": "delete", "conditions": {"min_index_age": "90d"}})
    );
    assert_eq!(
        created["policy"]["states"][1]["actions"],
        json!([{"delete": {}}])
    );

    let (installed, _) = run(retention::install(&client, &OS, "alerts", &age("90d")));
    assert_eq!(installed, Installed::Unchanged);
    assert_eq!(
        puts(&os, "/_plugins/_ism/policies/").len(),
        1,
        "no PUT when equal"
    );

    let (installed, _) = run(retention::install(&client, &OS, "alerts", &age("30d")));
    assert_eq!(installed, Installed::Written);
    let put = puts(&os, "/_plugins/_ism/policies/");
    assert_eq!(put.len(), 2);
    assert_eq!(
        put[1].path,
        "/_plugins/_ism/policies/alerts-retention?if_seq_no=0&if_primary_term=1"
    );
    assert_eq!(
        body(&put[1])["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"],
        "30d"
    );
}

/// No ILM route (404 on GET and PUT): a warning, no lifecycle in the
/// template, and nothing fails. `off` sends nothing at all.
#[test]
fn no_lifecycle_route_is_a_warning_and_off_sends_nothing() {
    let bare = RecordedServer::start();
    let bare_client = client(&bare);
    let (installed, lifecycle) = run(retention::install(&bare_client, &ES, "alerts", &age("90d")));
    assert_eq!(
        installed,
        Installed::Unavailable("the cluster has no ILM API".into())
    );
    assert_eq!(lifecycle, None);
    let (installed, _) = run(retention::install(&bare_client, &OS, "alerts", &age("90d")));
    assert_eq!(
        installed,
        Installed::Unavailable("the cluster has no ISM API".into())
    );

    let quiet = RecordedServer::start();
    let (installed, lifecycle) = run(retention::install(
        &client(&quiet),
        &ES,
        "alerts",
        &age("off"),
    ));
    assert_eq!((installed, lifecycle), (Installed::Disabled, None));
    assert!(quiet.requests().is_empty());
}

/// End to end against the test server, which has no ILM/ISM: the replay
/// writes its alerts, and says once that retention is not installed.
#[test]
fn a_cluster_without_lifecycle_management_still_gets_its_alerts() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let time = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
        .unwrap()
        .to_utc();
    index_docs(&cluster, &[exec_doc(&logs, "e1", time, "mallory", "sh")]);
    cluster.refresh(&format!("{logs}-*"));
    let rules = rules_dir(&["k8scop-classic"]);
    let out = k8scop(
        &[
            s(&[
                "replay",
                "--from",
                "2024-03-01T00:00:00Z",
                "--to",
                "2024-03-02T00:00:00Z",
            ]),
            es_args(&cluster, &logs, &alerts, rules.path().to_str().unwrap()),
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    if !cluster.is_external() {
        assert_eq!(
            stderr
                .matches("cannot install the alert retention policy")
                .count(),
            1,
            "{stderr}"
        );
    }
    assert!(!alerts_in(&cluster, &alerts).is_empty(), "{stderr}");
}

/// A state index (checkpoints) the alert pattern would match is refused
/// at start, before anything is written: `--alerts-prefix k8scop` would put
/// `k8scop-state-k8scop` under `k8scop-*`.
#[test]
fn a_state_index_inside_the_alert_pattern_is_refused() {
    let rules = rules_dir(&["k8scop-classic"]);
    let out = k8scop(&s(&[
        "run",
        "--es-url",
        "http://127.0.0.1:9",
        "--alerts-prefix",
        "k8scop",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        rules.path().to_str().unwrap(),
    ]))
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the state index k8scop-state-k8scop (checkpoints) matches the alert indices' pattern k8scop-*"),
        "{stderr}"
    );
}
