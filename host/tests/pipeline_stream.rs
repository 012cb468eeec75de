//! `k8scop run`: following Elasticsearch live. Documents arriving over time
//! (some indexed after the delay has passed) each raise their alert exactly
//! once; repeats within D merge and beyond D split; the operator endpoints
//! answer; SIGTERM drains and flushes; and kill -9 at random moments ends
//! with the alert index of a run never interrupted.

mod common;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use k8scop_testkit::{TestCluster, http_get, rules_dir};
use serde_json::Value;

fn run_args(
    cluster: &TestCluster,
    logs: &str,
    alerts: &str,
    rules: &str,
    start: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args = stream_args(cluster, logs, alerts, rules, &["--start", start]);
    args.extend(s(extra));
    args
}

#[test]
fn streaming_evaluates_each_document_once_and_aggregates_within_d() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let t0 = Utc::now();
    let child = spawn(&run_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &rfc3339(t0 - Duration::seconds(2)),
        &[
            "--interval",
            "0.3",
            "--delay",
            "1",
            "--overlap",
            "20",
            "--aggregate-window",
            "3",
        ],
    ));

    // On time: five different commands (five alerts), and "id" three times
    // within D = 3 s (one alert, count 3).
    let mut docs = Vec::new();
    for i in 0..5 {
        docs.push(exec_doc(
            &logs,
            &format!("once-{i}"),
            Utc::now(),
            "alice",
            &format!("cmd{i}"),
        ));
    }
    for i in 0..3 {
        docs.push(exec_doc(
            &logs,
            &format!("rep-{i}"),
            Utc::now() + Duration::milliseconds(500 * i),
            "bob",
            "id",
        ));
    }
    index_docs(&cluster, &docs);
    // Late: stamped 4 s ago but indexed only now, after the sidecar has
    // moved its cursor past that time. The overlap re-read catches it.
    std::thread::sleep(StdDuration::from_secs(3));
    let late = exec_doc(
        &logs,
        "late",
        Utc::now() - Duration::seconds(4),
        "carol",
        "whoami",
    );
    index_docs(&cluster, std::slice::from_ref(&late));
    // Beyond D: bob's "id" again 5 s after the last: a new alert.
    std::thread::sleep(StdDuration::from_secs(2));
    let split = exec_doc(&logs, "split", Utc::now(), "bob", "id");
    index_docs(&cluster, std::slice::from_ref(&split));

    let expected = 5 + 1 + 1 + 1;
    assert!(
        eventually(30, || alerts_in(&cluster, &alerts).len() >= expected),
        "alerts never appeared: {:?}",
        alerts_in(&cluster, &alerts).keys()
    );
    // Let a few more windows (re-reading the overlap) pass: nothing changes.
    std::thread::sleep(StdDuration::from_secs(3));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("k8scop summary"),
        "SIGTERM drains and prints the summary: {stderr}"
    );

    let got = alerts_in(&cluster, &alerts);
    assert_eq!(
        got.len(),
        expected,
        "{:#?}",
        got.values()
            .map(|a| &a["k8scop"]["group_key"])
            .collect::<Vec<_>>()
    );
    let by_group = |key: &str| -> Vec<&Value> {
        got.values()
            .filter(|a| a["k8scop"]["group_key"] == key)
            .collect()
    };
    for i in 0..5 {
        let a = by_group(&format!("alice|prod|web|app|cmd{i}"));
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0]["k8scop"]["count"], 1,
            "evaluated once, though re-read in the overlap"
        );
    }
    let mut bob: Vec<u64> = by_group("bob|prod|web|app|id")
        .iter()
        .map(|a| a["k8scop"]["count"].as_u64().unwrap())
        .collect();
    bob.sort();
    assert_eq!(bob, [1, 3], "three within D merged, one beyond D split");
    let carol = by_group("carol|prod|web|app|whoami");
    assert_eq!(carol.len(), 1, "the late document is evaluated");
    assert_eq!(carol[0]["k8scop"]["count"], 1, "and only once");
    assert_eq!(carol[0]["k8scop"]["sources"][0]["id"], "late");

    // The checkpoint is in Elasticsearch, past every document.
    let (status, state) = cluster.request(
        "GET",
        &format!("/k8scop-state-{alerts}/_doc/{alerts}"),
        None,
    );
    assert_eq!(status, 200, "{state}");
    let cursor: chrono::DateTime<Utc> = state["_source"]["cursor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        cursor
            > split.source["@timestamp"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<Utc>>()
                .unwrap()
    );
}

#[test]
fn operator_endpoints_answer_while_streaming() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let mut args = run_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &rfc3339(Utc::now()),
        &["--interval", "0.2", "--delay", "0"],
    );
    // Ask for info logs to learn the metrics port from them.
    let child = {
        let mut cmd = k8scop(&args);
        cmd.env("K8SCOP_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    args.clear();
    let mut child = child;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(StdDuration::from_secs(30))
            .expect("the serving log line");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    index_docs(&cluster, &[exec_doc(&logs, "m1", Utc::now(), "dave", "ls")]);
    let get = |path: &str| http_get(&addr, path);
    assert!(eventually(20, || get("/readyz").0 == 200));
    assert_eq!(get("/healthz").0, 200);
    assert!(
        eventually(20, || get("/metrics")
            .1
            .contains("k8scop_alerts_added_total 1")),
        "{}",
        get("/metrics").1
    );
    let metrics = get("/metrics").1;
    assert!(
        metrics.contains("k8scop_documents_fetched_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("k8scop_pack_evaluation_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("k8scop_checkpoint_timestamp_seconds"),
        "{metrics}"
    );
    let status: Value = serde_json::from_str(&get("/status").1).unwrap();
    assert_eq!(status["packs"][0]["name"], "k8scop-classic");
    assert_eq!(status["packs"][0]["state"], "active");
    assert!(status["packs"][0]["documents_evaluated"].as_u64().unwrap() >= 1);

    // A broken file dropped into the rules folder: refused, shown in status
    // and metrics, and the classic pack keeps running.
    std::fs::write(rules.path().join("broken.wasm"), b"not a component").unwrap();
    std::thread::sleep(StdDuration::from_millis(800));
    index_docs(
        &cluster,
        &[exec_doc(&logs, "m2", Utc::now(), "dave", "pwd")],
    );
    assert!(
        eventually(20, || {
            let status: Value = serde_json::from_str(&get("/status").1).unwrap_or_default();
            status["refused"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("not a valid component"))
        }),
        "{}",
        get("/status").1
    );
    assert!(get("/metrics").1.contains("k8scop_packs_refused 1"));
    assert!(eventually(20, || get("/metrics")
        .1
        .contains("k8scop_alerts_added_total 2")));

    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn kill_9_at_random_moments_while_streaming_ends_with_the_uninterrupted_alert_index() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let clean = cluster.unique_prefix("clean");
    let crashed = cluster.unique_prefix("crashed");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    // Documents over the next 12 s, every 20 ms, all indexed up front: the
    // sidecars meet them window by window as time passes. Each exec session
    // ends 1.5 s after it starts: its two stages fall into different
    // windows, often around a kill.
    let t0 = Utc::now();
    let docs = with_exec_sessions(
        audit_log(&logs, t0, Duration::milliseconds(20), 600),
        Duration::milliseconds(1500),
    );
    let execs = docs
        .iter()
        .filter(|d| d.source["stage"] == "ResponseStarted")
        .count() as u64;
    index_docs(&cluster, &docs);
    let end = t0 + Duration::milliseconds(20 * 600);
    let extra = [
        "--interval",
        "0.2",
        "--delay",
        "0.3",
        "--overlap",
        "2",
        "--aggregate-window",
        "1",
    ];
    let start = rfc3339(t0 - Duration::seconds(1));

    let clean_run = spawn(&run_args(
        &cluster, &logs, &clean, &rules_arg, &start, &extra,
    ));
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    while Utc::now() < end + Duration::seconds(1) {
        let mut child = spawn(&run_args(
            &cluster, &logs, &crashed, &rules_arg, &start, &extra,
        ));
        std::thread::sleep(StdDuration::from_millis(rng.u64(400..2500)));
        let _ = child.kill(); // SIGKILL: no drain, no flush
        let _ = child.wait();
        kills += 1;
    }
    let final_start = Utc::now();
    let final_run = spawn(&run_args(
        &cluster, &logs, &crashed, &rules_arg, &start, &extra,
    ));
    // Both catch up past the last document (the final run itself, not a
    // killed one before it), then stop cleanly.
    let caught_up = |prefix: &str| {
        let (status, state) = cluster.request(
            "GET",
            &format!("/k8scop-state-{prefix}/_doc/{prefix}"),
            None,
        );
        let time = |field: &str| {
            state["_source"][field]
                .as_str()
                .and_then(|c| c.parse::<chrono::DateTime<Utc>>().ok())
        };
        status == 200
            && time("cursor").is_some_and(|c| c > end + Duration::seconds(1))
            && time("updated").is_some_and(|u| u > final_start)
    };
    assert!(
        eventually(60, || caught_up(&clean) && caught_up(&crashed)),
        "the runs never caught up"
    );
    let (status, stderr) = terminate(clean_run);
    assert!(status.success(), "{stderr}");
    let (status, stderr) = terminate(final_run);
    assert!(status.success(), "{stderr}");

    let a = alerts_in(&cluster, &clean);
    let b = alerts_in(&cluster, &crashed);
    // Each exec counted once, at its start, not again at its end.
    assert_eq!(
        alert_count(&cluster, &clean, "k8scop-classic/pod-exec"),
        execs
    );
    assert!(a.len() > 20, "{}", a.len());
    assert!(kills >= 3, "killed {kills} times");
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "seed {seed}, {kills} kills: ids only in the clean run {only_a:?}, only in the crashed {only_b:?}"
    );
    for (id, doc) in &a {
        assert_eq!(
            Some(doc),
            b.get(id),
            "seed {seed}, {kills} kills: alert {id} differs"
        );
    }
}

/// `run` without a checkpoint starts where it says (now, by default): the
/// overlap that re-reads late documents never reaches before the start, so
/// what happened minutes before raises nothing; what comes after does.
#[test]
fn a_fresh_run_evaluates_nothing_from_before_its_start() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let now = Utc::now();
    // Two minutes before the start: inside the five-minute overlap.
    let before: Vec<LogDoc> = (0..3)
        .map(|i| {
            exec_doc(
                &logs,
                &format!("before-{i}"),
                now - Duration::seconds(120 - i),
                "mallory",
                &format!("id-{i}"),
            )
        })
        .collect();
    index_docs(&cluster, &before);
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &["--interval", "0.2", "--delay", "0.2", "--overlap", "300"],
    );
    let child = spawn(&args);
    // Dated ahead, so they are searchable before any window reaches them.
    let later = Utc::now() + Duration::seconds(2);
    let after: Vec<LogDoc> = (0..2)
        .map(|i| {
            exec_doc(
                &logs,
                &format!("after-{i}"),
                later + Duration::milliseconds(i),
                "alice",
                &format!("ls-{i}"),
            )
        })
        .collect();
    index_docs(&cluster, &after);
    let count = || alert_count(&cluster, &alerts, "k8scop-classic/pod-exec");
    assert!(
        eventually(30, || count() == 2),
        "the documents after the start: {}",
        count()
    );
    std::thread::sleep(StdDuration::from_secs(1));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    let users: Vec<String> = alerts_in(&cluster, &alerts)
        .values()
        .map(|a| a["user"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(count(), 2);
    assert!(users.iter().all(|u| u == "alice"), "{users:?}");
}
