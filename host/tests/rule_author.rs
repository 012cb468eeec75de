//! A rule author's path: copy the classic pack into a crate of their own,
//! change a few lines, build it with one cargo command, and load it beside
//! the shipped pack.

use k8scop::decode::Decoder;
use k8scop::engine::{EngineConfig, RuleEngine, Severity};
use k8scop_testkit::{build_pack, build_wasm, workspace_root};

#[test]
fn a_copied_and_edited_pack_builds_and_runs_beside_the_original() {
    let root = workspace_root();
    let crate_dir = root.join("target").join("rule-author-test").join("my-pack");
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();

    // The author's edits: a new pack name and rule ids, and the exec rule
    // made critical.
    let classic =
        std::fs::read_to_string(root.join("rules-wasm/k8scop-classic/src/lib.rs")).unwrap();
    let edited = classic.replace("k8scop-classic", "my-pack").replace(
        "severity: Severity::High,\n    tags: &[\"attack.execution\", \"attack.t1609\"]",
        "severity: Severity::Critical,\n    tags: &[\"attack.execution\", \"attack.t1609\"]",
    );
    assert_ne!(
        edited,
        classic.replace("k8scop-classic", "my-pack"),
        "the severity edit applied"
    );
    std::fs::write(crate_dir.join("src/lib.rs"), edited).unwrap();
    // A crate outside our workspace, depending on rule-sdk by path.
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-pack\"\nversion = \"1.0.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nrule-sdk = {{ path = {:?} }}\nserde_json = \"1\"\n\n[workspace]\n",
            root.join("rule-sdk")
        ),
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    // The author's one command, from their crate's folder.
    let wasm = build_wasm(&crate_dir, &[]);

    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.load_file(&build_pack("k8scop-classic")).unwrap();
    let mine = engine
        .load_file(&wasm)
        .expect("the author's pack loads beside the classic one");
    assert_eq!(
        (mine.name(), mine.info.version.as_str()),
        ("my-pack", "1.0.0")
    );

    let exec = serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete",
        "verb":"create","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=id&container=app",
        "user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"d","name":"p"},
        "responseStatus":{"code":101},"stageTimestamp":"2024-03-01T10:00:00Z"});
    let doc = Decoder::default().decode_line(exec.to_string(), 1).unwrap();
    let outcome = engine.evaluate(&[doc]);
    let mut got: Vec<(String, Severity)> = outcome
        .alerts
        .iter()
        .map(|a| (a.alert.rule_id.clone(), a.alert.severity))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("k8scop-classic/pod-exec".to_string(), Severity::High),
            ("my-pack/pod-exec".to_string(), Severity::Critical)
        ]
    );
}
