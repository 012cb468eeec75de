//! The classic pack as a WebAssembly component in the real engine vs the
//! same rule code linked natively, over the same generated events, measured
//! in one run so the ratio is fair on a noisy machine.
//!
//!   cargo bench -p k8scop --bench classic_wasm_vs_native [-- --events N]
//!
//! Both paths get the same events the interest filter lets through and
//! parse each event once (the native path in Rust, the WASM path inside the
//! sandbox), and must raise the same alerts.

use std::time::{Duration, Instant};

use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{EngineConfig, RuleEngine, facts};
use k8scop_classic::Classic;
use rule_sdk::EventKind as SdkKind;
use rule_sdk::native::NativePack;

const BATCH: usize = 500;
const RUNS: usize = 5;

fn main() {
    let events = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000usize);
    let lines = generate(events);
    let decoder = Decoder::default();
    let docs: Vec<DecodedDoc> = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            decoder
                .decode_line(l, i as u64 + 1)
                .expect("generated lines decode")
        })
        .collect();

    let pack = k8scop_testkit::build_pack("k8scop-classic");
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.load_file(&pack).unwrap();
    let interest = engine.packs().next().unwrap().interest.clone();
    let selected: Vec<&DecodedDoc> = docs
        .iter()
        .filter(|d| interest.matches(&facts(d)))
        .collect();

    let mut native = NativePack::<Classic>::new(&[]);
    let mut wasm_times = Vec::new();
    let mut native_times = Vec::new();
    let (mut wasm_alerts, mut native_alerts) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        // Interleave the two so machine noise hits both alike.
        let started = Instant::now();
        wasm_alerts.clear();
        for batch in docs.chunks(BATCH) {
            let outcome = engine.evaluate(batch);
            assert!(outcome.failures.is_empty());
            wasm_alerts.extend(outcome.alerts.into_iter().map(|a| a.alert.rule_id));
        }
        wasm_times.push(started.elapsed());

        let started = Instant::now();
        native_alerts.clear();
        for batch in selected.chunks(BATCH) {
            let alerts = native.evaluate(batch.iter().map(|d| (sdk_kind(d), d.json.as_str())));
            native_alerts.extend(alerts.into_iter().map(|a| a.rule_id));
        }
        native_times.push(started.elapsed());
    }
    assert_eq!(
        wasm_alerts, native_alerts,
        "WASM and native raised different alerts"
    );

    let wasm = median(&mut wasm_times);
    let native = median(&mut native_times);
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "classic pack over {events} generated events ({} reach the pack), batches of {BATCH}, median of {RUNS} runs",
        selected.len()
    );
    println!(
        "  native Rust, same rule code:  {:>10.0} events/s  ({:?})",
        rate(native),
        native
    );
    println!(
        "  WASM component in the engine: {:>10.0} events/s  ({:?})",
        rate(wasm),
        wasm
    );
    println!(
        "  ratio WASM / native:          {:>10.2}x",
        native.as_secs_f64() / wasm.as_secs_f64()
    );
    println!(
        "  alerts per run:               {:>10} (identical on both paths)",
        wasm_alerts.len()
    );
}

fn sdk_kind(d: &DecodedDoc) -> SdkKind {
    match d.kind {
        k8scop::engine::EventKind::Audit => SdkKind::Audit,
        k8scop::engine::EventKind::Other => SdkKind::Other,
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A deterministic mix shaped like a real cluster's log: mostly
/// control-plane chatter, some users reading and changing things, a few
/// execs, and node auth-log lines.
fn generate(n: usize) -> Vec<String> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let users = [
        "alice",
        "bob",
        "carol",
        "ci-deployer",
        "system:kube-scheduler",
        "system:node:worker-1",
    ];
    (0..n)
        .map(|i| {
            let t = format!("2024-03-01T{:02}:{:02}:{:02}.{:06}Z", (i / 3_600_000) % 24, (i / 60_000) % 60, (i / 1000) % 60, i % 1000 * 1000);
            let r = next();
            let user = users[(r >> 8) as usize % users.len()];
            let (verb, resource, sub, ns, name, uri, code) = match r % 100 {
                0..=39 => ("update", "leases", "", "kube-system", "kube-scheduler", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler".to_string(), 200),
                40..=54 => ("patch", "nodes", "status", "", "worker-1", "/api/v1/nodes/worker-1/status".to_string(), 200),
                55..=64 => ("watch", "configmaps", "", "default", "", "/api/v1/namespaces/default/configmaps?watch=true".to_string(), 200),
                65..=74 => ("get", "pods", "", "default", "web-1", "/api/v1/namespaces/default/pods/web-1".to_string(), 200),
                75..=81 => ("list", "pods", "", "", "", "/api/v1/pods?limit=500".to_string(), 200),
                82..=86 => ("list", "secrets", "", "payments", "", "/api/v1/namespaces/payments/secrets".to_string(), 200),
                87..=89 => ("get", "secrets", "", "payments", "db", "/api/v1/namespaces/payments/secrets/db".to_string(), 404),
                90..=92 => ("create", "pods", "", "default", "", "/api/v1/namespaces/default/pods".to_string(), 201),
                93..=94 => ("create", "pods", "exec", "default", "web-1", format!("/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c&command=id+{i}&container=app"), 101),
                _ => {
                    return serde_json::json!({"@timestamp": t, "host": {"name": "worker-1"},
                        "message": format!("worker-1 sudo:    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/crictl ps {i}")})
                    .to_string();
                }
            };
            serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("ev-{i}"),
                "stage":"ResponseComplete","requestURI":uri,"verb":verb,
                "user":{"username":user,"groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.29.2",
                "objectRef":{"resource":resource,"subresource":sub,"namespace":ns,"name":name,"apiVersion":"v1"},
                "responseStatus":{"metadata":{},"code":code},
                "requestReceivedTimestamp":t,"stageTimestamp":t,
                "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}})
            .to_string()
        })
        .collect()
}
