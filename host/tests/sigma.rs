//! Sigma rules as YAML in the rules folder, run by the k8scop-sigma pack:
//! the shipped test set dropped into a running `k8scop run` fires on each
//! case written to match and stays silent on each near miss; files load,
//! change and unload live; a file that is not Sigma is refused with its
//! line while the rules already running keep running; rules written the
//! way the public SigmaHQ rules are load unchanged, with a warning for
//! each field no audit event carries.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use common::*;
use k8scop::engine::{EngineConfig, RuleEngine};
use k8scop_testkit::{TestCluster, build_pack, http_get, sigma_rules_of, workspace_file};
use serde_json::Value;

const PACK: &str = "k8scop-sigma";

/// The shipped test set's files.
fn test_set() -> Vec<PathBuf> {
    let dir = sigma_rules_of(PACK).expect("k8scop-sigma ships its test set");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

/// A rules folder holding the Sigma pack and `files`.
fn sigma_folder(files: &[&Path]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(build_pack(PACK), dir.path().join("k8scop-sigma.wasm")).unwrap();
    for file in files {
        std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    dir
}

/// Write `text` as `name` the way an operator deploys: a temporary name,
/// then a rename, so the watcher never reads half a file.
fn deploy(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn sigma_rules(engine: &RuleEngine) -> Vec<String> {
    engine
        .packs()
        .filter(|p| p.name() == PACK)
        .flat_map(|p| p.info.rules.iter().map(|r| r.title.clone()))
        .collect()
}

const RULE: &str = "title: TITLE
id: 7d3c8a52-0000-4000-8000-000000000001
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb: delete
        objectRef.resource: configmaps
    condition: selection
level: LEVEL
";

fn rule(title: &str, level: &str) -> String {
    RULE.replace("TITLE", title).replace("LEVEL", level)
}

#[test]
fn sigma_files_load_change_and_unload_with_the_folder() {
    let dir = sigma_folder(&[]);
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, [PACK]);
    assert!(sigma_rules(&engine).is_empty(), "no Sigma file, no rule");
    assert!(!engine.has_rules(), "an idle Sigma pack is not a rule");

    std::fs::write(dir.path().join("cm.yml"), rule("ConfigMap deleted", "low")).unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.replaced, [PACK], "{report:?}");
    assert_eq!(sigma_rules(&engine), ["ConfigMap deleted"]);
    let meta = engine.packs().find(|p| p.name() == PACK).unwrap().clone();
    let declared = &meta.info.rules[0];
    assert_eq!(
        declared.id,
        "k8scop-sigma/7d3c8a52-0000-4000-8000-000000000001"
    );
    assert_eq!(declared.severity, k8scop::contract::Severity::Low);
    // The interest is the rule's own selection: the host sends the pack
    // configmap deletions only.
    assert_eq!(declared.interest.verbs, ["delete"]);
    assert_eq!(declared.interest.resources, ["configmaps/*"]);

    // Unchanged files reload nothing.
    assert!(engine.sync_dir(dir.path()).unwrap().is_empty());

    // An edit replaces the rule; a second file adds its rules.
    std::fs::write(dir.path().join("cm.yml"), rule("ConfigMap removed", "high")).unwrap();
    std::fs::write(
        dir.path().join("more.yaml"),
        std::fs::read_to_string(&test_set()[0]).unwrap(),
    )
    .unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.replaced, [PACK]);
    let mut titles = sigma_rules(&engine);
    titles.sort();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"ConfigMap removed".to_string()));

    // Removing a file unloads its rules.
    std::fs::remove_file(dir.path().join("cm.yml")).unwrap();
    engine.sync_dir(dir.path()).unwrap();
    assert_eq!(sigma_rules(&engine).len(), 1);
    assert!(!sigma_rules(&engine).contains(&"ConfigMap removed".to_string()));
}

#[test]
fn a_file_that_is_not_sigma_is_refused_with_its_line_and_the_running_rules_keep_running() {
    let dir = sigma_folder(&[]);
    std::fs::write(dir.path().join("cm.yml"), rule("ConfigMap deleted", "low")).unwrap();
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.sync_dir(dir.path()).unwrap();
    assert_eq!(sigma_rules(&engine), ["ConfigMap deleted"]);

    // A broken edit of a running file: refused, the old version runs on.
    let broken = rule("ConfigMap deleted", "low").replace(
        "    condition: selection",
        "    condition: selection and not",
    );
    std::fs::write(dir.path().join("cm.yml"), &broken).unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    let (path, error) = &report.refused[0];
    assert_eq!(path, &dir.path().join("cm.yml"));
    let error = error.to_string();
    assert!(
        error.contains("not a valid Sigma file: line 10:"),
        "{error}"
    );
    assert!(error.contains("Condition parse error"), "{error}");
    assert_eq!(sigma_rules(&engine), ["ConfigMap deleted"], "still running");
    let status = engine.status_json();
    assert!(
        status["refused"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == dir.path().join("cm.yml").to_str().unwrap()
                && r["reason"].as_str().unwrap().contains("line 10")),
        "{status}"
    );

    // New files that are not Sigma: refused each with its line, none of
    // them stopping the others.
    let bad = [
        ("yaml.yml", "title: x\nlogsource: [kubernetes\n", "line 3"),
        (
            "modifier.yml",
            &rule("M", "low").replace("verb:", "verb|containz:"),
            "line 8: Unknown modifier 'containz'",
        ),
        (
            "empty.yaml",
            "# nothing here\n",
            "line 1: Document is not a YAML mapping",
        ),
        (
            "orphan.yml",
            "title: Orphan correlation\ncorrelation:\n    type: event_count\n    rules:\n        - no-such-rule\n    group-by:\n        - user.username\n    timespan: 5m\n    condition:\n        gte: 2\n",
            "line 5: correlation \"Orphan correlation\" names rule \"no-such-rule\"",
        ),
    ];
    for (name, text, _) in &bad {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("cm.yml"), rule("ConfigMap deleted", "low")).unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    let refused: BTreeMap<String, String> = report
        .refused
        .iter()
        .map(|(p, e)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                e.to_string(),
            )
        })
        .collect();
    for (name, _, says) in &bad {
        let error = refused
            .get(*name)
            .unwrap_or_else(|| panic!("{name} not refused: {refused:?}"));
        assert!(error.contains(says), "{name}: {error}");
    }
    assert!(!refused.contains_key("cm.yml"), "the fixed file is back");
    assert_eq!(sigma_rules(&engine), ["ConfigMap deleted"]);
}

#[test]
fn the_operator_cannot_set_the_files_by_hand() {
    let dir = sigma_folder(&[]);
    let mut engine = RuleEngine::new(EngineConfig {
        pack_config: BTreeMap::from([(
            PACK.to_string(),
            BTreeMap::from([("sigma-rules".to_string(), "[]".to_string())]),
        )]),
        ..EngineConfig::default()
    })
    .unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    let error = report.refused[0].1.to_string();
    assert!(
        error.contains("is set by k8scop from the Sigma files"),
        "{error}"
    );
}

/// Rules written the way SigmaHQ's public Kubernetes audit rules are
/// (their quirks, not their text): `apiGroup` and `hostPath` at the top,
/// a `capabilities` field, a response code compared with a word, `1 of`
/// selections with `|contains` lists. They load; the fields no audit event
/// carries are named in a warning. With K8SCOP_TEST_SIGMA_RULES set to a
/// folder (SigmaHQ's `rules/application/kubernetes/audit`), its files load
/// unchanged too.
#[test]
fn rules_shaped_like_the_public_ones_load_and_say_what_cannot_match() {
    let fixtures = workspace_file("host/tests/fixtures/sigma-public-shapes");
    let mut folders = vec![fixtures];
    if let Some(dir) = std::env::var_os("K8SCOP_TEST_SIGMA_RULES") {
        folders.push(PathBuf::from(dir));
    }
    for folder in folders {
        let files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .collect();
        let dir = sigma_folder(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
        let report = engine.sync_dir(dir.path()).unwrap();
        assert!(
            report.refused.is_empty(),
            "{}: {report:?}",
            folder.display()
        );
        assert_eq!(
            sigma_rules(&engine).len(),
            files.len(),
            "one rule per file in {}",
            folder.display()
        );
        let status = engine.status_json();
        let warnings: Vec<String> = status["sigma_files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["warnings"].as_array().unwrap().iter())
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("field `capabilities`") && w.contains("cannot match")),
            "{warnings:?}"
        );
        assert!(
            !warnings
                .iter()
                .any(|w| w.contains("`hostPath`") || w.contains("`apiGroup`")),
            "mapped fields are not warned about: {warnings:?}"
        );
    }
    // The shapes themselves: the word compared with the response code is
    // named too.
    let dir = sigma_folder(&[&workspace_file(
        "host/tests/fixtures/sigma-public-shapes/enumeration_by_decision_word.yml",
    )]);
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.sync_dir(dir.path()).unwrap();
    let status = engine.status_json().to_string();
    assert!(
        status.contains(
            "`responseStatus.code` is a number, so the value \\\"ALLOW\\\" never matches it"
        ),
        "{status}"
    );
}

/// The shipped cases' events, each case's users its own, dated
/// from `base`; and the (rule, user) pairs the cases expect, with counts.
fn case_documents(
    logs: &str,
    base: chrono::DateTime<Utc>,
) -> (Vec<LogDoc>, BTreeMap<(String, String), u64>) {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_file("rules-wasm/k8scop-sigma/cases.json")).unwrap(),
    )
    .unwrap();
    let mut docs = Vec::new();
    let mut expected = BTreeMap::new();
    for (n, case) in cases["cases"].as_array().unwrap().iter().enumerate() {
        // The case's users renamed apart from every other case's.
        let user_of = |event: &Value| {
            format!(
                "case-{n:02}-{}",
                event["user"]["username"].as_str().unwrap()
            )
        };
        let events = case["events"].as_array().unwrap();
        for event in events {
            let mut source = event.clone();
            source["user"]["username"] = Value::String(user_of(event));
            let at = base + chrono::Duration::milliseconds(10 * docs.len() as i64);
            source["@timestamp"] = Value::String(rfc3339(at));
            docs.push(LogDoc {
                index: format!("{logs}-{}", at.format("%Y.%m.%d")),
                id: format!("sigma-{}", docs.len()),
                source,
            });
        }
        for alert in case["expect"].as_array().unwrap() {
            let rule = alert["rule"].as_str().unwrap().to_string();
            let user = user_of(&events[alert["event"].as_u64().unwrap() as usize]);
            *expected.entry((rule, user)).or_insert(0) += 1;
        }
    }
    (docs, expected)
}

/// What the alert index holds: alerts per (rule, user).
fn alerts_by_rule_and_user(cluster: &TestCluster, alerts: &str) -> BTreeMap<(String, String), u64> {
    let mut found = BTreeMap::new();
    for doc in alerts_in(cluster, alerts).values() {
        let rule = doc["rule"]["id"].as_str().unwrap().to_string();
        let user = doc["user"]["name"].as_str().unwrap_or("").to_string();
        *found.entry((rule, user)).or_insert(0) += doc["k8scop"]["count"].as_u64().unwrap();
    }
    found
}

#[test]
fn the_test_set_dropped_into_a_running_k8scop_run_fires_on_each_match_and_nothing_else() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let files = test_set();
    assert_eq!(files.len(), 17, "16 rules and a correlation");
    // It starts with one Sigma file (a run needs a rule to start).
    let first = files
        .iter()
        .find(|f| f.ends_with("exec_into_pod.yml"))
        .unwrap();
    let rules = sigma_folder(&[first]);
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &[
            "--start",
            &rfc3339(Utc::now()),
            "--interval",
            "0.2",
            "--delay",
            "0.5",
            "--overlap",
            "5",
            "--aggregate-window",
            "600",
        ],
    );
    let LoggedRun { child, addr, .. } = LoggedRun::start(&args);

    // Drop in the rest of the set, and a file that is not Sigma.
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        deploy(rules.path(), name, &std::fs::read_to_string(file).unwrap());
    }
    deploy(
        rules.path(),
        "broken.yml",
        "title: Broken\nlogsource: [kubernetes\n",
    );
    let status =
        || serde_json::from_str::<Value>(&http_get(&addr, "/status").1).unwrap_or_default();
    let loaded = |s: &Value| {
        find_key(s, "sigma_files")
            .and_then(Value::as_array)
            .is_some_and(|f| f.len() == files.len())
    };
    assert!(
        eventually(60, || loaded(&status())),
        "all Sigma files running: {}",
        status()
    );
    let refused = find_key(&status(), "refused").cloned().unwrap_or_default();
    assert!(
        refused.to_string().contains("broken.yml")
            && refused
                .to_string()
                .contains("not a valid Sigma file: line 3"),
        "{refused}"
    );

    // Documents dated a little ahead, so every window sees them whole.
    let base = Utc::now() + chrono::Duration::seconds(2);
    let (docs, expected) = case_documents(&logs, base);
    index_docs(&cluster, &docs);
    assert!(
        eventually(90, || alerts_by_rule_and_user(&cluster, &alerts)
            == expected),
        "{}",
        difference(&expected, &alerts_by_rule_and_user(&cluster, &alerts))
    );
    // Nothing more arrives late.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(alerts_by_rule_and_user(&cluster, &alerts), expected);
}

/// What differs between the alerts expected and found, line by line.
fn difference(
    expected: &BTreeMap<(String, String), u64>,
    found: &BTreeMap<(String, String), u64>,
) -> String {
    let keys: std::collections::BTreeSet<_> = expected.keys().chain(found.keys()).collect();
    keys.into_iter()
        .filter(|k| expected.get(*k) != found.get(*k))
        .map(|k| {
            format!(
                "{k:?}: expected {:?}, found {:?}",
                expected.get(k),
                found.get(k)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first value under `key` anywhere in `value`.
fn find_key<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

#[test]
fn rules_test_takes_a_sigma_file_and_says_when_the_pack_is_missing() {
    let cases = workspace_file("rules-wasm/k8scop-sigma/cases.json");
    let file = test_set()
        .into_iter()
        .find(|f| f.ends_with("exec_into_pod.yml"))
        .unwrap();
    // One file: the cases about it pass, the others name rules it lacks.
    let out = k8scop(&[
        "rules".into(),
        "test".into(),
        file.to_str().unwrap().into(),
        cases.to_str().unwrap().into(),
        "--sigma-pack".into(),
        build_pack(PACK).to_str().unwrap().into(),
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("PASS  exec_into_pod: fires"), "{stdout}");
    assert!(
        stdout.contains("PASS  exec_into_pod: silent on a log read"),
        "{stdout}"
    );
    assert!(
        stdout.contains("which pack k8scop-sigma does not declare"),
        "{stdout}"
    );
    // No pack next to the file, none in rules/, none given.
    let lonely = tempfile::tempdir().unwrap();
    let copy = lonely.path().join("exec.yml");
    std::fs::copy(&file, &copy).unwrap();
    let out = k8scop(&[
        "rules".into(),
        "test".into(),
        copy.to_str().unwrap().into(),
        cases.to_str().unwrap().into(),
    ])
    .current_dir(lonely.path())
    .env_remove("K8SCOP_SIGMA_PACK")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no k8scop-sigma.wasm next to the Sigma rules nor in rules/"),
        "{stderr}"
    );
}
