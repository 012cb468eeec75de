//! Shared by the end-to-end tests: a generated audit log with repeats (for
//! aggregation), loading it into the test cluster, running the binary, and
//! reading an alert index back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use k8scop_testkit::TestCluster;
use serde_json::{Value, json};

/// One generated log document and where it goes.
pub struct LogDoc {
    pub index: String,
    pub id: String,
    pub source: Value,
}

/// A `kubectl exec` of `command` by `user` into prod/web at `time`.
pub fn exec_doc(
    logs: &str,
    id: &str,
    time: chrono::DateTime<Utc>,
    user: &str,
    command: &str,
) -> LogDoc {
    let ts = rfc3339(time);
    LogDoc {
        index: format!("{logs}-{}", time.format("%Y.%m.%d")),
        id: id.to_string(),
        source: json!({"@timestamp": ts, "kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete",
            "verb": "create", "requestURI": format!("/api/v1/namespaces/prod/pods/web/exec?command={command}&container=app"),
            "user": {"username": user}, "sourceIPs": ["10.1.1.1"],
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "web"},
            "responseStatus": {"code": 101}, "stageTimestamp": ts}),
    }
}

/// `n` documents from `start`, `step` apart: mostly control-plane chatter,
/// alice listing secrets every 30th document (repeats that aggregate),
/// execs with a command per 10 documents (each its own alert), and a pod
/// created by carol now and then.
pub fn audit_log(prefix: &str, start: DateTime<Utc>, step: Duration, n: usize) -> Vec<LogDoc> {
    (0..n)
        .map(|i| {
            let time = start + step * i as i32;
            let (user, verb, resource, sub, uri, code) = match i % 30 {
                0 => ("alice", "list", "secrets", "", "/api/v1/secrets".to_string(), 200),
                7 | 17 | 27 => (
                    "bob",
                    "create",
                    "pods",
                    "exec",
                    format!("/api/v1/namespaces/prod/pods/web/exec?command=cat&command=%2Fetc%2Fpasswd-{}&container=app", i / 10),
                    101,
                ),
                13 => ("carol", "create", "pods", "", "/api/v1/namespaces/dev/pods".to_string(), 201),
                _ => ("system:kube-scheduler", "update", "leases", "", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/s".to_string(), 200),
            };
            let ts = time.to_rfc3339_opts(SecondsFormat::Millis, true);
            LogDoc {
                index: format!("{prefix}-{}", time.format("%Y.%m.%d")),
                id: format!("ev-{i:06}"),
                source: json!({"@timestamp": ts, "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                    "auditID": format!("a-{i}"), "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
                    "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
                    "userAgent": "kubectl/v1.29.2",
                    "objectRef": {"resource": resource, "subresource": sub, "namespace": "prod", "name": "web"},
                    "responseStatus": {"code": code}, "requestReceivedTimestamp": ts, "stageTimestamp": ts}),
            }
        })
        .collect()
}

/// The log as an API server writes long-running requests: each exec at
/// `ResponseStarted`, and again at `ResponseComplete` when its session ends
/// `session` later (same `auditID`, a document of its own). Each exec must
/// still count once, whatever windows and restarts fall in between.
pub fn with_exec_sessions(docs: Vec<LogDoc>, session: Duration) -> Vec<LogDoc> {
    let mut out = Vec::with_capacity(docs.len());
    for mut doc in docs {
        if doc.source["objectRef"]["subresource"] != "exec" {
            out.push(doc);
            continue;
        }
        doc.source["stage"] = json!("ResponseStarted");
        let mut end = LogDoc {
            index: doc.index.clone(),
            id: format!("{}-end", doc.id),
            source: doc.source.clone(),
        };
        let started: DateTime<Utc> = doc.source["@timestamp"].as_str().unwrap().parse().unwrap();
        let ended = (started + session).to_rfc3339_opts(SecondsFormat::Millis, true);
        end.index = format!(
            "{}-{}",
            doc.index.rsplit_once('-').unwrap().0,
            (started + session).format("%Y.%m.%d")
        );
        end.source["stage"] = json!("ResponseComplete");
        end.source["@timestamp"] = json!(ended);
        end.source["stageTimestamp"] = json!(ended);
        out.push(doc);
        out.push(end);
    }
    out
}

/// Index documents (by id) and make them searchable.
pub fn index_docs(cluster: &TestCluster, docs: &[LogDoc]) {
    for chunk in docs.chunks(2000) {
        let mut body = String::new();
        for d in chunk {
            body.push_str(&json!({"index": {"_index": d.index, "_id": d.id}}).to_string());
            body.push('\n');
            body.push_str(&d.source.to_string());
            body.push('\n');
        }
        let (status, answer) = cluster.request_ndjson("/_bulk", &body);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["errors"], false, "{answer}");
    }
    for index in docs
        .iter()
        .map(|d| d.index.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        cluster.refresh(index);
    }
}

/// The same documents as search hits in a JSON-lines file, as exported
/// from Elasticsearch: the file path of the pipeline sees the same ids.
pub fn write_hits(path: &Path, docs: &[LogDoc]) {
    let lines: Vec<String> = docs
        .iter()
        .map(|d| json!({"_index": d.index, "_id": d.id, "_source": d.source}).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Every alert of `<prefix>-*`, by id.
pub fn alerts_in(cluster: &TestCluster, prefix: &str) -> BTreeMap<String, Value> {
    let pattern = format!("{prefix}-*");
    cluster.refresh(&pattern);
    let (status, answer) = cluster.request(
        "POST",
        &format!("/{pattern}/_search?ignore_unavailable=true"),
        Some(&json!({"size": 10000, "query": {"match_all": {}}})),
    );
    if status == 404 {
        return BTreeMap::new();
    }
    assert_eq!(status, 200, "{answer}");
    answer["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let doc = h["_source"].clone();
            (
                h["_id"].as_str().unwrap().to_string(),
                k8scop_testkit::without_ingested(doc),
            )
        })
        .collect()
}

/// The number of alerts of `rule` in `<prefix>-*`: the sum of the
/// aggregates' exact counts.
pub fn alert_count(cluster: &TestCluster, prefix: &str, rule: &str) -> u64 {
    alerts_in(cluster, prefix)
        .values()
        .filter(|a| a["rule"]["id"] == rule)
        .map(|a| a["k8scop"]["count"].as_u64().unwrap())
        .sum()
}

/// The k8scop binary with these arguments, logs quiet, stderr captured;
/// `K8SCOP_TEST_BIN` names another build (a release one, to measure it).
pub fn k8scop(args: &[String]) -> Command {
    let bin =
        std::env::var_os("K8SCOP_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_k8scop").into());
    let mut cmd = Command::new(bin);
    cmd.args(args).env("K8SCOP_LOG", "warn");
    cmd
}

pub fn spawn(args: &[String]) -> Child {
    k8scop(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start k8scop")
}

/// Ask a running k8scop to stop (SIGTERM) and wait for it.
pub fn terminate(child: Child) -> (std::process::ExitStatus, String) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Poll `check` until it is true or `seconds` pass.
pub fn eventually(seconds: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    check()
}

/// `k8scop run` following `logs` into `alerts` with the packs of `rules`,
/// its ops endpoints on a free port, and `extra` flags.
pub fn stream_args(
    cluster: &TestCluster,
    logs: &str,
    alerts: &str,
    rules: &str,
    extra: &[&str],
) -> Vec<String> {
    stream_args_at(cluster.url(), logs, alerts, rules, extra)
}

/// [`stream_args`] against `es_url` (a fault proxy in front of the cluster).
pub fn stream_args_at(
    es_url: &str,
    logs: &str,
    alerts: &str,
    rules: &str,
    extra: &[&str],
) -> Vec<String> {
    [
        s(&["run"]),
        es_args_at(es_url, logs, alerts, rules),
        s(&["--listen", "127.0.0.1:0", "--instance", alerts]),
        s(extra),
    ]
    .concat()
}

/// Where a run against the test cluster reads, writes and finds its packs:
/// `--es-url`, `--logs-prefix`, `--alerts-prefix`, `--rules`.
pub fn es_args(cluster: &TestCluster, logs: &str, alerts: &str, rules: &str) -> Vec<String> {
    es_args_at(cluster.url(), logs, alerts, rules)
}

/// [`es_args`] against `es_url`.
pub fn es_args_at(es_url: &str, logs: &str, alerts: &str, rules: &str) -> Vec<String> {
    s(&[
        "--es-url",
        es_url,
        "--logs-prefix",
        logs,
        "--alerts-prefix",
        alerts,
        "--rules",
        rules,
    ])
}

/// A running `k8scop run` whose info log is read line by line, and the
/// address its ops endpoints (/status, /readyz, ...) are served on.
pub struct LoggedRun {
    pub child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    pub addr: String,
}

impl LoggedRun {
    pub fn start(args: &[String]) -> LoggedRun {
        let mut child = k8scop(args)
            .env("K8SCOP_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start k8scop");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Info logs name the address the ops endpoints are served on.
        let addr = loop {
            let line = lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the log line naming the ops address");
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        LoggedRun { child, lines, addr }
    }
}
