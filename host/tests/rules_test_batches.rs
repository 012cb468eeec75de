//! `rules test` feeds a case's events in batches of `batch_size`: a
//! stateful pack (the correlation pack) keeps its state across them, alert
//! indices count from the case's first event, and cases stay independent.

use k8scop::rules_test;
use k8scop_testkit::build_pack;
use serde_json::{Value, json};

fn secret_read(name: &str, second: u32) -> Value {
    let time = format!("2024-03-01T10:00:{second:02}.000000Z");
    json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
        "auditID":format!("read-{name}"),"stage":"ResponseComplete",
        "requestURI":format!("/api/v1/namespaces/prod/secrets/{name}"),"verb":"get",
        "user":{"username":"eve"},"sourceIPs":["10.0.0.5"],"userAgent":"kubectl/v1.29.2",
        "objectRef":{"resource":"secrets","namespace":"prod","name":name,"apiVersion":"v1"},
        "responseStatus":{"metadata":{},"code":200},
        "requestReceivedTimestamp":time,"stageTimestamp":time})
}

#[test]
fn a_cases_events_reach_the_pack_in_batches_and_state_crosses_them() {
    let pack = build_pack("k8scop-correlation");
    let reads: Vec<Value> = (0..5).map(|i| secret_read(&format!("s{i}"), i)).collect();
    let config = json!({"secret_burst_threshold": "5"});
    let burst = |batch_size: Value| {
        let mut case = json!({"name": format!("batches of {batch_size}"),
            "rule": "k8scop-correlation/secret-read-burst", "config": config, "events": reads,
            "expect": [{"rule": "k8scop-correlation/secret-read-burst", "event": 4,
                        "fields": {"secret_count": "5"}}]});
        if !batch_size.is_null() {
            case["batch_size"] = batch_size;
        }
        case
    };
    let file = json!({"cases": [
        burst(Value::Null),
        burst(json!(1)),
        burst(json!(2)),
        burst(json!(50)),
        // A fresh instance per case: four reads are no burst, whatever came before.
        {"name": "fresh state", "rule": "k8scop-correlation/secret-read-burst", "config": config,
         "batch_size": 1, "events": reads[..4], "expect": []},
        {"name": "zero", "config": config, "batch_size": 0, "events": reads, "expect": []},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.json");
    std::fs::write(&cases, file.to_string()).unwrap();

    let report = rules_test::run(&rules_test::UnderTest::Pack(pack.clone()), &cases).unwrap();
    let got: Vec<(&str, bool, usize)> = report
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.passed, r.batches))
        .collect();
    assert_eq!(
        got,
        [
            ("batches of null", true, 1),
            ("batches of 1", true, 5),
            ("batches of 2", true, 3),
            ("batches of 50", true, 1),
            ("fresh state", true, 4),
            ("zero", false, 0),
        ],
        "{:#?}",
        report.results
    );
    assert!(
        report.results[5]
            .diff
            .contains("batch_size must be at least 1")
    );
}

/// A case naming a rule id the pack does not declare (a typo, a rule
/// renamed since) fails instead of passing as a must-not-fire case.
#[test]
fn a_case_about_a_rule_the_pack_does_not_have_fails() {
    let pack = build_pack("k8scop-correlation");
    let file = json!({"cases": [
        {"name": "typo in the rule id", "rule": "k8scop-correlation/secret-read-brust",
         "events": [secret_read("a", 0)], "expect": []},
        {"name": "typo in an expected alert", "rule": "k8scop-correlation/secret-read-burst",
         "events": [secret_read("a", 0)],
         "expect": [{"rule": "k8scop-correlation/secret-burst"}]},
        {"name": "a real rule that must not fire", "rule": "k8scop-correlation/secret-read-burst",
         "events": [secret_read("a", 0)], "expect": []},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.json");
    std::fs::write(&cases, file.to_string()).unwrap();
    let report = rules_test::run(&rules_test::UnderTest::Pack(pack.clone()), &cases).unwrap();
    let verdicts: Vec<(bool, bool)> = report
        .results
        .iter()
        .map(|r| {
            (
                r.passed,
                r.diff
                    .contains("which pack k8scop-correlation does not declare"),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [(false, true), (false, true), (true, false)],
        "{:#?}",
        report.results
    );
    assert!(report.results[0].diff.contains("secret-read-brust"));
}
