//! The Elastic Security detection rule shipped for import
//! (deploy/elastic-security/k8scop-alerts-rule.ndjson) is one Kibana's
//! detection rule API takes: the fields it requires, with the types and
//! values Elastic documents, reading only fields the alert template maps,
//! matching the alerts k8scop writes, with the tactics of the shipped rules.

use k8scop_testkit::Succeeds;
use std::collections::BTreeSet;
use std::process::Command;

use clap::CommandFactory;
use k8scop::contract::Severity;
use k8scop_testkit::{rules_dir, shipped_packs, workspace_file};
use serde_json::{Value, json};

const RULE: &str = "deploy/elastic-security/k8scop-alerts-rule.ndjson";

fn the_rule() -> Value {
    let text = std::fs::read_to_string(workspace_file(RULE)).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one rule, one line (ndjson)");
    serde_json::from_str(lines[0]).unwrap()
}

fn default_alerts_prefix() -> String {
    let cli = k8scop::cli::Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    let arg = run
        .get_arguments()
        .find(|a| a.get_long() == Some("alerts-prefix"))
        .unwrap();
    arg.get_default_values()[0].to_string_lossy().to_string()
}

const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Elastic's severity for a risk score (its documented bands).
fn band(score: f64) -> &'static str {
    match score {
        s if s <= 21.0 => "low",
        s if s <= 47.0 => "medium",
        s if s <= 73.0 => "high",
        _ => "critical",
    }
}

/// What is wrong with `rule` as a detection rule to import.
fn problems(rule: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let mapped = k8scop::es::template::mapped_field_types("k8scop-alerts");
    let text = |k: &str| rule[k].as_str().filter(|s| !s.is_empty());
    for k in [
        "rule_id",
        "name",
        "description",
        "query",
        "rule_name_override",
        "timestamp_override",
        "from",
        "interval",
    ] {
        if text(k).is_none() {
            p.push(format!("{k}: a non-empty string is required"));
        }
    }
    if rule["type"] != "query" {
        p.push("type: must be \"query\"".into());
    }
    if !["kuery", "lucene"].contains(&rule["language"].as_str().unwrap_or("")) {
        p.push("language: kuery or lucene".into());
    }
    if !SEVERITIES.contains(&rule["severity"].as_str().unwrap_or("")) {
        p.push(format!(
            "severity: {} is not one of {SEVERITIES:?}",
            rule["severity"]
        ));
    }
    if rule["risk_score"].as_u64().is_none_or(|r| r > 100) {
        p.push(format!(
            "risk_score: {} is not an integer 0-100",
            rule["risk_score"]
        ));
    }
    let pattern = format!("{}-*", default_alerts_prefix());
    if rule["index"] != json!([pattern]) {
        p.push(format!("index: {} is not [{pattern:?}]", rule["index"]));
    }
    for k in ["from", "interval"] {
        let v = text(k).unwrap_or("");
        let n = v
            .strip_prefix(if k == "from" { "now-" } else { "" })
            .unwrap_or("x");
        let ok = n.len() > 1
            && n[..n.len() - 1].parse::<u32>().is_ok()
            && ["s", "m", "h"].contains(&&n[n.len() - 1..]);
        if !ok {
            p.push(format!("{k}: {v:?} is not a date-math interval"));
        }
    }
    // Fields the rule reads, and the type each must be mapped as.
    let mut reads: Vec<(String, &[&str])> = vec![];
    match rule["severity_mapping"].as_array() {
        None => p.push("severity_mapping: an array is required".into()),
        Some(entries) => {
            let mut covered = BTreeSet::new();
            for e in entries {
                let field = e["field"].as_str().unwrap_or("");
                reads.push((field.into(), &["keyword"]));
                if e["operator"] != "equals" {
                    p.push(format!(
                        "severity_mapping: operator {} is not equals",
                        e["operator"]
                    ));
                }
                let sev = e["severity"].as_str().unwrap_or("");
                if !SEVERITIES.contains(&sev) {
                    p.push(format!("severity_mapping: severity {sev:?}"));
                }
                // k8scop's severity, mapped to the band of its risk score.
                match e["value"].as_str().map(str::parse::<Severity>) {
                    Some(Ok(s)) => {
                        covered.insert(s.as_str());
                        if band(s.risk_score()) != sev {
                            p.push(format!(
                                "severity_mapping: {} is {}, not {sev}",
                                s.as_str(),
                                band(s.risk_score())
                            ));
                        }
                    }
                    _ => p.push(format!(
                        "severity_mapping: value {} is no k8scop severity",
                        e["value"]
                    )),
                }
            }
            if covered.len() != 5 {
                p.push(format!(
                    "severity_mapping: covers {covered:?}, not every severity"
                ));
            }
        }
    }
    match rule["risk_score_mapping"].as_array() {
        Some(entries) if !entries.is_empty() => {
            for e in entries {
                reads.push((e["field"].as_str().unwrap_or("").into(), &["float", "long"]));
                if e["operator"] != "equals" || !e["value"].is_string() {
                    p.push(format!(
                        "risk_score_mapping: {e} needs operator equals and a value"
                    ));
                }
                if let Some(r) = e.get("risk_score")
                    && r.as_u64().is_none_or(|r| r > 100)
                {
                    p.push(format!("risk_score_mapping: risk_score {r}"));
                }
            }
        }
        _ => p.push("risk_score_mapping: a non-empty array is required".into()),
    }
    reads.push((
        text("rule_name_override").unwrap_or("").into(),
        &["keyword"],
    ));
    reads.push((text("timestamp_override").unwrap_or("").into(), &["date"]));
    // The query's fields (`field:value and ...`).
    for clause in text("query").unwrap_or("").split(" and ") {
        let field = clause.split(':').next().unwrap_or("").trim();
        reads.push((field.into(), &["keyword"]));
    }
    for (field, types) in reads {
        match mapped.get(&field) {
            Some(t) if types.contains(&t.as_str()) => {}
            Some(t) => p.push(format!("{field}: mapped as {t}, the rule needs {types:?}")),
            None => p.push(format!("{field:?}: not mapped by the alert template")),
        }
    }
    match rule["threat"].as_array() {
        None => p.push("threat: an array is required".into()),
        Some(threat) => {
            for t in threat {
                let id = t["tactic"]["id"].as_str().unwrap_or("");
                let known = k8scop::attack::TACTICS
                    .iter()
                    .any(|(_, i, n)| *i == id && t["tactic"]["name"] == *n);
                if t["framework"] != "MITRE ATT&CK" || !known || !t["technique"].is_array() {
                    p.push(format!("threat: {t}"));
                }
            }
        }
    }
    p
}

#[test]
fn the_shipped_rule_is_one_kibana_imports() {
    let rule = the_rule();
    assert_eq!(problems(&rule), Vec::<String>::new());
    // Overrides as the README says.
    assert_eq!(rule["rule_name_override"], "rule.name");
    assert_eq!(rule["timestamp_override"], "event.ingested");
}

#[test]
fn the_rule_check_fails_on_broken_rules() {
    let rule = the_rule();
    let broken = |edit: &dyn Fn(&mut Value), what: &str| {
        let mut r = rule.clone();
        edit(&mut r);
        let p = problems(&r);
        assert!(p.iter().any(|x| x.contains(what)), "{what}: {p:?}");
    };
    broken(&|r| r["severity"] = json!("info"), "severity");
    broken(&|r| r["risk_score"] = json!(101), "risk_score");
    broken(
        &|r| r["severity_mapping"][0]["operator"] = json!("is"),
        "operator",
    );
    broken(
        &|r| {
            r["severity_mapping"]
                .as_array_mut()
                .unwrap()
                .pop()
                .map(drop)
                .unwrap()
        },
        "covers",
    );
    broken(
        &|r| r["severity_mapping"][4]["severity"] = json!("low"),
        "critical is critical",
    );
    broken(
        &|r| r["timestamp_override"] = json!("event.ingest"),
        "not mapped",
    );
    broken(
        &|r| r["timestamp_override"] = json!("rule.name"),
        "the rule needs [\"date\"]",
    );
    broken(
        &|r| r["risk_score_mapping"] = json!([]),
        "risk_score_mapping",
    );
    broken(&|r| r["index"] = json!(["alerts-*"]), "index");
    broken(&|r| r["from"] = json!("6 minutes ago"), "from");
    broken(
        &|r| r["threat"][0]["tactic"]["name"] = json!("Exec"),
        "threat",
    );
    broken(
        &|r| {
            r.as_object_mut()
                .unwrap()
                .remove("rule_id")
                .map(drop)
                .unwrap()
        },
        "rule_id",
    );
}

/// Its query matches the alerts k8scop writes, and its threat names the
/// tactics of the shipped rules.
#[test]
fn the_rule_matches_real_alerts_and_names_the_shipped_tactics() {
    let rule = the_rule();
    let packs = shipped_packs();
    let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
    let rules = rules_dir(&packs);
    let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["replay", "--input"])
        .arg(workspace_file("samples/audit-sample.jsonl"))
        .arg("--rules")
        .arg(rules.path())
        .env("K8SCOP_LOG", "warn")
        .succeeds();
    let docs = k8scop_testkit::alerts_on_stdout(&out);
    assert!(!docs.is_empty());
    let query = rule["query"].as_str().unwrap();
    for doc in &docs {
        for clause in query.split(" and ") {
            let (field, value) = clause.split_once(':').unwrap();
            let mut v = doc;
            for part in field.trim().split('.') {
                v = &v[part];
            }
            assert_eq!(v, value.trim(), "{clause} does not match {doc}");
        }
        for field in [
            "rule.name",
            "event.ingested",
            "event.risk_score",
            "k8scop.severity",
        ] {
            let mut v = doc;
            for part in field.split('.') {
                v = &v[part];
            }
            assert!(!v.is_null(), "an alert without {field}: {doc}");
        }
    }

    let mut engine = k8scop::engine::RuleEngine::new(Default::default()).unwrap();
    engine.load_dir(rules.path()).unwrap();
    let mut used = BTreeSet::new();
    for pack in engine.packs() {
        for r in &pack.info.rules {
            for t in k8scop::attack::threat(&r.tags).as_array().unwrap() {
                used.insert(t["tactic"]["id"].as_str().unwrap().to_string());
            }
        }
    }
    let listed: BTreeSet<String> = rule["threat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tactic"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, used, "the rule's tactics are the shipped rules'");
}
