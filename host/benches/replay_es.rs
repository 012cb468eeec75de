//! Replay from an Elasticsearch-compatible server, measured against the
//! floor under it, in one run:
//!
//!   cargo bench -p k8scop --bench replay_es [-- --sizes 20000,200000,1000000] [--threads N]
//!
//! For each size N (20 000, 200 000 and 1 000 000 documents by default) it
//! loads N generated audit documents into a fresh osmem-server, then times
//! - read + parse: the same point-in-time pages read and decoded in
//!   process, nothing else (the cost no pipeline can avoid);
//! - replay: `k8scop replay --from --to` as an operator runs it, every
//!   shipped pack evaluating everything and alerts bulk-written back;
//! - the same replay with its alerts to a file (`-o`), run first: the
//!   pipeline without the server indexing the alerts;
//!
//! and reports replay throughput as a ratio of read + parse (goal: at least
//! 0.5x), the replay process's peak RSS (VmHWM; goal: under 200 MiB at 1M
//! documents, and flat in N: the ratio between the largest and the smallest
//! size is printed), and osmem-server's own memory; and how many cores
//! each kept busy (CPU time over wall time: read + parse in this process,
//! the replay's from its summary). `--threads N` is handed to the replay
//! (default: its own, the cores the cgroup allows).
//!
//! `K8SCOP_BENCH_LOG=warn,k8scop=trace` gives the replay that log filter and
//! prints its log: every Elasticsearch request with its time, which shows
//! where a window's time goes. `K8SCOP_BENCH_WRAP="perf record -g -o FILE"`
//! runs the replay under a profiler. (heaptrack sees nothing: it hooks
//! libc's malloc, and k8scop allocates through mimalloc.)

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use k8scop::decode::Decoder;
use k8scop::es::indices::LogIndices;
use k8scop::es::{EsClient, EsConfig, ServerInfo};
use k8scop::ops::Metrics;
use k8scop::source::elasticsearch::LogQuery;
use k8scop::source::{EachPage, EsInput, read_window};
use k8scop_testkit::{TestCluster, rules_dir, shipped_packs};
use serde_json::{Value, json};

/// Documents per bulk request when loading, and requests in flight.
const LOAD_BULK_DOCS: usize = 10_000;
const LOAD_PARALLEL: usize = 3;
/// The replay's page size (the CLI's default).
const PAGE_SIZE: usize = 5000;
/// Time between two documents: the same rate at every size, so a larger N
/// is a longer window, not a denser one (1M documents: about 14 hours).
const STEP_MS: i64 = 50;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--sizes")
        .nth(1)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![20_000, 200_000, 1_000_000]);
    let threads: Vec<String> = std::env::args()
        .skip_while(|a| a != "--threads")
        .nth(1)
        .map(|n| vec!["--threads".to_string(), n])
        .unwrap_or_default();
    let packs = shipped_packs();
    let names: Vec<&str> = packs.iter().map(String::as_str).collect();
    let rules = rules_dir(&names);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "replay from osmem-server (packs: {}) vs reading and parsing the same documents (one run, same server)",
        names.join(", ")
    );
    let mut rss = Vec::new();
    for n in sizes {
        let cluster = TestCluster::start();
        let osmem = osmem_pid();
        let logs = cluster.unique_prefix("logs");
        let start = "2024-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let started = Instant::now();
        runtime.block_on(load(cluster.url(), &logs, start, n));
        cluster.refresh(&format!("{logs}-*"));
        let loading = started.elapsed();
        let to = start + chrono::Duration::milliseconds(STEP_MS * n as i64 + 1000);

        // Read + parse: the floor.
        let client = EsClient::new(&EsConfig::new(cluster.url())).unwrap();
        let started = Instant::now();
        let usage = k8scop::cores::Usage::start();
        let parsed = runtime.block_on(async {
            let flavor = ServerInfo::detect(&client).await.unwrap().flavor;
            let query = LogQuery {
                indices: LogIndices::DailyPrefix(logs.clone()),
                time_field: "@timestamp".into(),
                extra_query: None,
                page_size: PAGE_SIZE,
            };
            let decoder = Decoder::default();
            let mut parsed = 0usize;
            // The same reader as the replay's (time order, ties in a stable
            // order), minus the pipeline behind it.
            let es = EsInput {
                client: client.clone(),
                flavor,
                query,
            };
            let each = EachPage(|page: Vec<k8scop::source::elasticsearch::Hit>| {
                for hit in page {
                    let origin = k8scop::decode::DocRef::default();
                    parsed += decoder
                        .decode_source_text(hit.source_text(), origin)
                        .is_ok() as usize;
                }
            });
            read_window(&es, start, to, None, &mut { each }, &Metrics::new())
                .await
                .unwrap();
            parsed
        });
        let floor = started.elapsed();
        let floor_cores = usage.finish(1).cores();
        assert_eq!(parsed, n);

        // The replay as an operator runs it, its alerts to a file first:
        // what the pipeline costs without the server indexing the alerts,
        // which it does one at a time (see BENCHMARKS.md).
        let mut common: Vec<String> = vec![
            "replay".into(),
            "--from".into(),
            rfc(start),
            "--to".into(),
            rfc(to),
            "--es-url".into(),
            cluster.url().into(),
            "--logs-prefix".into(),
            logs.clone(),
            "--page-size".into(),
            PAGE_SIZE.to_string(),
            "--rules".into(),
            rules.path().display().to_string(),
        ];
        common.extend(threads.iter().cloned());
        let replay_args = |extra: &[&str]| -> Vec<String> {
            let extra = extra.iter().map(|s| s.to_string());
            common.iter().cloned().chain(extra).collect()
        };
        let alerts_file = rules.path().with_extension("alerts.jsonl");
        let file = alerts_file.to_str().unwrap();
        let (to_file, _, file_summary) = run_replay(replay_args(&["-o", file]), n);
        let written_to_file = std::fs::read_to_string(&alerts_file)
            .unwrap()
            .lines()
            .count();
        std::fs::remove_file(&alerts_file).ok();
        let alerts = cluster.unique_prefix("alerts");
        let (replay, peak_kib, summary) = run_replay(replay_args(&["--alerts-prefix", &alerts]), n);
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!("  {n:>8} documents (loaded in {loading:.2?})");
        println!(
            "    read + parse  {:>9.0} docs/s  ({floor:.2?})",
            rate(floor)
        );
        println!(
            "    replay        {:>9.0} docs/s  ({replay:.2?})",
            rate(replay)
        );
        println!(
            "    ratio replay / read+parse: {:.2}x",
            floor.as_secs_f64() / replay.as_secs_f64()
        );
        println!(
            "    replay, alerts to a file: {:>9.0} docs/s  ({to_file:.2?}, {:.2}x; {written_to_file} alerts, {})",
            rate(to_file),
            floor.as_secs_f64() / to_file.as_secs_f64(),
            summary_line(&file_summary, "cores used")
                .map_or(String::new(), |c| format!("cores used {c}"))
        );
        let cores_used = summary_line(&summary, "cores used").unwrap_or("not in the summary");
        println!("    replay cores used: {cores_used}");
        println!("    read + parse cores used: {floor_cores:.2}");
        println!("    replay peak RSS: {:.1} MiB", mib(peak_kib));
        if let Some(pid) = osmem {
            let now = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
            let peak = proc_status_kib(pid, "VmHWM:").unwrap_or(0);
            println!(
                "    osmem-server RSS: {:.0} MiB (peak {:.0} MiB)",
                mib(now),
                mib(peak)
            );
        }
        // Last, as it is the slowest request to the server at 1M.
        let indexed = cluster.count(&format!("{alerts}-*"));
        assert!(indexed > 0, "no alert indexed:\n{summary}");
        println!("    {indexed} alert documents indexed");
        rss.push((n, peak_kib));
    }
    let smallest = rss.iter().min_by_key(|(n, _)| *n);
    let largest = rss.iter().max_by_key(|(n, _)| *n);
    if let (Some(small), Some(large)) = (smallest, largest)
        && small.0 != large.0
    {
        println!(
            "  replay peak RSS at {} vs {} documents: {:.2}x",
            large.0,
            small.0,
            large.1 as f64 / small.1.max(1) as f64
        );
    }
}

/// One replay of `n` documents with these arguments, timed: its time, its
/// peak RSS (KiB) and its summary.
fn run_replay(args: Vec<String>, n: usize) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = replay_command()
        .args(&args)
        .env(
            "K8SCOP_LOG",
            std::env::var("K8SCOP_BENCH_LOG").unwrap_or("warn".into()),
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr (the summary) on a thread so the child never blocks.
    let stderr = child.stderr.take().unwrap();
    let summary = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = proc_status_kib(child.id(), "VmHWM:") {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let summary = summary.join().unwrap();
    if std::env::var_os("K8SCOP_BENCH_LOG").is_some() {
        eprintln!("{summary}");
    }
    assert!(status.success(), "replay failed:\n{summary}");
    assert!(
        summary.contains(&format!("fetched      {n}")),
        "the replay did not read every document:\n{summary}"
    );
    (elapsed, peak_kib, summary)
}

/// The value of a line of the replay's summary.
fn summary_line<'a>(summary: &'a str, name: &str) -> Option<&'a str> {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(str::trim)
}

/// `k8scop`, or `K8SCOP_BENCH_WRAP` (e.g. `perf record -g -o FILE`)
/// running it: a profiler then sees the replay exactly as timed. The peak
/// RSS printed is then the wrapper's, not the replay's.
fn replay_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_k8scop");
    let wrap = std::env::var("K8SCOP_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(bin);
            command
        }
        None => Command::new(bin),
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A field (in KiB) of `/proc/PID/status`, e.g. `VmHWM:`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The osmem-server this process started last (its child), if any.
fn osmem_pid() -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            stat.contains("(osmem-server)") && after.split_whitespace().nth(1) == Some(&me)
        })
        .max()
}

/// N audit events over one day, bulk-loaded in large requests, several in
/// flight: a day of mostly control-plane chatter, with people listing
/// secrets, exec-ing into pods, reading config maps and binding roles.
async fn load(url: &str, logs: &str, start: DateTime<Utc>, n: usize) {
    let http = reqwest::Client::new();
    // Only the time field is indexed (all the replay searches and sorts
    // on); the rest is kept in `_source`. The in-memory server then loads
    // several times faster, in a fraction of the memory.
    let template = json!({"index_patterns": [format!("{logs}-*")], "template": {"mappings": {
        "dynamic": false, "properties": {"@timestamp": {"type": "date"}}}}});
    http.put(format!("{url}/_index_template/{logs}"))
        .json(&template)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("cannot put the log index template: {e}"));
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..LOAD_PARALLEL)
        .map(|_| {
            let (http, next) = (http.clone(), next.clone());
            let (url, logs) = (format!("{url}/_bulk"), logs.to_string());
            tokio::spawn(async move {
                loop {
                    let first = next.fetch_add(LOAD_BULK_DOCS, Ordering::Relaxed);
                    if first >= n {
                        return;
                    }
                    let last = (first + LOAD_BULK_DOCS).min(n);
                    let body = bulk_body(&logs, start, first..last);
                    let answer: Value = http
                        .post(&url)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send()
                        .await
                        .and_then(reqwest::Response::error_for_status)
                        .unwrap_or_else(|e| panic!("loading failed: {e}"))
                        .json()
                        .await
                        .unwrap();
                    assert!(answer["errors"] == false, "loading failed: {answer}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a loading task failed");
    }
}

fn bulk_body(logs: &str, start: DateTime<Utc>, range: std::ops::Range<usize>) -> String {
    let mut body = String::with_capacity(range.len() * 900);
    for i in range {
        let time = start + chrono::Duration::milliseconds(STEP_MS * i as i64);
        let index = format!("{logs}-{}", time.format("%Y.%m.%d"));
        body.push_str(&json!({"index": {"_index": index, "_id": format!("e{i}")}}).to_string());
        body.push('\n');
        body.push_str(&audit_event(i, time).to_string());
        body.push('\n');
    }
    body
}

/// The i-th event: nine in ten are chatter (a lease renewed, a node's
/// status), the rest what people do, by a few dozen users.
fn audit_event(i: usize, time: DateTime<Utc>) -> Value {
    let ts = time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let person = format!("user-{}", i % 37);
    let (user, agent, verb, resource, sub, namespace, name, uri, code) = match i % 20 {
        0 => (
            person.as_str(),
            "kubectl/v1.29.2",
            "list",
            "secrets",
            "",
            "",
            "",
            "/api/v1/secrets".to_string(),
            200,
        ),
        5 => (
            person.as_str(),
            "kubectl/v1.29.2",
            "create",
            "pods",
            "exec",
            "payments",
            "api-0",
            format!(
                "/api/v1/namespaces/payments/pods/api-0/exec?command=id{}&container=c",
                i % 7
            ),
            101,
        ),
        10 => (
            person.as_str(),
            "kubectl/v1.29.2",
            "get",
            "configmaps",
            "",
            "kube-system",
            "kubeadm-config",
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config".to_string(),
            200,
        ),
        15 => (
            person.as_str(),
            "kubectl/v1.29.2",
            "create",
            "clusterrolebindings",
            "",
            "",
            "admin-binding",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".to_string(),
            201,
        ),
        n if n % 2 == 0 => (
            "system:node:node-1",
            "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819",
            "patch",
            "nodes",
            "status",
            "",
            "node-1",
            "/api/v1/nodes/node-1/status".to_string(),
            200,
        ),
        _ => (
            "system:kube-scheduler",
            "kube-scheduler/v1.29.2 (linux/amd64) kubernetes/4b8e819/leader-election",
            "update",
            "leases",
            "",
            "kube-system",
            "kube-scheduler",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler".into(),
            200,
        ),
    };
    json!({"@timestamp": ts, "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("a-{i}"), "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": [format!("10.0.{}.9", i % 37)],
        "userAgent": agent, "objectRef": object_ref(resource, sub, namespace, name),
        "responseStatus": {"code": code}, "requestReceivedTimestamp": ts, "stageTimestamp": ts})
}

/// An objectRef as the API server writes it: empty parts left out.
fn object_ref(resource: &str, subresource: &str, namespace: &str, name: &str) -> Value {
    let parts = [
        ("resource", resource),
        ("subresource", subresource),
        ("namespace", namespace),
        ("name", name),
    ];
    Value::Object(
        parts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}
