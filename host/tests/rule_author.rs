//! A rule author's path: copy the classic pack into a crate of their own,
//! change a few lines, build it with one cargo command, and load it beside
//! the shipped pack.

use k8scop::contract::Severity;
use k8scop::decode::Decoder;
use k8scop::engine::{EngineConfig, RuleEngine};
use k8scop_testkit::{author_pack, build_pack};

#[test]
fn a_copied_and_edited_pack_builds_and_runs_beside_the_original() {
    // The author's edits: a new pack name and rule ids (done by the copy),
    // and the exec rule made critical; then one cargo command.
    let edit = |source: String| {
        let edited = source.replace(
            "severity: Severity::High,\n    tags: &[\"attack.execution\", \"attack.t1609\"]",
            "severity: Severity::Critical,\n    tags: &[\"attack.execution\", \"attack.t1609\"]",
        );
        assert_ne!(edited, source, "the severity edit applied");
        edited
    };
    let wasm = author_pack("my-pack", edit);

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
