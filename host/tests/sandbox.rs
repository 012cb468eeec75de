//! Hostile rule packs, built from source in this workspace
//! (`tests/packs/`), next to the classic pack in one engine: each is
//! contained with a clear message, the host keeps serving, and the classic
//! pack's alerts for the same documents are unchanged.

use std::time::Duration;

use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{
    BatchOutcome, EngineConfig, PACK_QUARANTINED, PackError, RuleEngine, SandboxLimits,
};
use k8scop_testkit::{build_pack, workspace_file};

fn sample() -> Vec<DecodedDoc> {
    let text = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let decoder = Decoder::default();
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| decoder.decode(l.to_string(), i as u64 + 1).ok())
        .flat_map(|decoded| decoded.docs)
        .collect()
}

fn engine_with(packs: &[&str]) -> RuleEngine {
    engine_with_limits(packs, 64 << 20, Duration::from_millis(300))
}

fn engine_with_limits(packs: &[&str], memory_bytes: usize, batch_time: Duration) -> RuleEngine {
    let mut engine = RuleEngine::new(EngineConfig {
        limits: SandboxLimits {
            memory_bytes,
            batch_time,
            ..SandboxLimits::default()
        },
        ..Default::default()
    })
    .unwrap();
    for pack in packs {
        engine.load_file(&build_pack(pack)).unwrap();
    }
    engine
}

fn classic_alerts(outcome: &BatchOutcome) -> Vec<(usize, String)> {
    outcome
        .alerts
        .iter()
        .filter(|a| a.pack.name() == "k8scop-classic")
        .map(|a| (a.doc_index, a.alert.rule_id.clone()))
        .collect()
}

fn failure_of<'a>(outcome: &'a BatchOutcome, pack: &str) -> &'a PackError {
    &outcome
        .failures
        .iter()
        .find(|f| f.pack == pack)
        .unwrap_or_else(|| panic!("{pack} did not fail: {:?}", outcome.failures))
        .error
}

#[test]
fn hostile_packs_are_contained_and_the_classic_pack_is_unaffected() {
    let docs = sample();
    let reference = classic_alerts(&engine_with(&["k8scop-classic"]).evaluate(&docs));
    assert_eq!(reference.len(), 13);

    // A million alerts cannot even be built within the memory cap. Only the
    // loop gets the short time budget: the others must fail on what they
    // do, not on a loaded machine's pause.
    let short = Duration::from_millis(300);
    let ample = Duration::from_secs(30);
    let cases: [(&str, &str, usize, Duration); 4] = [
        (
            "hostile-loop",
            "exceeded its time budget of 300ms per batch",
            64 << 20,
            short,
        ),
        (
            "hostile-alloc",
            "exceeded its memory cap of 64 MiB",
            64 << 20,
            ample,
        ),
        (
            "hostile-flood",
            "exceeded its memory cap of 64 MiB",
            64 << 20,
            ample,
        ),
        ("hostile-panic", "a Rust panic", 64 << 20, ample),
    ];
    for (pack, message, memory, time) in cases {
        let mut engine = engine_with_limits(&["k8scop-classic", pack], memory, time);
        let outcome = engine.evaluate(&docs);
        assert_eq!(
            classic_alerts(&outcome),
            reference,
            "{pack} changed the classic pack's alerts"
        );
        let error = failure_of(&outcome, pack).to_string();
        assert!(error.contains(message), "{pack}: {error}");
        let failure = outcome.failures.iter().find(|f| f.pack == pack).unwrap();
        assert!(
            failure.documents > 0,
            "{pack}: its documents are counted as not evaluated"
        );
        // The host still serves: the next batch works for everyone else.
        let again = engine.evaluate(&docs);
        assert_eq!(
            classic_alerts(&again),
            reference,
            "{pack}: the host stopped serving"
        );
    }
}

/// The flood pack alone, raising `alerts` alerts for one event, with time
/// enough to build them.
fn flood(alerts: u32, limits: SandboxLimits) -> BatchOutcome {
    let mut engine = RuleEngine::new(EngineConfig {
        limits: SandboxLimits {
            batch_time: Duration::from_secs(30),
            ..limits
        },
        pack_config: [(
            "hostile-flood".to_string(),
            [("alerts".to_string(), alerts.to_string())].into(),
        )]
        .into(),
        ..Default::default()
    })
    .unwrap();
    engine.load_file(&build_pack("hostile-flood")).unwrap();
    engine.evaluate(&sample()[..1])
}

#[test]
fn alerts_over_the_cap_are_refused_as_a_failed_batch() {
    // The flood configured for 20 000 alerts per event: that fits in
    // memory, but is over the 10 000 alerts a batch may return.
    let outcome = flood(
        20_000,
        SandboxLimits {
            memory_bytes: 256 << 20,
            ..SandboxLimits::default()
        },
    );
    let error = failure_of(&outcome, "hostile-flood").to_string();
    assert_eq!(
        error,
        "returned 20000 alerts for one batch, over the limit of 10000"
    );
    assert!(outcome.alerts.is_empty(), "none of them is taken");
}

#[test]
fn the_sandbox_grants_no_file_env_args_clock_or_network() {
    let mut engine = engine_with(&["hostile-snoop"]);
    let outcome = engine.evaluate(&sample()[..1]);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let alert = &outcome.alerts[0].alert;
    let field = |k: &str| {
        alert
            .fields
            .iter()
            .find(|(fk, _)| fk == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert!(field("file").starts_with("denied"), "{}", field("file"));
    assert!(field("dir").starts_with("denied"), "{}", field("dir"));
    assert_eq!(field("env"), "none");
    assert_eq!(field("args"), "none");
    assert_eq!(field("clock"), "0", "the clock is frozen at the epoch");
    assert!(field("net").starts_with("denied"), "{}", field("net"));
}

#[test]
fn files_that_are_not_packs_of_this_contract_are_refused_with_the_reason() {
    let mut engine = engine_with(&["k8scop-classic"]);
    let err = engine
        .load_file(&build_pack("hostile-wit-version"))
        .unwrap_err();
    assert!(matches!(err, PackError::Load(_)));
    let text = err.to_string();
    assert!(
        text.contains("does not export this host's contract (k8scop:rules@0.4.0)"),
        "{text}"
    );
    assert!(
        text.contains("it exports [k8scop:rules/rule-pack@9.0.0]"),
        "the message names the pack's version: {text}"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("garbage.wasm", b"\x7fELF not wasm".as_slice()),
        ("core.wasm", b"\0asm\x01\0\0\0".as_slice()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert!(engine.load_file(&path).is_err(), "{name} loaded");
    }
    // The pack already loaded keeps running.
    assert_eq!(classic_alerts(&engine.evaluate(&sample())).len(), 13);
}

#[test]
fn a_pack_that_keeps_failing_is_quarantined_and_reported() {
    let docs = sample();
    let mut engine = engine_with(&["k8scop-classic", "hostile-panic"]);
    let mut quarantine_alerts = 0;
    for batch in 0..6 {
        let outcome = engine.evaluate(&docs);
        quarantine_alerts += outcome
            .alerts
            .iter()
            .filter(|a| a.alert.rule_id == PACK_QUARANTINED)
            .count();
        let error = failure_of(&outcome, "hostile-panic");
        if batch >= 3 {
            assert!(
                matches!(error, PackError::Quarantined(_)),
                "batch {batch}: {error}"
            );
            assert!(
                !outcome
                    .evaluations
                    .iter()
                    .any(|(p, _, _)| p == "hostile-panic"),
                "a quarantined pack is not called"
            );
        }
        assert_eq!(classic_alerts(&outcome).len(), 13);
    }
    assert_eq!(
        quarantine_alerts, 1,
        "reported once, as an alert of its own"
    );
    let status = engine.status();
    let panic = status.iter().find(|s| s.name == "hostile-panic").unwrap();
    assert!(
        panic
            .quarantined
            .as_deref()
            .unwrap()
            .contains("3 batches in a row")
    );
    assert_eq!(panic.counters.batches_failed, 6);
    let classic = status.iter().find(|s| s.name == "k8scop-classic").unwrap();
    assert!(classic.quarantined.is_none());
    assert_eq!(classic.counters.alerts, 6 * 13);
}

#[test]
fn alert_bytes_over_the_cap_are_refused_as_a_failed_batch() {
    // 5 000 alerts are under the count cap, but not under 64 KiB of text.
    let outcome = flood(
        5_000,
        SandboxLimits {
            max_alert_bytes: 64 << 10,
            ..SandboxLimits::default()
        },
    );
    let error = failure_of(&outcome, "hostile-flood").to_string();
    assert!(error.starts_with("returned alerts of "), "{error}");
    assert!(
        error.ends_with("bytes for one batch, over the limit of 65536"),
        "{error}"
    );
}

#[test]
fn compiled_packs_are_cached_by_content_and_a_bad_entry_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let config = || EngineConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let pack = build_pack("k8scop-classic");
    let first = RuleEngine::new(config()).unwrap().load_file(&pack).unwrap();
    assert!(!first.from_cache);
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].to_string_lossy().contains(&first.content_hash));
    let mut engine = RuleEngine::new(config()).unwrap();
    let second = engine.load_file(&pack).unwrap();
    assert!(second.from_cache, "a restart loads the compiled pack");
    assert_eq!(classic_alerts(&engine.evaluate(&sample())).len(), 13);
    // A damaged entry is not trusted: compiled again, and it still works.
    std::fs::write(&entries[0], b"garbage").unwrap();
    let mut engine = RuleEngine::new(config()).unwrap();
    let third = engine.load_file(&pack).unwrap();
    assert!(!third.from_cache);
    assert_eq!(classic_alerts(&engine.evaluate(&sample())).len(), 13);
}
