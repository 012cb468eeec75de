//! `--threads`: evaluating on several threads gives what one thread gives,
//! alert for alert, in the same order, with the same counters; a stateful
//! pack still sees every event, in order, on one instance; the flag is
//! checked. Never timed here: the speed is the packs bench's to measure.

use std::process::Command;

use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{BatchOutcome, EngineConfig, RuleEngine};
use k8scop_testkit::{
    Succeeds, alerts_on_stdout, build_pack, shipped_packs, without_ingested, workspace_file,
};
use serde_json::Value;

const BATCH: usize = 500;

/// The control-plane chatter with the attack sample and every shipped
/// pack's cases spread through it (one event in four), each case's events
/// in their order: batches large enough to be cut into parts.
fn corpus() -> Vec<DecodedDoc> {
    let lines = |path: &str| -> Vec<Value> {
        std::fs::read_to_string(workspace_file(path))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let chatter = lines("samples/control-plane-chatter.jsonl");
    let mut interesting = lines("samples/audit-sample.jsonl");
    for pack in shipped_packs() {
        let cases: Value = serde_json::from_str(
            &std::fs::read_to_string(workspace_file(&format!("rules-wasm/{pack}/cases.json")))
                .unwrap(),
        )
        .unwrap();
        for case in cases["cases"].as_array().unwrap() {
            interesting.extend(case["events"].as_array().unwrap().iter().cloned());
        }
    }
    let mut chatter = chatter.into_iter();
    let mut interesting = interesting.into_iter();
    let decoder = Decoder::default();
    let mut docs = Vec::new();
    for line in 1.. {
        let next = if line % 4 == 0 {
            interesting.next().or_else(|| chatter.next())
        } else {
            chatter.next().or_else(|| interesting.next())
        };
        let Some(doc) = next else { break };
        if let Ok(decoded) = decoder.decode(doc.to_string(), line) {
            docs.extend(decoded.docs);
        }
    }
    assert!(docs.len() > 3000, "{} documents", docs.len());
    docs
}

fn engine(threads: usize, packs: &[String], cache: &std::path::Path) -> RuleEngine {
    let mut engine = RuleEngine::new(EngineConfig {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    engine.set_threads(threads).unwrap();
    for pack in packs {
        engine.load_file(&build_pack(pack)).unwrap();
    }
    engine
}

/// Everything an outcome says, but the time each pack took.
fn said(outcome: &BatchOutcome) -> Vec<String> {
    let alerts = outcome.alerts.iter().map(|a| {
        format!(
            "alert {} {} {:?} {:?} {:?} {} {} {:?}",
            a.pack.name(),
            a.alert.rule_id,
            a.alert.title,
            a.alert.severity,
            a.alert.group_key,
            a.alert.event_time,
            a.doc_index,
            a.alert.fields
        )
    });
    let failures = outcome
        .failures
        .iter()
        .map(|f| format!("failure {} {} {}", f.pack, f.documents, f.error));
    let rejected = outcome
        .rejected
        .iter()
        .map(|r| format!("rejected {} {}", r.pack, r.reason));
    let evaluated = outcome
        .evaluations
        .iter()
        .map(|(pack, documents, _)| format!("evaluated {pack} {documents}"));
    alerts
        .chain(failures)
        .chain(rejected)
        .chain(evaluated)
        .collect()
}

/// Every batch's outcome and the packs' counters at the end.
fn run(engine: &mut RuleEngine, docs: &[DecodedDoc]) -> (Vec<Vec<String>>, Vec<String>) {
    let outcomes = docs
        .chunks(BATCH)
        .map(|batch| said(&engine.evaluate(batch)))
        .collect();
    (outcomes, counters(engine))
}

/// Every pack's counters and quarantine, as `status` says them.
fn counters(engine: &RuleEngine) -> Vec<String> {
    engine
        .status()
        .iter()
        .map(|p| format!("{} {:?} {:?}", p.name, p.counters, p.quarantined))
        .collect()
}

#[test]
fn several_threads_evaluate_exactly_as_one() {
    let docs = corpus();
    let cache = tempfile::tempdir().unwrap();
    let mut packs = shipped_packs();
    packs.push("order-witness".into());
    let (one, one_counters) = run(&mut engine(1, &packs, cache.path()), &docs);
    let alerts: usize = one
        .iter()
        .flatten()
        .filter(|l| l.starts_with("alert "))
        .count();
    assert!(alerts > 1000, "a corpus that raises alerts: {alerts}");
    for threads in [2, 3] {
        let mut engine = engine(threads, &packs, cache.path());
        let (many, many_counters) = run(&mut engine, &docs);
        for (b, (one, many)) in one.iter().zip(&many).enumerate() {
            assert_eq!(one, many, "batch {b} at {threads} threads");
        }
        assert_eq!(one.len(), many.len());
        assert_eq!(one_counters, many_counters, "{threads} threads");
        // The stateless packs were cut into parts, the stateful were not.
        let instances = |name: &str| {
            engine
                .status()
                .into_iter()
                .find(|p| p.name == name)
                .unwrap()
                .instances
        };
        assert_eq!(instances("k8scop-falco"), threads);
        assert_eq!(instances("k8scop-correlation"), 1);
        assert_eq!(instances("order-witness"), 1);
    }
}

/// The engine stage hands over the batches queued behind one, several at
/// once: each batch's outcome and the counters are what evaluating the
/// batches one at a time gives, also for a pack that fails each batch and
/// is quarantined in the middle of a group (the calls its instance left
/// after a failure are made before the next batch's record).
#[test]
fn several_batches_at_once_evaluate_exactly_as_one_at_a_time() {
    let docs = corpus();
    let cache = tempfile::tempdir().unwrap();
    let mut packs = shipped_packs();
    packs.push("order-witness".into());
    packs.push("hostile-panic".into());
    let (one, one_counters) = run(&mut engine(1, &packs, cache.path()), &docs);
    let failures = |outcomes: &[Vec<String>]| {
        outcomes
            .iter()
            .flatten()
            .filter(|l| l.starts_with("failure hostile-panic"))
            .count()
    };
    assert!(
        failures(&one) > 4
            && one_counters
                .iter()
                .any(|c| c.starts_with("hostile-panic") && c.contains("Some(\"failed 3 batches")),
        "the panicking pack fails, then is quarantined: {one_counters:?}"
    );
    let batches: Vec<&[DecodedDoc]> = docs.chunks(BATCH).collect();
    for (threads, at_once) in [(1, 4), (2, 3), (3, 4)] {
        let mut engine = engine(threads, &packs, cache.path());
        let many: Vec<Vec<String>> = batches
            .chunks(at_once)
            .flat_map(|group| engine.evaluate_batches(group))
            .map(|outcome| said(&outcome))
            .collect();
        assert_eq!(one.len(), many.len());
        for (b, (one, many)) in one.iter().zip(&many).enumerate() {
            assert_eq!(
                one, many,
                "batch {b}, {at_once} at once on {threads} threads"
            );
        }
        let counters = counters(&engine);
        assert_eq!(
            one_counters, counters,
            "{at_once} at once on {threads} threads"
        );
    }
}

/// The witness numbers every audit event it is given: on three threads
/// those numbers follow the log's order, across batches.
#[test]
fn a_stateful_pack_sees_every_event_in_order_on_several_threads() {
    let docs = corpus();
    let cache = tempfile::tempdir().unwrap();
    let packs = ["k8scop-falco".to_string(), "order-witness".to_string()];
    let mut engine = engine(3, &packs, cache.path());
    let mut seen = Vec::new();
    for batch in docs.chunks(BATCH) {
        for alert in engine.evaluate(batch).alerts {
            if alert.pack.name() == "order-witness" {
                let field = |k: &str| {
                    let (_, v) = alert.alert.fields.iter().find(|(key, _)| key == k).unwrap();
                    v.clone()
                };
                let audit_id = batch[alert.doc_index]
                    .view()
                    .text(rule_sdk::bindings::k8scop::rules::types::TextField::AuditId);
                assert_eq!(field("audit_id"), audit_id);
                seen.push(field("seq").parse::<usize>().unwrap());
            }
        }
    }
    let audit = docs
        .iter()
        .filter(|d| d.kind == k8scop::contract::EventKind::Audit)
        .count();
    assert_eq!(seen, (1..=audit).collect::<Vec<_>>());
}

/// The whole binary, decoding in parts too: the chatter and the sample
/// (every shape) give the same alert documents, in the same order, and the
/// same summary at 1 and 3 threads, with the chatter filter off, dropping
/// and labelling (a labelled event is annotated after it is copied off its
/// part's page).
#[test]
fn a_replay_on_three_threads_writes_what_one_thread_writes() {
    let rules = k8scop_testkit::rules_dir(
        &shipped_packs()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let input = tempfile::NamedTempFile::new().unwrap();
    let mut text =
        std::fs::read_to_string(workspace_file("samples/control-plane-chatter.jsonl")).unwrap();
    let sample = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    // The sample twice: once among the chatter, once at the end.
    let middle = text.len() / 2;
    let middle = middle + text[middle..].find('\n').unwrap() + 1;
    text.insert_str(middle, &sample);
    text.push_str(&sample);
    std::fs::write(input.path(), text).unwrap();
    let replay = |threads: &str, chatter: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .args(["replay", "--input"])
            .arg(input.path())
            .arg("--rules")
            .arg(rules.path())
            .args(["--threads", threads, "--batch-size", "300"])
            .args(["--chatter-filter", chatter])
            .env("K8SCOP_LOG", "warn")
            .succeeds();
        let alerts: Vec<Value> = alerts_on_stdout(&out)
            .into_iter()
            .map(without_ingested)
            .collect();
        // The summary, but how fast it went.
        let summary: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .skip_while(|l| *l != "k8scop summary")
            .filter(|l| !l.contains("cores used"))
            .map(String::from)
            .collect();
        (alerts, summary)
    };
    for chatter in ["off", "drop", "label"] {
        let (one, one_summary) = replay("1", chatter);
        assert!(one.len() > 20, "{chatter}: {} alerts", one.len());
        let (three, three_summary) = replay("3", chatter);
        assert_eq!(one, three, "chatter filter {chatter}");
        assert_eq!(one_summary, three_summary, "chatter filter {chatter}");
    }
}

#[test]
fn zero_threads_is_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["replay", "--input", "-", "--rules", "."])
        .env("K8SCOP_THREADS", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--threads") && stderr.contains("must be at least 1"),
        "{stderr}"
    );
}
