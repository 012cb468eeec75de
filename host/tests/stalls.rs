//! Elasticsearch stalls while `k8scop run` works: a stuck bulk write fails
//! in bounded time and loses nothing, the lag metric keeps growing, and a
//! cluster not up yet at start is waited for (live, not ready) instead of
//! exiting.

mod common;

use std::process::Child;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use common::*;
use k8scop_testkit::http_get::{get, metric};
use k8scop_testkit::{FaultProxy, Mode, PathMatch, TestCluster, rules_dir};

/// `k8scop run` against `es_url` (the proxy, or the cluster itself).
fn run_args(
    es_url: &str,
    logs: &str,
    alerts: &str,
    rules: &str,
    start: DateTime<Utc>,
    extra: &[&str],
) -> Vec<String> {
    let start = rfc3339(start);
    let flags = [
        "--start",
        start.as_str(),
        "--interval",
        "0.2",
        "--delay",
        "0.3",
        "--shutdown-grace",
        "2",
    ];
    stream_args_at(es_url, logs, alerts, rules, &[&flags[..], extra].concat())
}

fn checkpoint_cursor(cluster: &TestCluster, instance: &str) -> Option<DateTime<Utc>> {
    let (status, doc) = cluster.request(
        "GET",
        &format!("/k8scop-state-{instance}/_doc/{instance}"),
        None,
    );
    (status == 200)
        .then(|| doc["_source"]["cursor"].as_str()?.parse().ok())
        .flatten()
}

fn execs(docs: &[LogDoc]) -> u64 {
    docs.iter()
        .filter(|d| d.source["objectRef"]["subresource"] == "exec")
        .count() as u64
}

/// Wait at most `bound` for `child` to exit on its own.
fn exits_within(mut child: Child, bound: StdDuration) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {bound:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Bulk writes hang: the run stops within the write timeout (not after
/// minutes of timeouts and retries), says which index, how long, and that
/// the alerts stay unacknowledged; the checkpoint does not pass them, and
/// a restart writes them all.
#[test]
fn a_stuck_bulk_write_fails_within_the_write_timeout_naming_the_index_and_loses_nothing() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules = rules.path().to_str().unwrap();
    let t0 = Utc::now() - Duration::seconds(10);
    let docs = audit_log(&logs, t0, Duration::milliseconds(20), 150);
    index_docs(&cluster, &docs);
    let proxy = FaultProxy::start(cluster.url());
    proxy.set_mode(Mode::Hang(PathMatch::Contains("_bulk".into())));

    let args = run_args(
        &proxy.url(),
        &logs,
        &alerts,
        rules,
        t0 - Duration::seconds(1),
        &["--write-timeout", "2"],
    );
    let (status, stderr) = exits_within(spawn(&args), StdDuration::from_secs(40));
    assert!(!status.success(), "{stderr}");
    let index = format!("{alerts}-{}", t0.format("%Y.%m.%d"));
    for said in [index.as_str(), "did not finish within 2s", "unacknowledged"] {
        assert!(stderr.contains(said), "says {said:?}: {stderr}");
    }
    assert!(proxy.stats().hung > 0);
    // Nothing acknowledged, nothing checkpointed past it.
    let cursor = checkpoint_cursor(&cluster, &alerts);
    assert!(
        cursor.is_none_or(|c| c <= t0),
        "the checkpoint passed unwritten alerts: {cursor:?}"
    );

    // Restarted against a healthy server: every alert is written.
    let child = spawn(&run_args(
        cluster.url(),
        &logs,
        &alerts,
        rules,
        t0 - Duration::seconds(1),
        &[],
    ));
    let count = || alert_count(&cluster, &alerts, "k8scop-classic/pod-exec");
    assert!(
        eventually(60, || count() == execs(&docs)),
        "{} of {} exec alerts",
        count(),
        execs(&docs)
    );
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
}

/// While Elasticsearch is stuck, `k8scop_lag_seconds` keeps growing
/// between scrapes (it once froze at its value before the stall).
#[test]
fn the_lag_keeps_growing_while_elasticsearch_is_stuck() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let proxy = FaultProxy::start(cluster.url());
    let args = run_args(
        &proxy.url(),
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        Utc::now(),
        &[],
    );
    let run = LoggedRun::start(&args);
    let metrics = || get(&format!("http://{}/metrics", run.addr)).1;
    assert!(
        eventually(60, || metric(
            &metrics(),
            "k8scop_checkpoint_timestamp_seconds"
        )
        .is_some_and(|t| t > 0.0)),
        "no window completed: {}",
        metrics()
    );
    proxy.set_mode(Mode::Hang(PathMatch::Any));
    assert!(eventually(30, || proxy.stats().hung > 0), "never stuck");
    let lag = || metric(&metrics(), "k8scop_lag_seconds").expect("the lag is served");
    let first = lag();
    std::thread::sleep(StdDuration::from_secs(4));
    let second = lag();
    assert!(
        second >= first + 3.0,
        "the lag froze: {first} s, then {second} s four seconds later"
    );
    let (_, _) = terminate(run.child);
}

/// Started while nothing listens where Elasticsearch should be: alive,
/// not ready, saying where it waits and why (no credential in sight); when
/// the server comes up, it proceeds and alerts arrive.
#[test]
fn run_waits_for_elasticsearch_at_start_then_proceeds_when_it_comes_up() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let proxy = FaultProxy::start_in(cluster.url(), Mode::Refuse);
    // Credentials in the URL must never be logged (a real cluster behind
    // the proxy gets the proxy's own, so only the private server sees these).
    let secret = "s3cr3t-pw";
    let es_url = match cluster.is_external() {
        true => proxy.url(),
        false => proxy
            .url()
            .replace("http://", &format!("http://k8scop:{secret}@")),
    };
    let t0 = Utc::now();
    let docs = audit_log(&logs, t0, Duration::milliseconds(20), 60);
    index_docs(&cluster, &docs);
    let args = run_args(
        &es_url,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        t0 - Duration::seconds(1),
        &[],
    );
    let mut run = LoggedRun::start(&args);
    let ops = |path: &str| get(&format!("http://{}{path}", run.addr));

    let mut said = Vec::new();
    let waiting = |said: &mut Vec<String>| {
        said.extend(run.lines.try_iter());
        said.iter()
            .any(|l| l.contains("waiting for Elasticsearch") && l.contains(&proxy.url()))
    };
    assert!(
        eventually(30, || waiting(&mut said)),
        "no line saying it waits: {said:#?}"
    );
    std::thread::sleep(StdDuration::from_secs(3));
    assert!(run.child.try_wait().unwrap().is_none(), "{said:#?}");
    assert_eq!(ops("/readyz").0, 503);
    assert_eq!(ops("/healthz").0, 200);
    said.extend(run.lines.try_iter());
    assert!(
        said.iter().all(|l| !l.contains(secret)),
        "a credential logged: {said:#?}"
    );
    let reason = said
        .iter()
        .find(|l| l.contains("waiting for Elasticsearch"))
        .unwrap();
    assert!(reason.contains("reason="), "says why: {reason}");

    proxy.set_mode(Mode::Pass);
    let count = || alert_count(&cluster, &alerts, "k8scop-classic/pod-exec");
    assert!(
        eventually(90, || count() == execs(&docs)),
        "{} of {} exec alerts",
        count(),
        execs(&docs)
    );
    assert_eq!(ops("/readyz").0, 200);
    let (status, _) = terminate(run.child);
    assert!(status.success());
}
