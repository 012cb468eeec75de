//! Alert documents are ECS: those of every shipped rule's cases and of a
//! replay of the sample pass the ECS check (`ecs_check`), the template
//! maps every field they carry, and the check itself can fail.

mod ecs_check;

use k8scop_testkit::Succeeds;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ecs_check::{Ecs, leaves, template_types, unmapped};
use k8scop_testkit::{rules_dir, rules_test_args, shipped_packs, workspace_file};
use serde_json::{Value, json};

/// `k8scop replay` of `input` through `rules`, the alerts written to a
/// file as an operator would bulk-load it.
fn replay_to_file(input: &Path, rules: &Path, extra: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.jsonl");
    Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .arg("replay")
        .arg("--input")
        .arg(input)
        .arg("--rules")
        .arg(rules)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .env("K8SCOP_LOG", "warn")
        .succeeds();
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every problem of `docs`, each named by its rule.
fn check_all(ecs: &Ecs, docs: &[Value]) -> Vec<String> {
    let template = template_types();
    let mut problems = BTreeSet::new();
    for doc in docs {
        let rule = doc["rule"]["id"].as_str().unwrap_or("?");
        for p in ecs
            .problems(doc)
            .into_iter()
            .chain(unmapped(doc, &template, ecs))
        {
            problems.insert(format!("{rule}: {p}"));
        }
        assert!(doc.get("_id").is_none(), "{rule}: `_id` in the body");
    }
    problems.into_iter().collect()
}

#[test]
fn the_alerts_of_every_shipped_rules_cases_are_ecs() {
    let ecs = Ecs::load();
    assert_eq!(
        ecs.version,
        k8scop::alert::ECS_VERSION,
        "ecs.version is the checked one"
    );
    for pack in shipped_packs() {
        // Each case run as `rules test` runs it (its configuration, its
        // batches), its alerts made into documents as in a run.
        let cases = workspace_file(&format!("rules-wasm/{pack}/cases.json"));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alerts.jsonl");
        let run = Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .args(["rules", "test"])
            .args(rules_test_args(&pack))
            .arg(&cases)
            .arg("--alerts-out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stdout)
        );
        let docs: Vec<Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // Every rule a case expects made a document.
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
        let expected: BTreeSet<&str> = file["cases"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["expect"].as_array().into_iter().flatten())
            .map(|e| e["rule"].as_str().unwrap())
            .collect();
        let fired: BTreeSet<&str> = docs
            .iter()
            .map(|d| d["rule"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(fired, expected, "{pack}: the rules of the documents");
        let problems = check_all(&ecs, &docs);
        assert!(problems.is_empty(), "{pack}:\n{}", problems.join("\n"));
    }
}

#[test]
fn a_replay_of_the_sample_with_a_cluster_name_is_ecs() {
    let ecs = Ecs::load();
    let packs: Vec<String> = shipped_packs();
    let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
    let rules = rules_dir(&packs);
    let sample = workspace_file("samples/audit-sample.jsonl");
    let docs = replay_to_file(&sample, rules.path(), &["--cluster-name", "prod-eu"]);
    assert!(docs.len() > 10, "{} alerts", docs.len());
    let problems = check_all(&ecs, &docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    for doc in &docs {
        let rule = &doc["rule"]["id"];
        if doc["orchestrator"]["type"] == "kubernetes" {
            assert_eq!(doc["orchestrator"]["cluster"]["name"], "prod-eu", "{rule}");
            assert!(doc["event"]["id"].is_string(), "{rule}: the audit ID");
            assert!(doc["http"]["response"]["status_code"].is_i64(), "{rule}");
        }
        assert_eq!(doc["event"]["start"], doc["k8scop"]["first_seen"], "{rule}");
        assert_eq!(doc["event"]["end"], doc["k8scop"]["last_seen"], "{rule}");
        assert!(doc["event"]["ingested"].is_string(), "{rule}");
        assert!(doc["event"]["risk_score"].is_number(), "{rule}");
        assert_eq!(doc["ecs"]["version"], ecs.version.as_str());
        assert_ne!(
            doc["message"], doc["rule"]["name"],
            "{rule}: a message of its own"
        );
    }
    // The exec of the sample, as a person reads it.
    let exec = docs
        .iter()
        .find(|d| d["rule"]["id"] == "k8scop-classic/pod-exec" && d["user"]["name"] == "alice")
        .expect("alice's exec");
    assert_eq!(
        exec["message"],
        "alice exec'd into payments/api-5c8d7 (container api): /bin/sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    assert_eq!(exec["event"]["category"], json!(["process"]));
    assert_eq!(exec["event"]["type"], json!(["start"]));
    assert_eq!(exec["event"]["outcome"], "success");
    assert_eq!(exec["orchestrator"]["resource"]["type"], "pods");
    assert_eq!(exec["k8scop"]["subresource"], "exec");
    assert_eq!(exec["threat"][0]["framework"], "MITRE ATT&CK");
    assert_eq!(exec["threat"][0]["tactic"]["name"], "Execution");
    assert_eq!(
        exec["threat"][0]["technique"][0]["name"],
        "Container Administration Command"
    );
}

/// The alerts file bulk-loads as is (no `_id` in a body) into an index
/// under the alert template, which maps the new fields with ECS's types.
#[test]
fn the_alerts_file_bulk_loads_as_is_under_the_template() {
    let packs = shipped_packs();
    let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
    let rules = rules_dir(&packs);
    let sample = workspace_file("samples/audit-sample.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .arg("replay")
        .arg("--input")
        .arg(&sample)
        .arg("--rules")
        .arg(rules.path())
        .arg("-o")
        .arg(&file)
        .args(["--cluster-name", "prod-eu"])
        .env("K8SCOP_LOG", "warn")
        .succeeds();

    let cluster = k8scop_testkit::TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let (status, answer) = cluster.request(
        "PUT",
        &format!("/_index_template/{prefix}-template"),
        Some(&k8scop::es::template::alert_template(&prefix)),
    );
    assert_eq!(status, 200, "{answer}");
    let index = format!("{prefix}-2024.03.01");
    let mut bulk = String::new();
    let lines = std::fs::read_to_string(&file).unwrap();
    for line in lines.lines() {
        bulk.push_str(&json!({"index": {"_index": index}}).to_string());
        bulk.push('\n');
        bulk.push_str(line);
        bulk.push('\n');
    }
    let (status, answer) = cluster.request_ndjson("/_bulk", &bulk);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], false, "{answer}");
    cluster.refresh(&index);
    assert_eq!(cluster.count(&index), lines.lines().count() as u64);

    let (status, mapping) = cluster.request("GET", &format!("/{index}/_mapping"), None);
    assert_eq!(status, 200);
    let props = &mapping[&index]["mappings"]["properties"];
    let ty = |path: &str| {
        let mut v = props;
        for (i, part) in path.split('.').enumerate() {
            v = if i == 0 {
                &v[part]
            } else {
                &v["properties"][part]
            };
        }
        v["type"].as_str().unwrap_or("?").to_string()
    };
    for (path, expected) in [
        ("event.risk_score", "float"),
        ("event.severity", "long"),
        ("event.ingested", "date"),
        ("http.response.status_code", "long"),
        ("related.ip", "ip"),
        ("threat.tactic.name", "keyword"),
        ("threat.technique.subtechnique.id", "keyword"),
        ("orchestrator.cluster.name", "keyword"),
        ("user.group.name", "keyword"),
    ] {
        assert_eq!(ty(path), expected, "{path}");
    }
}

/// Without `--cluster-name`, the cluster a managed-cloud envelope names
/// (the sample's GKE entry, AKS record, EKS CloudWatch envelope).
#[test]
fn without_a_cluster_name_the_envelopes_cluster_is_used() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = workspace_file("samples/audit-sample.jsonl");
    let docs = replay_to_file(&sample, rules.path(), &[]);
    let clusters: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| d["orchestrator"]["cluster"]["name"].as_str())
        .collect();
    assert_eq!(
        clusters,
        BTreeSet::from(["AKS-PROD", "prod-eks", "prod-gke"])
    );
    // The others name none.
    assert!(
        docs.iter()
            .any(|d| d["orchestrator"]["type"] == "kubernetes"
                && d["orchestrator"].get("cluster").is_none())
    );
}

#[test]
fn every_attack_tag_of_the_shipped_rules_is_named() {
    let mut engine = k8scop::engine::RuleEngine::new(Default::default()).unwrap();
    let packs = shipped_packs();
    let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
    let rules = rules_dir(&packs);
    engine.load_dir(rules.path()).unwrap();
    let mut unknown = BTreeSet::new();
    let mut seen = 0;
    for pack in engine.packs() {
        for rule in &pack.info.rules {
            for tag in &rule.tags {
                match k8scop::attack::parse_tag(tag) {
                    Some(Ok(_)) => seen += 1,
                    Some(Err(tag)) => {
                        unknown.insert(format!("{}: {tag}", rule.id));
                    }
                    None => {}
                }
            }
            // Every rule with ATT&CK tags gets a threat.
            if rule.tags.iter().any(|t| t.starts_with("attack.")) {
                let threat = k8scop::attack::threat(&rule.tags);
                assert!(!threat.as_array().unwrap().is_empty(), "{}", rule.id);
            }
        }
    }
    assert!(seen > 100, "{seen} ATT&CK tags");
    assert!(
        unknown.is_empty(),
        "ATT&CK tags missing from host/src/attack.rs:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The check finds what it must: a wrong type, an unknown field, a bad
/// value, an unmapped field.
#[test]
fn the_ecs_check_fails_on_wrong_documents() {
    let ecs = Ecs::load();
    let template = template_types();
    let good = json!({
        "@timestamp": "2024-03-01T10:00:00.000Z",
        "message": "alice exec'd into shop/api-1",
        "tags": ["attack.t1609"],
        "event": {"kind": "alert", "category": ["process"], "type": ["start"],
            "severity": 73, "risk_score": 73.0, "outcome": "success"},
        "http": {"response": {"status_code": 101}},
        "related": {"ip": ["10.0.0.1", "::1"], "user": ["alice"]},
        "threat": [{"framework": "MITRE ATT&CK", "tactic": {"id": "TA0002", "name": "Execution"}}],
        "k8scop": {"count": 2, "fields": {"anything": "goes"}}
    });
    assert_eq!(ecs.problems(&good), Vec::<String>::new());
    assert_eq!(unmapped(&good, &template, &ecs), Vec::<String>::new());

    let wrong = |path: &[&str], value: Value| {
        let mut doc = good.clone();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut doc;
        for p in parents {
            node = node.as_object_mut().unwrap().entry(*p).or_insert(json!({}));
        }
        node[*last] = value;
        ecs.problems(&doc)
    };
    let fails = |problems: Vec<String>, what: &str| {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "{what}: {problems:?}"
        );
    };
    fails(
        wrong(&["http", "response", "status_code"], json!("101")),
        "not an integer",
    );
    fails(
        wrong(&["event", "risk_score"], json!("high")),
        "not a number",
    );
    fails(wrong(&["@timestamp"], json!("yesterday")), "not RFC 3339");
    fails(
        wrong(&["related", "ip"], json!(["10.0.0.1", "not-an-ip"])),
        "not-an-ip",
    );
    fails(
        wrong(&["related", "user"], json!(["alice", 7])),
        "not a string",
    );
    fails(wrong(&["event", "outcome"], json!("maybe")), "not one of");
    fails(
        wrong(&["event", "type"], json!(["deletion"])),
        "expects with event.category",
    );
    fails(
        wrong(&["orchestrator", "subresource"], json!("exec")),
        "not an ECS field",
    );
    fails(
        wrong(&["labels"], json!("x")),
        "a leaf where ECS has an object",
    );
    fails(wrong(&["user"], json!("alice")), "user: not an ECS field");

    let mut unmapped_doc = good.clone();
    unmapped_doc["k8scop"]["novel"] = json!("x");
    unmapped_doc["dns"] = json!({"question": {"name": "example.com"}});
    let problems = unmapped(&unmapped_doc, &template, &ecs);
    assert!(
        problems.iter().any(|p| p.starts_with("k8scop.novel")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("dns.question.name")),
        "{problems:?}"
    );
    assert_eq!(
        leaves(&good)
            .iter()
            .filter(|(p, _)| p.starts_with("threat."))
            .count(),
        3
    );
}
