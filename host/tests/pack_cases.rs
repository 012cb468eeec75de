//! Every shipped pack's test cases, run through `k8scop rules test
//! --require-coverage` exactly as a rule author runs them; and the runner
//! itself can fail.

use std::path::Path;
use std::process::{Command, Output};

use k8scop_testkit::{rules_test_args, shipped_packs, workspace_file};

fn rules_test(pack: &str, cases: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["rules", "test"])
        .args(rules_test_args(pack))
        .arg(cases)
        .args(extra)
        .output()
        .expect("run k8scop rules test")
}

#[test]
fn every_shipped_pack_passes_its_cases_and_covers_every_rule() {
    let packs = shipped_packs();
    assert!(packs.contains(&"k8scop-classic".to_string()), "{packs:?}");
    let mut failures = Vec::new();
    for pack in &packs {
        let cases = workspace_file(&format!("rules-wasm/{pack}/cases.json"));
        assert!(
            cases.is_file(),
            "{pack} ships without rules-wasm/{pack}/cases.json"
        );
        let out = rules_test(pack, &cases, &["--require-coverage"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
        let n = file["cases"].as_array().unwrap().len();
        let all_passed = format!("{n} cases, {n} passed, 0 failed");
        if !out.status.success()
            || !stdout.contains(&all_passed)
            || stdout.contains("UNCOVERED")
            || stdout.lines().filter(|l| l.starts_with("PASS")).count() != n
        {
            failures.push(format!(
                "== {pack}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.json");
    let exec = serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete",
        "verb":"create","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=id&container=app",
        "user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"d","name":"p"},
        "responseStatus":{"code":101},"stageTimestamp":"2024-03-01T10:00:00Z"});
    let file = serde_json::json!({"cases":[
        {"name":"right","rule":"k8scop-classic/pod-exec","events":[exec],
         "expect":[{"rule":"k8scop-classic/pod-exec","event":0,"fields":{"container":"app","command":"id"}}]},
        {"name":"wrong field","rule":"k8scop-classic/pod-exec","events":[exec],
         "expect":[{"rule":"k8scop-classic/pod-exec","fields":{"container":"sidecar"}}]},
        {"name":"must not fire but does","rule":"k8scop-classic/pod-exec","events":[exec],"expect":[]}
    ]});
    std::fs::write(&cases, file.to_string()).unwrap();
    let out = rules_test("k8scop-classic", &cases, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("PASS  right"), "{stdout}");
    assert!(stdout.contains("FAIL  wrong field"), "{stdout}");
    assert!(
        stdout.contains(
            "- expected rule=k8scop-classic/pod-exec fields={\"container\": \"sidecar\"}"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL  must not fire but does"), "{stdout}");
    assert!(
        stdout.contains("+ unexpected rule=k8scop-classic/pod-exec event=0"),
        "{stdout}"
    );
    assert!(stdout.contains("3 cases, 1 passed, 2 failed"), "{stdout}");
    // Coverage: 11 of the 12 rules have no case here.
    let out = rules_test("k8scop-classic", &cases, &["--require-coverage"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .matches("UNCOVERED")
            .count()
            >= 11
    );
}
