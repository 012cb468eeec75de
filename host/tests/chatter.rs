//! The control-plane chatter log (`samples/control-plane-chatter.jsonl`)
//! through every shipped pack, and the chatter filter (`--chatter-filter`)
//! end to end: what it drops is counted, and it never changes the alerts of
//! an attack.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use common::*;
use k8scop_testkit::{TestCluster, rules_dir, shipped_packs, workspace_file};
use serde_json::Value;

const CHATTER: &str = "samples/control-plane-chatter.jsonl";
const ATTACK: &str = "samples/audit-sample.jsonl";
/// The same chatter in MicroK8s' and k3s' identities and agents
/// (`samples/gen_chatter_distro.py`).
const MICROK8S: &str = "host/tests/fixtures/chatter-microk8s.jsonl";
const K3S: &str = "host/tests/fixtures/chatter-k3s.jsonl";

/// Every pack under `rules-wasm/`, built into one rules folder.
fn all_packs() -> tempfile::TempDir {
    let packs = shipped_packs();
    assert!(!packs.is_empty(), "no pack under rules-wasm/");
    let names: Vec<&str> = packs.iter().map(String::as_str).collect();
    rules_dir(&names)
}

fn replay_file(input: &str, rules: &Path, extra: &[&str]) -> Output {
    let input = workspace_file(input);
    let mut args = s(&[
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--output",
        "-",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    args.extend(s(extra));
    k8scop(&args).output().expect("run k8scop")
}

fn alerts(output: &Output) -> Vec<Value> {
    k8scop_testkit::alerts_on_stdout(output)
}

/// Stages of requests counted at another stage: folded, not evaluated (0
/// when the summary has no `stages` line).
fn folded_stages(stderr: &str) -> u64 {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with("stages "))
        .map_or(0, |_| number_after(stderr, "stages"))
}

/// A number after `label` on a summary line, e.g. `lines read   27`.
fn number_after(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in the summary:\n{stderr}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{label}`: {line}"))
}

/// The summary's chatter line, as (dropped, decoded, percent, evaluated):
/// `chatter      N dropped of D decoded (R% reduction), E evaluated`.
fn chatter_line(stderr: &str) -> (u64, u64, f64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("chatter "))
        .unwrap_or_else(|| panic!("no chatter line in the summary:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| -> u64 { words[i].parse().unwrap_or_else(|_| panic!("{line}")) };
    assert_eq!(
        (words[2], words[3], words[5], words[7], words[9]),
        ("dropped", "of", "decoded", "reduction),", "evaluated"),
        "{line}"
    );
    let percent: f64 = words[6]
        .trim_start_matches('(')
        .trim_end_matches('%')
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    (n(1), n(4), percent, n(8))
}

/// The alerts of a run, in a form that does not depend on the run.
fn alert_set(alerts: &[Value]) -> BTreeSet<String> {
    alerts
        .iter()
        .map(|a| {
            let mut a = a.clone();
            // The only field a rerun may change: when the alert was written.
            if let Some(event) = a.get_mut("event").and_then(Value::as_object_mut) {
                event.remove("created");
                event.remove("ingested");
            }
            a.to_string()
        })
        .collect()
}

#[test]
fn no_shipped_pack_fires_on_control_plane_chatter() {
    let rules = all_packs();
    let out = replay_file(CHATTER, rules.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = number_after(&stderr, "lines read");
    assert_eq!(number_after(&stderr, "decoded"), lines, "{stderr}");
    assert!(lines > 2000, "the chatter log is a few thousand lines");
    let fired: Vec<String> = alerts(&out)
        .iter()
        .map(|a| {
            format!(
                "{} by {} ({})",
                a["rule"]["id"], a["user"]["name"], a["k8scop"]["count"]
            )
        })
        .collect();
    assert!(
        fired.is_empty(),
        "rules fired on pure control-plane chatter (false positives):\n{}",
        fired.join("\n")
    );
}

#[test]
fn drop_mode_counts_what_it_drops_and_the_counts_add_up() {
    let rules = rules_dir(&["k8scop-classic"]);
    let out = replay_file(CHATTER, rules.path(), &["--chatter-filter", "drop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = number_after(&stderr, "lines read");
    let failed = number_after(&stderr, "failed");
    let decoded = number_after(&stderr, "decoded");
    let (dropped, of, percent, evaluated) = chatter_line(&stderr);
    assert_eq!(lines, decoded + failed, "{stderr}");
    assert_eq!(of, decoded, "{stderr}");
    // Stages of requests counted at another stage are folded, not evaluated.
    let folded = folded_stages(&stderr);
    assert_eq!(decoded, dropped + folded + evaluated, "{stderr}");
    let ratio = 100.0 * dropped as f64 / decoded as f64;
    assert!((ratio - percent).abs() < 0.06, "{ratio} vs {stderr}");
    // The log is nothing but chatter; what stays is what the rules keep on
    // purpose (secrets, denied requests) or do not know.
    assert!(percent > 80.0, "only {percent}% dropped:\n{stderr}");
    // Each rule's count is listed, and they sum to the total.
    let listed: u64 = stderr
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("chatter "))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(listed, dropped, "{stderr}");
    assert!(stderr.contains("kubelet-node-lease"), "{stderr}");
}

#[test]
fn the_filter_does_not_change_the_alerts_of_an_attack() {
    let rules = all_packs();
    let off = replay_file(ATTACK, rules.path(), &[]);
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let want = alert_set(&alerts(&off));
    assert!(!want.is_empty(), "the attack sample raises alerts");
    for mode in ["drop", "label"] {
        let out = replay_file(ATTACK, rules.path(), &["--chatter-filter", mode]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(alert_set(&alerts(&out)), want, "--chatter-filter {mode}");
        assert!(stderr.contains("  chatter "), "{stderr}");
    }
    // And some of the sample is chatter, dropped.
    let out = replay_file(ATTACK, rules.path(), &["--chatter-filter", "drop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (dropped, decoded, _, evaluated) = chatter_line(&stderr);
    // The sample's open attach session was also logged at RequestReceived,
    // folded into its decided stage.
    let folded = number_after(&stderr, "stages");
    assert!(dropped > 0 && evaluated > 0, "{stderr}");
    assert_eq!(dropped + folded + evaluated, decoded, "{stderr}");
}

#[test]
fn off_is_the_default_and_prints_nothing() {
    let rules = rules_dir(&["k8scop-classic"]);
    let out = replay_file(ATTACK, rules.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("chatter"), "{stderr}");
}

#[test]
fn the_mode_comes_from_the_environment_or_the_config_file() {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let input = workspace_file(CHATTER);
    let base = s(&[
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--output",
        "-",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);

    let out = k8scop(&base)
        .env("K8SCOP_CHATTER_FILTER", "drop")
        .output()
        .unwrap();
    let from_env = chatter_line(&String::from_utf8_lossy(&out.stderr));

    let config = dir.path().join("k8scop.toml");
    std::fs::write(&config, "chatter-filter = \"drop\"\n").unwrap();
    let mut args = base.clone();
    args.extend(s(&["--config", config.to_str().unwrap()]));
    let out = k8scop(&args).output().unwrap();
    let from_file = chatter_line(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(from_env, from_file);

    // The flag wins over the file.
    args.extend(s(&["--chatter-filter", "off"]));
    let out = k8scop(&args).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("chatter "));
}

#[test]
fn operator_rules_add_to_the_built_ins_and_bad_ones_are_refused() {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("chatter.toml");
    let with_extra = |text: &str| {
        std::fs::write(&extra, text).unwrap();
        replay_file(
            ATTACK,
            rules.path(),
            &[
                "--chatter-filter",
                "drop",
                "--chatter-rules",
                extra.to_str().unwrap(),
            ],
        )
    };
    let builtin = replay_file(ATTACK, rules.path(), &["--chatter-filter", "drop"]);
    let (dropped, ..) = chatter_line(&String::from_utf8_lossy(&builtin.stderr));

    // The sample's scheduler lists pods without a resource version: not an
    // informer relist to the built-ins, chatter to this operator.
    let out = with_extra(
        "[[rule]]\nname = \"scheduler-pod-list\"\nusers = [\"system:kube-scheduler\"]\n\
         user-agents = [\"kube-scheduler/*\"]\nverbs = [\"list\"]\nresources = [\"pods\"]\nnames = [\"\"]\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (with_rule, ..) = chatter_line(&stderr);
    assert_eq!(with_rule, dropped + 1, "{stderr}");
    assert!(stderr.contains("scheduler-pod-list"), "{stderr}");
    assert_eq!(alert_set(&alerts(&out)), alert_set(&alerts(&builtin)));

    // Secrets are never chatter, even when an operator says so; the error
    // names the rule.
    let out = with_extra(
        "[[rule]]\nname = \"kcm-secret-lists\"\nusers = [\"system:kube-controller-manager\"]\nverbs = [\"list\"]\nresources = [\"secrets\"]\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("kcm-secret-lists") && stderr.contains("never dropped"),
        "{stderr}"
    );
    // A typo is refused rather than ignored.
    let out = with_extra(
        "[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverb = [\"get\"]\nresources = [\"pods\"]\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("chatter.toml"), "{stderr}");
}

#[test]
fn replay_from_elasticsearch_drops_the_same_chatter_as_the_file() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts_prefix = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let text = std::fs::read_to_string(workspace_file(CHATTER)).unwrap();
    let docs: Vec<LogDoc> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut source: Value = serde_json::from_str(line).unwrap();
            source["@timestamp"] = source["stageTimestamp"].clone();
            LogDoc {
                index: format!("{logs}-2024.03.01"),
                id: format!("chatter-{i:05}"),
                source,
            }
        })
        .collect();
    index_docs(&cluster, &docs);
    let out = k8scop(
        &[
            s(&[
                "replay",
                "--from",
                "2024-03-01T10:00:00Z",
                "--to",
                "2024-03-01T12:00:00Z",
            ]),
            es_args(
                &cluster,
                &logs,
                &alerts_prefix,
                rules.path().to_str().unwrap(),
            ),
            s(&["--chatter-filter", "drop"]),
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(number_after(&stderr, "fetched"), docs.len() as u64);
    let from_es = chatter_line(&stderr);
    let from_file = chatter_line(&String::from_utf8_lossy(
        &replay_file(CHATTER, rules.path(), &["--chatter-filter", "drop"]).stderr,
    ));
    assert_eq!(from_es, from_file);
}

/// The share of a log `--chatter-filter drop` drops, through one pack.
fn drop_ratio(input: &str) -> f64 {
    let rules = rules_dir(&["k8scop-classic"]);
    let out = replay_file(input, rules.path(), &["--chatter-filter", "drop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (dropped, decoded, percent, evaluated) = chatter_line(&stderr);
    // Stages of requests counted at another stage are folded, not evaluated.
    let folded = folded_stages(&stderr);
    assert_eq!(decoded, dropped + folded + evaluated, "{stderr}");
    assert!(decoded > 2000, "{input}: {stderr}");
    percent
}

/// MicroK8s runs its control plane as one `kubelite` binary, k3s as `k3s`:
/// their chatter is recognised by those agents and reduced as much as
/// upstream's (99.7% of samples/control-plane-chatter.jsonl).
#[test]
fn microk8s_and_k3s_chatter_is_reduced_like_upstream() {
    let upstream = drop_ratio(CHATTER);
    assert!(upstream > 99.0, "{upstream}");
    for input in [MICROK8S, K3S] {
        let ratio = drop_ratio(input);
        eprintln!("{input}: {ratio}% dropped (upstream {upstream}%)");
        // k3s' Traefik watches secrets: never chatter, so a little stays.
        assert!(ratio > 97.0, "{input}: only {ratio}% dropped");
    }
}

/// A MicroK8s or k3s control plane at work raises nothing: no "unexpected
/// client" flood, and none of the other rules.
#[test]
fn no_shipped_pack_fires_on_microk8s_or_k3s_chatter() {
    let rules = all_packs();
    for input in [MICROK8S, K3S] {
        let out = replay_file(input, rules.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let fired: Vec<String> = alerts(&out)
            .iter()
            .map(|a| format!("{} by {}", a["rule"]["id"], a["user"]["name"]))
            .collect();
        assert!(fired.is_empty(), "{input}:\n{}", fired.join("\n"));
    }
}

/// In the same MicroK8s log, the replicaset-controller's token used from
/// kubectl is neither chatter nor the control plane: the filter keeps it
/// and the new rule reports it, once per identity and agent.
#[test]
fn a_stolen_controller_token_in_a_microk8s_log_is_seen() {
    let text = std::fs::read_to_string(workspace_file(MICROK8S)).unwrap();
    let kubectl = "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f";
    let user = "system:serviceaccount:kube-system:replicaset-controller";
    let stolen: Vec<String> = (0..3)
        .map(|i| {
            serde_json::json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("5f1c0de0-0000-4000-8000-00000000000{i}"),
                "stage": "ResponseComplete", "verb": "list",
                "requestURI": "/api/v1/namespaces/kube-system/pods?limit=500",
                "user": {"username": user, "groups": ["system:serviceaccounts",
                    "system:serviceaccounts:kube-system", "system:authenticated"]},
                "sourceIPs": ["198.51.100.66"], "userAgent": kubectl,
                "objectRef": {"resource": "pods", "namespace": "kube-system", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": format!("2024-03-01T11:02:0{i}.000000Z"),
                "stageTimestamp": format!("2024-03-01T11:02:0{i}.010000Z"),
                "annotations": {"authorization.k8s.io/decision": "allow"}
            })
            .to_string()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("microk8s-stolen.jsonl");
    std::fs::write(&input, format!("{text}{}\n", stolen.join("\n"))).unwrap();
    let input = input.to_str().unwrap();

    let rules = all_packs();
    let baseline = replay_file(MICROK8S, rules.path(), &["--chatter-filter", "drop"]);
    let (dropped_before, ..) = chatter_line(&String::from_utf8_lossy(&baseline.stderr));
    for mode in ["off", "drop"] {
        let out = replay_file(input, rules.path(), &["--chatter-filter", mode]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        if mode == "drop" {
            // Not one of the stolen requests is dropped as chatter.
            let (dropped, ..) = chatter_line(&stderr);
            assert_eq!(dropped, dropped_before, "{stderr}");
        }
        let all = alerts(&out);
        let unexpected: Vec<&Value> = all
            .iter()
            .filter(|a| a["rule"]["id"] == "k8scop-correlation/control-plane-unexpected-client")
            .collect();
        assert_eq!(unexpected.len(), 1, "one aggregated alert: {unexpected:?}");
        assert_eq!(unexpected[0]["user"]["name"], user);
        assert_eq!(unexpected[0]["k8scop"]["count"], 3, "{}", unexpected[0]);
    }
}
