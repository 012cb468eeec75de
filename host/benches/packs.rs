//! Every shipped pack as a WebAssembly component in the real engine vs the
//! same rule code linked natively, over the same events, in one run so the
//! ratios are fair on a noisy machine; then all packs loaded together, with
//! and without the interest filter; then all packs on one thread and on
//! N (the cores the cgroup allows, or `--threads N`), interleaved.
//!
//!   cargo bench -p k8scop --bench packs [-- --events N] [--only PACK] [--threads N]
//!   cargo bench -p k8scop --bench packs -- --profile RUNS   # under `perf record`
//!
//! The events are a realistic mix: the synthesized control-plane chatter of
//! `samples/control-plane-chatter.jsonl` (most of a real log), with every
//! event of every pack's `cases.json` and of `samples/audit-sample.jsonl`
//! spread through it (one in seven events), re-timed so time only moves
//! forward and re-numbered so each event is distinct.
//!
//! Both paths choose the events a pack's interest lets through with the
//! same check, parse each once (the native path in Rust, the WASM path
//! inside the sandbox), and must raise the same alerts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{EngineConfig, MAX_BATCHES_AT_ONCE, PackInterest, RuleEngine, facts};
use k8scop_testkit::{build_pack, shipped_packs, workspace_file};
use rule_sdk::native::NativePack;
use rule_sdk::wire::BatchWriter;
use serde_json::Value;

const BATCH: usize = 500;
const RUNS: usize = 5;

fn main() {
    let events = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000usize);
    // `--only PACK` measures one pack (e.g. under `perf record` with
    // K8SCOP_WASM_PERFMAP=1 to see inside the sandbox).
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    let docs = corpus(events);
    let packs: Vec<String> = shipped_packs()
        .into_iter()
        .filter(|p| only.as_ref().is_none_or(|o| o == p))
        .collect();
    // The compiled packs, as the figures before Sigma files measured them
    // (k8scop-sigma with no files has no rule and is never called).
    let compiled: Vec<String> = packs
        .iter()
        .filter(|p| *p != "k8scop-sigma")
        .cloned()
        .collect();
    // `--profile RUNS`: only the compiled packs together on one thread,
    // RUNS times, so a profile holds the deployment's work and nothing of
    // the native twins or the compiler.
    if let Some(runs) = std::env::args()
        .skip_while(|a| a != "--profile")
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
    {
        let files: Vec<_> = compiled.iter().map(|p| pack_file(p)).collect();
        for _ in 0..runs {
            let (time, _, raised) = timed_pass(engine_config(false), Some(1), &files, &docs);
            println!(
                "{} packs, one thread: {:.0} events/s ({raised} alerts)",
                files.len(),
                rate(docs.len(), time)
            );
        }
        return;
    }
    println!(
        "{} events (control-plane chatter with every pack's cases spread through it), batches of {BATCH}, median of {RUNS} runs",
        docs.len()
    );
    println!(
        "{:<24} {:>9} {:>13} {:>13} {:>8} {:>8}",
        "pack", "selected", "native ev/s", "WASM ev/s", "ratio", "alerts"
    );
    let sigma_files = sigma_files();
    let mut wasm_rates = std::collections::BTreeMap::new();
    for pack in &packs {
        let sigma = match pack.as_str() {
            "k8scop-sigma" => &sigma_files[..],
            _ => &[],
        };
        let (line, wasm_rate) = match pack.as_str() {
            "k8scop-classic" => compare::<k8scop_classic::Classic>(pack, &docs, sigma),
            "k8scop-falco" => compare::<k8scop_falco::Falco>(pack, &docs, sigma),
            "k8scop-sigma-elastic" => {
                compare::<k8scop_sigma_elastic::SigmaElastic>(pack, &docs, sigma)
            }
            "k8scop-correlation" => compare::<k8scop_correlation::Correlation>(pack, &docs, sigma),
            "k8scop-sigma" => compare::<k8scop_sigma::SigmaPack>(pack, &docs, sigma),
            other => panic!("pack {other} has no native twin in this benchmark: add it"),
        };
        println!("{line}");
        wasm_rates.insert(pack.clone(), wasm_rate);
    }
    if let (Some(yaml), Some(elastic)) = (
        wasm_rates.get("k8scop-sigma"),
        wasm_rates.get("k8scop-sigma-elastic"),
    ) {
        println!(
            "Sigma as YAML ({} files in k8scop-sigma) vs compiled (k8scop-sigma-elastic): {yaml:.0} vs {elastic:.0} events/s, {:.2}x",
            sigma_files.len(),
            yaml / elastic
        );
    }
    all_packs(&compiled, &docs);
    let threads = std::env::args()
        .skip_while(|a| a != "--threads")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(k8scop::cores::available);
    on_threads(&compiled, &docs, threads);
}

/// The Sigma files k8scop-sigma runs here: its test set (the logic of
/// Sigma's 16 public Kubernetes audit rules, and a correlation), or the
/// `.yml` files of `K8SCOP_BENCH_SIGMA_RULES` (e.g. SigmaHQ's own).
fn sigma_files() -> Vec<PathBuf> {
    let dir = std::env::var_os("K8SCOP_BENCH_SIGMA_RULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_file("rules-wasm/k8scop-sigma/rules"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

/// One pack: WASM in the engine vs native, interleaved run by run; the
/// line to print and the WASM rate. A Sigma pack runs `sigma` (the same
/// files on both paths).
fn compare<P: rule_sdk::Pack>(pack: &str, docs: &[DecodedDoc], sigma: &[PathBuf]) -> (String, f64) {
    let wasm_file = pack_file(pack);
    let sigma_setting = rule_sdk::sigma::encode(
        &sigma
            .iter()
            .map(|p| {
                rule_sdk::sigma::RuleFile::new(
                    p.file_name().unwrap().to_string_lossy(),
                    std::fs::read_to_string(p).unwrap(),
                )
            })
            .collect::<Vec<_>>(),
    );
    let native_config: Vec<(&str, &str)> = match sigma.is_empty() {
        true => vec![],
        false => vec![(rule_sdk::sigma::SETTING, sigma_setting.as_str())],
    };
    let mut wasm_times = Vec::new();
    let mut native_times = Vec::new();
    let mut selected_count = 0;
    let mut alerts = 0;
    for run in 0..RUNS {
        // Fresh instances each run: a stateful pack starts from nothing, and
        // both paths see exactly the same history.
        let mut engine = RuleEngine::new(engine_config(false)).unwrap();
        if !sigma.is_empty() {
            engine.use_sigma_files(sigma).unwrap();
        }
        engine.load_file(&wasm_file).unwrap();
        let interest = engine.packs().next().unwrap().interest.clone();
        let mut native = NativePack::<P>::new(&native_config);

        let started = Instant::now();
        let mut wasm_alerts = Vec::new();
        for (b, batch) in docs.chunks(BATCH).enumerate() {
            let outcome = engine.evaluate(batch);
            assert!(
                outcome.failures.is_empty(),
                "{pack}: {:?}",
                outcome.failures
            );
            assert!(
                outcome.rejected.is_empty(),
                "{pack}: {:?}",
                outcome.rejected
            );
            wasm_alerts.extend(
                outcome
                    .alerts
                    .into_iter()
                    .map(|a| (b * BATCH + a.doc_index, a.alert.rule_id)),
            );
        }
        wasm_times.push(started.elapsed());

        let started = Instant::now();
        let mut native_alerts = Vec::new();
        let mut laid_out = BatchWriter::default();
        selected_count = 0;
        for (b, batch) in docs.chunks(BATCH).enumerate() {
            let selected = select(&interest, batch);
            selected_count += selected.len();
            // The batch the host would write for the pack: the same copies.
            laid_out.clear();
            for &i in &selected {
                laid_out.append_event(batch[i].event.page(), batch[i].event.index());
            }
            let raised = native.evaluate_batch(laid_out.reader());
            native_alerts.extend(
                raised
                    .into_iter()
                    .map(|a| (b * BATCH + selected[a.event_index as usize], a.rule_id)),
            );
        }
        native_times.push(started.elapsed());
        if run == 0 {
            assert_eq!(
                wasm_alerts, native_alerts,
                "{pack}: WASM and native raised different alerts"
            );
            alerts = wasm_alerts.len();
        }
    }
    let (wasm, native) = (median(&mut wasm_times), median(&mut native_times));
    let line = format!(
        "{pack:<24} {selected_count:>9} {:>13.0} {:>13.0} {:>7.2}x {alerts:>8}",
        rate(docs.len(), native),
        rate(docs.len(), wasm),
        native.as_secs_f64() / wasm.as_secs_f64()
    );
    (line, rate(docs.len(), wasm))
}

/// Every pack loaded together, as a deployment runs them, with the
/// interest filter and with every document given to every pack.
fn all_packs(packs: &[String], docs: &[DecodedDoc]) {
    let files: Vec<_> = packs.iter().map(|p| pack_file(p)).collect();
    let mut times = [Vec::new(), Vec::new()];
    let mut alerts = [0, 0];
    for _ in 0..RUNS {
        for (i, evaluate_everything) in [false, true].into_iter().enumerate() {
            let (time, _, raised) =
                timed_pass(engine_config(evaluate_everything), None, &files, docs);
            times[i].push(time);
            alerts[i] = raised;
        }
    }
    assert_eq!(
        alerts[0], alerts[1],
        "the interest filter changed what the packs raised"
    );
    let filtered = median(&mut times[0]);
    let everything = median(&mut times[1]);
    println!(
        "all {} packs loaded, interest filter on:  {:>10.0} events/s on one core ({} alerts)",
        packs.len(),
        rate(docs.len(), filtered),
        alerts[0]
    );
    println!(
        "all {} packs loaded, interest filter off: {:>10.0} events/s on one core",
        packs.len(),
        rate(docs.len(), everything)
    );
    println!(
        "interest filter speed-up:                {:>10.2}x",
        everything.as_secs_f64() / filtered.as_secs_f64()
    );
}

/// Every pack loaded together on one thread and on `threads`, run after
/// run alternately: the same alerts, and how much faster.
fn on_threads(packs: &[String], docs: &[DecodedDoc], threads: usize) {
    let files: Vec<_> = packs.iter().map(|p| pack_file(p)).collect();
    let mut times = [Vec::new(), Vec::new()];
    let mut cores = [Vec::new(), Vec::new()];
    let mut alerts = [0, 0];
    for _ in 0..RUNS {
        for (i, n) in [1, threads].into_iter().enumerate() {
            let (time, used, raised) = timed_pass(engine_config(false), Some(n), &files, docs);
            times[i].push(time);
            cores[i].push(used);
            alerts[i] = raised;
        }
    }
    assert_eq!(
        alerts[0], alerts[1],
        "{threads} threads raised other alerts"
    );
    // How many cores the machine gave each run (it is shared): the median.
    let cores = cores.map(|mut c| {
        c.sort_by(f64::total_cmp);
        c[c.len() / 2]
    });
    let one = median(&mut times[0]);
    let many = median(&mut times[1]);
    println!(
        "all {} packs, 1 thread:                  {:>10.0} events/s ({} alerts; {:.2} cores used)",
        packs.len(),
        rate(docs.len(), one),
        alerts[0],
        cores[0]
    );
    println!(
        "all {} packs, {threads} threads:                 {:>10.0} events/s ({:.2}x; {:.2} cores used)",
        packs.len(),
        rate(docs.len(), many),
        one.as_secs_f64() / many.as_secs_f64(),
        cores[1]
    );
}

/// One pass of `docs` through a fresh engine holding `files`, on
/// `threads` (none: the engine's default): its time, the cores it kept
/// busy, and the alerts raised.
fn timed_pass(
    config: EngineConfig,
    threads: Option<usize>,
    files: &[PathBuf],
    docs: &[DecodedDoc],
) -> (Duration, f64, usize) {
    let mut engine = RuleEngine::new(config).unwrap();
    if let Some(n) = threads {
        engine.set_threads(n).unwrap();
    }
    for file in files {
        engine.load_file(file).unwrap();
    }
    let started = Instant::now();
    let usage = k8scop::cores::Usage::start();
    let mut raised = 0;
    // Batches handed over as the engine stage does when the engine is the
    // slower stage: as many at once as its channel holds.
    let batches: Vec<&[DecodedDoc]> = docs.chunks(BATCH).collect();
    for group in batches.chunks(MAX_BATCHES_AT_ONCE) {
        for outcome in engine.evaluate_batches(group) {
            assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
            raised += outcome.alerts.len();
        }
    }
    let time = started.elapsed();
    (time, usage.finish(threads.unwrap_or(1)).cores(), raised)
}

/// The shipped pack built from source, or, to compare builds of it, the
/// file of that name in `K8SCOP_BENCH_PACKS_DIR`.
fn pack_file(pack: &str) -> PathBuf {
    match std::env::var_os("K8SCOP_BENCH_PACKS_DIR") {
        Some(dir) => Path::new(&dir).join(format!("{}.wasm", pack.replace('-', "_"))),
        None => build_pack(pack),
    }
}

/// Fresh engines for every run, sharing one module cache so a pack is
/// compiled once, not once per run.
/// `K8SCOP_BENCH_CACHE` keeps the compiled packs across runs (e.g. under
/// valgrind, where compiling them would take minutes).
fn engine_config(evaluate_everything: bool) -> EngineConfig {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let cache = match std::env::var_os("K8SCOP_BENCH_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => CACHE
            .get_or_init(|| tempfile::tempdir().unwrap())
            .path()
            .to_path_buf(),
    };
    EngineConfig {
        cache_dir: Some(cache),
        evaluate_everything,
        ..Default::default()
    }
}

fn select(interest: &PackInterest, batch: &[DecodedDoc]) -> Vec<usize> {
    (0..batch.len())
        .filter(|&i| interest.matches(&facts(&batch[i])))
        .collect()
}

fn rate(events: usize, d: Duration) -> f64 {
    events as f64 / d.as_secs_f64()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `n` documents: chatter, with one "interesting" event (from the packs'
/// cases and the attack sample) in every seven, re-timed 10 ms apart.
fn corpus(n: usize) -> Vec<DecodedDoc> {
    let chatter = json_lines(&workspace_file("samples/control-plane-chatter.jsonl"));
    let mut interesting = json_lines(&workspace_file("samples/audit-sample.jsonl"));
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
    let start = chrono::DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z").unwrap();
    let decoder = Decoder::default();
    let (mut c, mut x) = (0, 0);
    // A batch document of the sample (an EventList, a CloudWatch
    // envelope) gives each of its events.
    (0..n)
        .flat_map(|i| {
            let mut doc = if i % 7 == 3 {
                x += 1;
                interesting[(x - 1) % interesting.len()].clone()
            } else {
                c += 1;
                chatter[(c - 1) % chatter.len()].clone()
            };
            let t = (start + chrono::Duration::milliseconds(10 * i as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            retime(&mut doc, &t, i);
            let decoded = decoder
                .decode(doc.to_string(), i as u64 + 1)
                .expect("corpus lines decode");
            assert!(decoded.failed.is_empty(), "{:?}", decoded.failed);
            decoded.docs
        })
        .collect()
}

fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

/// Give a document time `t` wherever it carries a time, and a unique id.
fn retime(doc: &mut Value, t: &str, i: usize) {
    let obj = doc.as_object_mut().unwrap();
    for key in [
        "requestReceivedTimestamp",
        "stageTimestamp",
        "timestamp",
        "@timestamp",
    ] {
        if obj.contains_key(key) {
            obj.insert(key.into(), Value::String(t.into()));
        }
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        && meta.contains_key("creationTimestamp")
    {
        meta.insert("creationTimestamp".into(), Value::String(t.into()));
    }
    if obj.contains_key("auditID") {
        obj.insert("auditID".into(), Value::String(format!("bench-{i}")));
    }
    if let Some(audit) = obj
        .get_mut("kubernetes")
        .and_then(|k| k.get_mut("audit"))
        .filter(|a| a.is_object())
    {
        retime(audit, t, i);
    }
}
