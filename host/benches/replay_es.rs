//! Replay from an Elasticsearch-compatible server, measured against the
//! floor under it, in one run:
//!
//!   cargo bench -p k8scop --bench replay_es [-- --sizes 20000,200000]
//!
//! For each size N it loads N generated audit documents into a fresh
//! osmem-server, then times
//! - read + parse: the same point-in-time pages read and decoded in
//!   process, nothing else (the cost no pipeline can avoid);
//! - replay: `k8scop replay --from --to` as an operator runs it, the classic
//!   pack evaluating everything and alerts bulk-written back;
//!
//! and reports replay throughput as a ratio of read + parse, and the
//! replay process's peak RSS (VmHWM), which must stay flat in N.

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use k8scop::decode::Decoder;
use k8scop::es::indices::LogIndices;
use k8scop::es::{EsClient, EsConfig, ServerInfo};
use k8scop::source::elasticsearch::{LogQuery, read_window};
use k8scop_testkit::{TestCluster, rules_dir};
use serde_json::json;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--sizes")
        .nth(1)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![20_000, 200_000]);
    let rules = rules_dir(&["k8scop-classic"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "replay from osmem-server vs reading and parsing the same documents (one run, same server)"
    );
    let mut rss = Vec::new();
    for n in sizes {
        let cluster = TestCluster::start();
        let logs = cluster.unique_prefix("logs");
        let start = "2024-03-01T00:00:00Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap();
        let step_ms = (24 * 3600 * 1000 / n as i64).max(1);
        load(&cluster, &logs, start, step_ms, n);
        let to = start + chrono::Duration::days(1);

        // Read + parse: the floor.
        let client = EsClient::new(&EsConfig::new(cluster.url())).unwrap();
        let started = Instant::now();
        let parsed = runtime.block_on(async {
            let flavor = ServerInfo::detect(&client).await.unwrap().flavor;
            let query = LogQuery {
                indices: LogIndices::DailyPrefix(logs.clone()),
                time_field: "@timestamp".into(),
                extra_query: None,
                page_size: 5000,
            };
            let decoder = Decoder::default();
            let mut parsed = 0usize;
            read_window(&client, flavor, &query, start, to, |page| {
                for hit in page {
                    let origin = k8scop::decode::DocRef::default();
                    parsed += decoder.decode_source(hit.source, origin).is_ok() as usize;
                }
            })
            .await
            .unwrap();
            parsed
        });
        let floor = started.elapsed();
        assert_eq!(parsed, n);

        // The replay, as an operator runs it.
        let alerts = cluster.unique_prefix("alerts");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .args([
                "replay",
                "--from",
                &rfc(start),
                "--to",
                &rfc(to),
                "--es-url",
                cluster.url(),
            ])
            .args([
                "--logs-prefix",
                &logs,
                "--alerts-prefix",
                &alerts,
                "--page-size",
                "5000",
                "--rules",
            ])
            .arg(rules.path())
            .env("K8SCOP_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut peak_kib = 0u64;
        let status = loop {
            if let Some(kib) = vm_hwm_kib(child.id()) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let replay = started.elapsed();
        assert!(status.success(), "replay failed");
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!("  {n:>8} documents");
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
        println!("    replay peak RSS: {:.1} MiB", peak_kib as f64 / 1024.0);
        rss.push((n, peak_kib));
    }
    if let (Some(first), Some(last)) = (rss.first(), rss.last())
        && first.0 != last.0
    {
        println!(
            "  peak RSS at {} vs {} documents: {:.2}x",
            last.0,
            first.0,
            last.1 as f64 / first.1.max(1) as f64
        );
    }
}

fn rfc(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// N audit events over one day: chatter, with secret listings and execs.
fn load(cluster: &TestCluster, logs: &str, start: chrono::DateTime<Utc>, step_ms: i64, n: usize) {
    let mut body = String::new();
    for i in 0..n {
        let time = start + chrono::Duration::milliseconds(step_ms * i as i64);
        let ts = time.to_rfc3339_opts(SecondsFormat::Millis, true);
        let (user, verb, resource, sub, uri, code) = match i % 20 {
            0 => (
                "alice",
                "list",
                "secrets",
                "",
                "/api/v1/secrets".to_string(),
                200,
            ),
            5 => (
                "bob",
                "create",
                "pods",
                "exec",
                format!(
                    "/api/v1/namespaces/p/pods/w/exec?command=id{}&container=c",
                    i % 500
                ),
                101,
            ),
            _ => (
                "system:kube-scheduler",
                "update",
                "leases",
                "",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/s".into(),
                200,
            ),
        };
        let doc = json!({"@timestamp": ts, "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("a-{i}"), "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
            "userAgent": "kubectl/v1.29.2", "objectRef": {"resource": resource, "subresource": sub, "namespace": "p", "name": "w"},
            "responseStatus": {"code": code}, "requestReceivedTimestamp": ts, "stageTimestamp": ts});
        body.push_str(&json!({"index": {"_index": format!("{logs}-{}", time.format("%Y.%m.%d")), "_id": format!("e{i}")}}).to_string());
        body.push('\n');
        body.push_str(&doc.to_string());
        body.push('\n');
        if (i + 1) % 5000 == 0 || i + 1 == n {
            let (status, answer) = cluster.request_ndjson("/_bulk", &body);
            assert!(
                status == 200 && answer["errors"] == false,
                "loading failed: {answer}"
            );
            body.clear();
        }
    }
    cluster.refresh(&format!("{logs}-*"));
}
