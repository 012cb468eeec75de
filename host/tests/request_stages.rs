//! Each request counts once, at the first stage that carries the API
//! server's decision, and the shipped audit Policy logs what the shipped
//! rules need. Run as the binary a user runs.

use std::io::Write;
use std::process::{Command, Output};

use k8scop_testkit::{rules_dir, shipped_packs, workspace_file};
use serde_json::{Value, json};

fn k8scop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(args)
        .env("K8SCOP_LOG", "warn")
        .output()
        .expect("run k8scop")
}

/// One stage of an exec request, shaped as the API server logs it: the
/// WebSocket upgrade of kubectl 1.30+ is logged as `get`, the older SPDY
/// one as `create`; `RequestReceived` carries no response status.
fn exec_stage(id: usize, stage: &str, verb: &str, second: u32) -> Value {
    let ts = format!("2024-05-02T09:00:{second:02}.000000Z");
    let mut event = json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
        "auditID": format!("5e0c-exec-{id}"), "stage": stage, "verb": verb,
        "requestURI": format!("/api/v1/namespaces/shop/pods/api-{id}/exec?command=sh&command=-c&command=id%3B{id}&container=app&stdin=true&tty=true"),
        "user": {"username": "mallory", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": format!("api-{id}"), "apiVersion": "v1"},
        "requestReceivedTimestamp": "2024-05-02T09:00:00.000000Z", "stageTimestamp": ts});
    if stage != "RequestReceived" {
        event["responseStatus"] = json!({"metadata": {}, "code": 101});
        event["annotations"] =
            json!({"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""});
    }
    event
}

/// Six exec requests written as 17 stage events: five sessions logged at
/// RequestReceived, ResponseStarted and ResponseComplete, one still open
/// when the log ends (no ResponseComplete), stages interleaved as the API
/// server writes them.
fn six_execs_in_seventeen_stages() -> Vec<Value> {
    let mut events = Vec::new();
    for id in 0..6 {
        let verb = if id % 2 == 0 { "get" } else { "create" };
        events.push((
            id as u32 * 2,
            exec_stage(id, "RequestReceived", verb, id as u32 * 2),
        ));
        events.push((
            id as u32 * 2 + 1,
            exec_stage(id, "ResponseStarted", verb, id as u32 * 2 + 1),
        ));
        if id != 3 {
            events.push((
                30 + id as u32,
                exec_stage(id, "ResponseComplete", verb, 30 + id as u32),
            ));
        }
    }
    events.sort_by_key(|(second, _)| *second);
    events.into_iter().map(|(_, e)| e).collect()
}

fn write_jsonl(events: &[Value]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for event in events {
        writeln!(file, "{event}").unwrap();
    }
    file
}

fn alerts(output: &Output) -> Vec<Value> {
    k8scop_testkit::alerts_on_stdout(output)
}

#[test]
fn six_execs_logged_as_seventeen_stages_raise_six_exec_alerts_the_open_one_included() {
    let events = six_execs_in_seventeen_stages();
    assert_eq!(events.len(), 17);
    let input = write_jsonl(&events);
    let rules = rules_dir(&["k8scop-classic", "k8scop-falco"]);
    let out = k8scop(&[
        "replay",
        "--input",
        input.path().to_str().unwrap(),
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let alerts = alerts(&out);
    for rule in ["k8scop-classic/pod-exec", "k8scop-falco/pod-exec-attach"] {
        let execs: Vec<&Value> = alerts.iter().filter(|a| a["rule"]["id"] == rule).collect();
        let counted: u64 = execs
            .iter()
            .map(|a| a["k8scop"]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, 6, "{rule}: {execs:#?}");
        // The session that never completed is among them.
        let pods: Vec<&str> = execs
            .iter()
            .flat_map(|a| a["k8scop"]["sources"].as_array().unwrap())
            .filter_map(|s| s["line"].as_u64())
            .map(|line| {
                events[line as usize - 1]["objectRef"]["name"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert!(pods.contains(&"api-3"), "{rule}: {pods:?}");
    }
    // Every stage is accounted for: 6 counted, 6 before the decision, 5
    // completions of sessions already counted.
    assert!(
        stderr.contains("stages       11 folded: each request counts once, when decided (6 before the decision, 5 later stages)"),
        "{stderr}"
    );
}

#[test]
fn with_response_started_omitted_an_exec_counts_at_its_completion_once() {
    let events: Vec<Value> = six_execs_in_seventeen_stages()
        .into_iter()
        .filter(|e| e["stage"] == "ResponseComplete")
        .collect();
    let input = write_jsonl(&events);
    let rules = rules_dir(&["k8scop-classic"]);
    let out = k8scop(&[
        "replay",
        "--input",
        input.path().to_str().unwrap(),
        "--rules",
        rules.path().to_str().unwrap(),
        "--audit-omit-stages",
        "RequestReceived,ResponseStarted",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counted: u64 = alerts(&out)
        .iter()
        .filter(|a| a["rule"]["id"] == "k8scop-classic/pod-exec")
        .map(|a| a["k8scop"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 5, "the five completed sessions");
}

#[test]
fn an_unknown_stage_name_is_refused_with_the_names_that_are_known() {
    let out = k8scop(&[
        "replay",
        "--input",
        "/dev/null",
        "--audit-omit-stages",
        "Started",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown audit stage \"Started\"") && stderr.contains("ResponseStarted"),
        "{stderr}"
    );
}

fn all_packs() -> tempfile::TempDir {
    let packs = shipped_packs();
    let names: Vec<&str> = packs.iter().map(String::as_str).collect();
    rules_dir(&names)
}

#[test]
fn the_shipped_policy_logs_what_every_shipped_rule_needs() {
    let rules = all_packs();
    let policy = workspace_file("deploy/audit/policy.yaml");
    let out = k8scop(&[
        "rules",
        "list",
        "--rules",
        rules.path().to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every rule sees what it needs"), "{stdout}");
    // Each rule's level is listed.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("k8scop-falco/privileged-pod") && l.contains("Request")),
        "{stdout}"
    );
}

/// The Policy this project once shipped: events dropped whole, ConfigMaps
/// at Metadata, and a pod rule that drops ResponseStarted for exec.
const BLIND_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    resources:
      - group: ""
        resources: ["events"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps"]
  - level: RequestResponse
    omitStages: ["ResponseStarted"]
    resources:
      - group: ""
        resources: ["pods", "pods/exec", "pods/attach", "pods/portforward"]
  - level: Request
    verbs: ["create", "update", "patch", "delete"]
  - level: Metadata
"#;

#[test]
fn a_policy_that_leaves_rules_blind_names_each_of_them_and_fails() {
    let rules = all_packs();
    let mut policy = tempfile::NamedTempFile::new().unwrap();
    policy.write_all(BLIND_POLICY.as_bytes()).unwrap();
    let out = k8scop(&[
        "rules",
        "list",
        "--rules",
        rules.path().to_str().unwrap(),
        "--policy",
        policy.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for expected in [
        "k8scop-falco/configmap-private-credentials: create configmaps: needs level Request, the Policy logs Metadata",
        "k8scop-sigma-elastic/events-deleted: delete events: needs level Metadata, the Policy logs None",
        "k8scop-falco/pod-exec-attach: create pods/exec: needs stage ResponseStarted logged, the Policy omits it",
        "k8scop-classic/pod-exec: get pods/exec: needs stage ResponseStarted logged, the Policy omits it",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}
