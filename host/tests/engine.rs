//! The real engine with real compiled packs: loading, refusing, the
//! interest filter, mapping alerts back to documents, pack configuration.

use std::collections::BTreeMap;

use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{EngineConfig, PackError, RuleEngine};
use k8scop_testkit::{build_pack, rules_dir};
use serde_json::json;

fn audit(
    user: &str,
    verb: &str,
    resource: &str,
    sub: &str,
    ns: &str,
    code: u16,
    uri: &str,
) -> serde_json::Value {
    json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("id-{user}-{verb}-{resource}"),
        "stage":"ResponseComplete","requestURI":uri,"verb":verb,"user":{"username":user},
        "sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.29.0",
        "objectRef":{"resource":resource,"subresource":sub,"namespace":ns,"name":"web"},
        "responseStatus":{"code":code},"stageTimestamp":"2024-03-01T10:00:00.5Z"})
}

fn decode_all(events: &[serde_json::Value]) -> Vec<DecodedDoc> {
    let d = Decoder::default();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| d.decode_line(e.to_string(), i as u64 + 1).unwrap())
        .collect()
}

fn classic_engine(config: EngineConfig) -> RuleEngine {
    let mut engine = RuleEngine::new(config).unwrap();
    engine.load_file(&build_pack("k8scop-classic")).unwrap();
    engine
}

#[test]
fn alerts_point_back_at_their_documents() {
    let mut engine = classic_engine(EngineConfig::default());
    let docs = decode_all(&[
        audit(
            "system:kube-scheduler",
            "get",
            "leases",
            "",
            "kube-system",
            200,
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x",
        ),
        audit("alice", "list", "secrets", "", "", 200, "/api/v1/secrets"),
        audit(
            "bob",
            "create",
            "pods",
            "exec",
            "prod",
            101,
            "/api/v1/namespaces/prod/pods/web/exec?command=id&container=app",
        ),
        audit(
            "eve",
            "create",
            "pods",
            "",
            "prod",
            403,
            "/api/v1/namespaces/prod/pods",
        ),
    ]);
    let outcome = engine.evaluate(&docs);
    assert!(outcome.failures.is_empty() && outcome.rejected.is_empty());
    let got: Vec<(usize, &str)> = outcome
        .alerts
        .iter()
        .map(|a| (a.doc_index, a.alert.rule_id.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "k8scop-classic/secrets-listed-all-namespaces"),
            (2, "k8scop-classic/pod-exec")
        ]
    );
    let exec = &outcome.alerts[1].alert;
    let field = |k: &str| {
        exec.fields
            .iter()
            .find(|(fk, _)| fk == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("container"), Some("app"));
    assert_eq!(field("command"), Some("id"));
    assert_eq!(exec.event_time, "2024-03-01T10:00:00.5Z");
    assert_eq!(outcome.alerts[1].pack.name(), "k8scop-classic");
}

#[test]
fn the_interest_filter_skips_packs_for_events_they_cannot_match() {
    let mut engine = classic_engine(EngineConfig::default());
    // Leases and config maps interest no classic rule: the pack is not called.
    let chatter = decode_all(&[
        audit(
            "system:kube-scheduler",
            "update",
            "leases",
            "",
            "kube-system",
            200,
            "/x",
        ),
        audit("alice", "create", "configmaps", "", "default", 201, "/y"),
    ]);
    let outcome = engine.evaluate(&chatter);
    assert!(outcome.evaluations.is_empty(), "{:?}", outcome.evaluations);
    // Mixed: only the interesting events reach it, yet indices map back right.
    let mixed = decode_all(&[
        audit("alice", "create", "configmaps", "", "default", 201, "/y"),
        audit(
            "alice",
            "get",
            "secrets",
            "",
            "default",
            200,
            "/api/v1/namespaces/default/secrets/s",
        ),
    ]);
    let outcome = engine.evaluate(&mixed);
    assert_eq!(outcome.evaluations.len(), 1);
    assert_eq!(outcome.evaluations[0].1, 1, "one event evaluated");
    assert_eq!(outcome.alerts.len(), 1);
    assert_eq!(outcome.alerts[0].doc_index, 1);
}

#[test]
fn pack_configuration_reaches_the_pack() {
    let docs = decode_all(&[audit(
        "ci-bot",
        "list",
        "secrets",
        "",
        "",
        200,
        "/api/v1/secrets",
    )]);
    assert_eq!(
        classic_engine(EngineConfig::default())
            .evaluate(&docs)
            .alerts
            .len(),
        1
    );
    let config = EngineConfig {
        pack_config: BTreeMap::from([(
            "k8scop-classic".to_string(),
            BTreeMap::from([("ignore_users".to_string(), "ci-*".to_string())]),
        )]),
        ..Default::default()
    };
    assert!(classic_engine(config).evaluate(&docs).alerts.is_empty());
}

/// The pack declares every key it reads (with its type): a misspelt key
/// or a value of the wrong type refuses the pack with the reason, instead
/// of being ignored while the defaults stay on.
#[test]
fn a_misspelt_or_mistyped_setting_refuses_the_pack_naming_the_key() {
    let engine = |key: &str, value: &str| {
        let mut engine = RuleEngine::new(EngineConfig {
            pack_config: BTreeMap::from([(
                "k8scop-classic".to_string(),
                BTreeMap::from([(key.to_string(), value.to_string())]),
            )]),
            ..Default::default()
        })
        .unwrap();
        engine.load_file(&build_pack("k8scop-classic"))
    };
    let err = engine("ignore_user", "ci-*").unwrap_err();
    assert!(matches!(err, PackError::Load(_)));
    assert_eq!(
        err.to_string(),
        "refused: configuration of pack k8scop-classic: unknown setting \"ignore_user\" (did you mean \"ignore_users\"?)"
    );
    let mut correlation = RuleEngine::new(EngineConfig {
        pack_config: BTreeMap::from([(
            "k8scop-correlation".to_string(),
            BTreeMap::from([("secret_burst_threshold".to_string(), "ten".to_string())]),
        )]),
        ..Default::default()
    })
    .unwrap();
    let err = correlation
        .load_file(&build_pack("k8scop-correlation"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("setting \"secret_burst_threshold\" must be a number, not \"ten\""),
        "{err}"
    );
    assert!(engine("ignore_users", "ci-*").is_ok());
}

#[test]
fn invalid_files_are_refused_with_a_reason_and_valid_packs_still_load() {
    let dir = rules_dir(&["k8scop-classic"]);
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm").unwrap();
    // A core module: the wasm magic with version 1, no sections.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored: not a .wasm").unwrap();
    // The same pack again under another file name clashes with the first.
    std::fs::copy(build_pack("k8scop-classic"), dir.path().join("z_copy.wasm")).unwrap();
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    let refused = engine.load_dir(dir.path()).unwrap();
    let reasons: BTreeMap<String, String> = refused
        .iter()
        .map(|(p, e)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                e.to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons["garbage.wasm"].contains("not a valid component"),
        "{reasons:?}"
    );
    assert!(
        reasons["core.wasm"].contains("core WebAssembly module, not a component"),
        "{reasons:?}"
    );
    assert!(
        reasons["z_copy.wasm"].contains("already loaded"),
        "{reasons:?}"
    );
    assert!(refused.iter().all(|(_, e)| matches!(e, PackError::Load(_))));
    let names: Vec<&str> = engine.packs().map(|p| p.name()).collect();
    assert_eq!(names, ["k8scop-classic"]);
}

#[test]
fn describe_reports_every_rule_with_metadata() {
    let engine = classic_engine(EngineConfig::default());
    let meta = engine.packs().next().unwrap();
    assert_eq!(meta.info.rules.len(), 12);
    for rule in &meta.info.rules {
        assert!(rule.id.starts_with("k8scop-classic/"), "{}", rule.id);
        assert!(!rule.title.is_empty() && !rule.description.is_empty());
        assert!(
            rule.tags.iter().any(|t| t.starts_with("attack.t")),
            "{} has no ATT&CK technique",
            rule.id
        );
        assert!(
            !rule.interest.kinds.is_empty(),
            "{} declares no interest",
            rule.id
        );
    }
}
