//! `k8scop replay --from --to` against a running Elasticsearch-compatible
//! server writes the same alerts as the file replay of the same documents:
//! one oracle, two paths. And a replay killed midway, then run again, ends
//! with the same alert index as one never interrupted.

mod common;

use chrono::Duration;
use common::*;
use k8scop_testkit::Succeeds;
use k8scop_testkit::{TestCluster, rules_dir};
use serde_json::Value;

#[test]
fn replay_from_elasticsearch_equals_replay_from_a_file() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    // Two hours across midnight, a document every 3 s: alice's listings come
    // every 90 s, so with D = 600 s they merge; D splits them at the gap below.
    let start = "2024-03-01T23:00:00Z".parse().unwrap();
    let mut docs = audit_log(&logs, start, Duration::seconds(3), 2400);
    // A 20-minute silence from alice in the middle splits her aggregate.
    docs.retain(|d| {
        !(d.source["user"]["username"] == "alice"
            && (800..1200).contains(&d.id[3..].parse::<usize>().unwrap()))
    });
    index_docs(&cluster, &docs);

    let rules_arg = rules.path().to_str().unwrap().to_string();
    let out = k8scop(
        &[
            s(&[
                "replay",
                "--from",
                "2024-03-01T23:00:00Z",
                "--to",
                "2024-03-02T01:00:00Z",
            ]),
            es_args(&cluster, &logs, &alerts, &rules_arg),
            s(&["--page-size", "500", "--aggregate-window", "600"]),
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("fetched      {}", docs.len())),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let hits = dir.path().join("hits.jsonl");
    write_hits(&hits, &docs);
    let file_out = dir.path().join("alerts.jsonl");
    k8scop(&s(&[
        "replay",
        "--input",
        hits.to_str().unwrap(),
        "--output",
        file_out.to_str().unwrap(),
        "--rules",
        &rules_arg,
        "--aggregate-window",
        "600",
    ]))
    .succeeds();

    let from_file: std::collections::BTreeMap<String, Value> = std::fs::read_to_string(&file_out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v.get("_id").is_none(), "{l}");
            let id = v["k8scop"]["alert_id"].as_str().unwrap().to_string();
            (id, k8scop_testkit::without_ingested(v))
        })
        .collect();
    let from_es = alerts_in(&cluster, &alerts);
    assert_eq!(from_es.len(), from_file.len());
    for (id, doc) in &from_es {
        assert_eq!(
            Some(doc),
            from_file.get(id),
            "alert {id} differs between the two paths"
        );
    }

    // What the oracle says, checked independently of the code under test.
    let alice: Vec<&Value> = from_es
        .values()
        .filter(|a| a["user"]["name"] == "alice")
        .collect();
    assert_eq!(alice.len(), 2, "split by the silence longer than D");
    let mut counts: Vec<u64> = alice
        .iter()
        .map(|a| a["k8scop"]["count"].as_u64().unwrap())
        .collect();
    counts.sort();
    let alice_docs = docs
        .iter()
        .filter(|d| d.source["user"]["username"] == "alice")
        .count() as u64;
    assert_eq!(counts.iter().sum::<u64>(), alice_docs, "exact counts");
    let execs = from_es
        .values()
        .filter(|a| a["rule"]["id"] == "k8scop-classic/pod-exec")
        .count();
    let exec_docs = docs
        .iter()
        .filter(|d| d.source["objectRef"]["subresource"] == "exec")
        .count();
    assert_eq!(execs, exec_docs, "each exec command is its own alert");
    // Alerts are dated by their first occurrence, across midnight.
    let days: std::collections::BTreeSet<&str> = from_es
        .values()
        .map(|a| &a["@timestamp"].as_str().unwrap()[..10])
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2024-03-01", "2024-03-02"]
    );
}

#[test]
fn a_replay_killed_midway_and_run_again_equals_an_uninterrupted_one() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let clean = cluster.unique_prefix("clean");
    let crashed = cluster.unique_prefix("crashed");
    let rules = rules_dir(&["k8scop-classic"]);
    let docs = audit_log(
        &logs,
        "2024-03-01T00:00:00Z".parse().unwrap(),
        Duration::seconds(1),
        30_000,
    );
    index_docs(&cluster, &docs);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    let args = |alerts: &str| {
        [
            s(&[
                "replay",
                "--from",
                "2024-03-01T00:00:00Z",
                "--to",
                "2024-03-02T00:00:00Z",
            ]),
            es_args(&cluster, &logs, alerts, &rules_arg),
            s(&["--page-size", "1000", "--aggregate-window", "120"]),
        ]
        .concat()
    };
    k8scop(&args(&clean)).succeeds();

    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..3 {
        let mut child = spawn(&args(&crashed));
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(300..1500)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    k8scop(&args(&crashed)).succeeds();

    let a = alerts_in(&cluster, &clean);
    let b = alerts_in(&cluster, &crashed);
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "kill -9 seed {seed}: the alert index differs from an uninterrupted run"
    );
}

#[test]
fn k8scop_flags_and_a_config_file_reach_the_same_replay() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let modern = cluster.unique_prefix("modern");
    let legacy = cluster.unique_prefix("legacy");
    let configured = cluster.unique_prefix("configured");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    let docs = audit_log(
        &logs,
        "2019-02-12T12:00:00Z".parse().unwrap(),
        Duration::seconds(2),
        2000,
    );
    index_docs(&cluster, &docs);

    let run = |args: Vec<String>, env: &[(&str, &str)]| {
        let mut cmd = k8scop(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        s(&[
            "replay",
            "--from",
            "2019-02-12T12:30:00Z",
            "--to",
            "2019-02-12T13:00:00Z",
            "--es-url",
            cluster.url(),
            "--logs-prefix",
            &logs,
            "--alerts-prefix",
            &modern,
            "--aggregate-window",
            "120",
            "--rules",
            &rules_arg,
        ]),
        &[],
    );
    // K8sCop's command line: host:port, -I/-i, times as Y-M-D-h-m-s (UTC).
    let host_port = cluster.url().trim_start_matches("http://").to_string();
    run(
        s(&[
            "-E",
            &host_port,
            "-I",
            &logs,
            "-i",
            &legacy,
            "-s",
            "2019-2-12-12-30-0",
            "-e",
            "2019-2-12-13-0-0",
            "-D",
            "120",
            "--analysis",
            "static",
            "--rules",
            &rules_arg,
        ]),
        &[],
    );
    // A config file, with a flag winning over it and the environment over it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(
        &config,
        format!(
            "es-url = \"{}\"\nlogs-prefix = \"{logs}\"\nalerts-prefix = \"wrong\"\naggregate-window = 5\nrules = \"/nonexistent\"\n",
            cluster.url()
        ),
    )
    .unwrap();
    run(
        s(&[
            "--config",
            config.to_str().unwrap(),
            "replay",
            "--from",
            "2019-02-12T12:30:00Z",
            "--to",
            "2019-02-12T13:00:00Z",
            "--alerts-prefix",
            &configured,
            "--rules",
            &rules_arg,
        ]),
        &[("K8SCOP_AGGREGATE_WINDOW", "120")],
    );

    let a = alerts_in(&cluster, &modern);
    assert!(!a.is_empty());
    assert_eq!(
        a,
        alerts_in(&cluster, &legacy),
        "K8sCop's flags mean the same replay"
    );
    assert_eq!(
        a,
        alerts_in(&cluster, &configured),
        "the config file, with env and flags winning"
    );
}

/// A replay over a range no index matches (a wrong prefix) reads nothing,
/// and says so with the pattern it tried instead of a silent "fetched 0".
#[test]
fn a_window_no_index_matches_is_named_not_silent() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("no-such-logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let out = k8scop(
        &[
            s(&["replay"]),
            es_args(&cluster, &logs, &alerts, rules.path().to_str().unwrap()),
            s(&[
                "--from",
                "2024-03-01T00:00:00Z",
                "--to",
                "2024-03-01T06:00:00Z",
            ]),
        ]
        .concat(),
    )
    .env("K8SCOP_LOG", "warn")
    .env("NO_COLOR", "1")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("fetched      0"), "{stderr}");
    assert!(
        stderr.contains("no index matches the window")
            && stderr.contains(&format!("{logs}-2024.03.01")),
        "{stderr}"
    );
}
