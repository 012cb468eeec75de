//! Bounded shutdown: SIGTERM while an Elasticsearch request hangs or keeps
//! failing ends the process within `--shutdown-grace` (plus a little), not
//! after the minutes of timeouts and retries; the checkpoint stays valid
//! and never passes what was evaluated and written; a restart against a
//! healthy server ends with the alert index of a run never interrupted.

mod common;

use std::process::Child;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use common::*;
use k8scop_testkit::{FaultProxy, Mode, PathMatch, TestCluster, rules_dir};
use serde_json::{Value, json};

/// `k8scop run` against `es_url` (the proxy, or the cluster itself).
fn run_args(es_url: &str, logs: &str, alerts: &str, rules: &str, start: &str) -> Vec<String> {
    stream_args_at(
        es_url,
        logs,
        alerts,
        rules,
        &[
            "--start",
            start,
            "--interval",
            "0.2",
            "--delay",
            "0.3",
            "--overlap",
            "2",
            "--aggregate-window",
            "1",
            "--shutdown-grace",
            "3",
        ],
    )
}

/// The checkpoint of `instance`, as stored: `None` when there is none.
fn checkpoint(cluster: &TestCluster, instance: &str) -> Option<Value> {
    let (status, doc) = cluster.request(
        "GET",
        &format!("/k8scop-state-{instance}/_doc/{instance}"),
        None,
    );
    (status == 200).then(|| doc["_source"].clone())
}

fn time_of(checkpoint: &Value, field: &str) -> Option<DateTime<Utc>> {
    checkpoint[field].as_str()?.parse().ok()
}

/// SIGTERM, then wait at most `bound` for the exit: how long it took and
/// what it said. Killed (and the test failed) past the bound.
fn terminate_within(mut child: Child, bound: StdDuration) -> (StdDuration, String) {
    let pid = child.id().to_string();
    let asked = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    while child.try_wait().unwrap().is_none() {
        if asked.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running {bound:?} after SIGTERM: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let took = asked.elapsed();
    let out = child.wait_with_output().unwrap();
    (took, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The same documents under other ids and request ids, from `start`.
fn later_log(logs: &str, start: DateTime<Utc>, n: usize) -> Vec<LogDoc> {
    audit_log(logs, start, Duration::milliseconds(20), n)
        .into_iter()
        .map(|mut d| {
            d.id = format!("late-{}", d.id);
            let audit_id = format!("late-{}", d.source["auditID"].as_str().unwrap());
            d.source["auditID"] = json!(audit_id);
            d
        })
        .collect()
}

/// The stopped run, in front of a stuck cluster, and the run never
/// interrupted, over the same log.
fn sigterm_while_stuck(stuck: Mode) {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let clean = cluster.unique_prefix("clean");
    let stopped = cluster.unique_prefix("stopped");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules = rules.path().to_str().unwrap();
    let t0 = Utc::now() - Duration::seconds(20);
    let before = audit_log(&logs, t0, Duration::milliseconds(20), 300);
    index_docs(&cluster, &before);
    let start = rfc3339(t0 - Duration::seconds(1));
    let proxy = FaultProxy::start(cluster.url());

    let clean_run = spawn(&run_args(cluster.url(), &logs, &clean, rules, &start));
    let stopped_run = spawn(&run_args(&proxy.url(), &logs, &stopped, rules, &start));
    let before_end = t0 + Duration::seconds(6);
    assert!(
        eventually(60, || checkpoint(&cluster, &stopped)
            .and_then(|c| time_of(&c, "cursor"))
            .is_some_and(|c| c > before_end)),
        "the run through the proxy never checkpointed past the first documents"
    );

    // Elasticsearch gets stuck; more documents arrive meanwhile.
    proxy.set_mode(stuck);
    let stuck_at = Utc::now();
    let after_start = stuck_at + Duration::seconds(1);
    let after = later_log(&logs, after_start, 100);
    index_docs(&cluster, &after);
    let after_end = after_start + Duration::milliseconds(20 * 100);
    assert!(
        eventually(30, || {
            let stats = proxy.stats();
            stats.hung + stats.status_faults > 0
        }),
        "no request reached the stuck proxy"
    );
    std::thread::sleep(StdDuration::from_secs(1));

    let (took, stderr) = terminate_within(stopped_run, StdDuration::from_secs(25));
    assert!(
        stderr.contains("shutdown grace elapsed"),
        "says why it stopped: {stderr}"
    );
    // The checkpoint is whole, and never past what was written.
    let saved = checkpoint(&cluster, &stopped).expect("the checkpoint is still there");
    let cursor = time_of(&saved, "cursor").expect("a valid cursor");
    assert!(
        cursor <= stuck_at,
        "the checkpoint ran ahead to {cursor}, stuck at {stuck_at}"
    );
    assert!(saved["aggregates"].is_array(), "{saved}");

    // Restarted against a healthy server, it catches up: nothing lost.
    let restarted_at = Utc::now();
    let restarted = spawn(&run_args(cluster.url(), &logs, &stopped, rules, &start));
    let caught_up = |instance: &str| {
        checkpoint(&cluster, instance).is_some_and(|c| {
            time_of(&c, "cursor").is_some_and(|t| t > after_end + Duration::seconds(1))
                && time_of(&c, "updated").is_some_and(|u| u > restarted_at)
        })
    };
    assert!(
        eventually(60, || caught_up(&clean) && caught_up(&stopped)),
        "the runs never caught up"
    );
    let (status, stderr) = terminate(clean_run);
    assert!(status.success(), "{stderr}");
    let (status, stderr) = terminate(restarted);
    assert!(status.success(), "{stderr}");

    let execs = before
        .iter()
        .chain(&after)
        .filter(|d| d.source["objectRef"]["subresource"] == "exec")
        .count() as u64;
    assert_eq!(
        alert_count(&cluster, &clean, "k8scop-classic/pod-exec"),
        execs
    );
    let a = alerts_in(&cluster, &clean);
    let b = alerts_in(&cluster, &stopped);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same alerts (took {took:?} to stop)"
    );
    for (id, doc) in &a {
        assert_eq!(Some(doc), b.get(id), "alert {id} differs");
    }
}

/// Every request hangs (a cluster that accepts and never answers).
#[test]
fn sigterm_while_elasticsearch_hangs_exits_within_the_grace_and_a_restart_loses_nothing() {
    sigterm_while_stuck(Mode::Hang(PathMatch::Any));
}

/// Every search gets 503: retried with backoff (for minutes, before).
#[test]
fn sigterm_while_elasticsearch_answers_503_exits_within_the_grace_and_a_restart_loses_nothing() {
    sigterm_while_stuck(Mode::Status(PathMatch::Contains("_search".into()), 503));
}
