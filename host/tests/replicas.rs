//! Three replicas of `k8scop run` share a fleet's log through leases in
//! the test server; one is killed (-9) mid-stream; the others take its
//! partition over from its checkpoint; the alert index ends document for
//! document as a single run's. Timing and each process's peak memory are
//! printed (`--no-capture`) for BENCHMARKS.md.

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use common::*;
use k8scop_testkit::{TestCluster, http_get, rules_dir};
use serde_json::{Value, json};

const CLUSTERS: [&str; 3] = ["east", "west", "north"];

/// The generated log, each block of 30 documents from one cluster in turn
/// (so every cluster has listings, execs and pod creations).
fn fleet_log(logs: &str, t0: DateTime<Utc>, n: usize) -> Vec<LogDoc> {
    let mut docs = audit_log(logs, t0, Duration::milliseconds(20), n);
    for (i, doc) in docs.iter_mut().enumerate() {
        doc.source["cluster"] = json!(CLUSTERS[(i / 30) % 3]);
    }
    with_exec_sessions(docs, Duration::milliseconds(1500))
}

/// A document of the state index (leases, checkpoints): `Null` if none.
fn state_doc(cluster: &TestCluster, alerts: &str, id: &str) -> Value {
    let (status, doc) = cluster.request("GET", &format!("/k8scop-state-{alerts}/_doc/{id}"), None);
    match status {
        200 => doc["_source"].clone(),
        _ => Value::Null,
    }
}

/// The holder (its pid) of each partition's unexpired lease.
fn lease_pids(cluster: &TestCluster, alerts: &str) -> BTreeMap<String, u32> {
    CLUSTERS
        .iter()
        .filter_map(|partition| {
            let doc = state_doc(cluster, alerts, &format!("{alerts}-lease-{partition}"));
            let expires: DateTime<Utc> = doc["expires_at"].as_str()?.parse().ok()?;
            // holder = host-pid-random
            let pid = doc["holder"].as_str()?.rsplit('-').nth(1)?.parse().ok()?;
            (expires > Utc::now()).then_some((partition.to_string(), pid))
        })
        .collect()
}

fn cursor_of(doc: &Value, field: &str) -> Option<DateTime<Utc>> {
    doc[field].as_str()?.parse().ok()
}

/// Peak resident memory of a running process, in MiB (Linux `VmHWM`).
fn peak_rss_mib(child: &Child) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[test]
fn three_replicas_one_killed_mid_stream_end_with_the_alert_index_of_a_single_run() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let single = cluster.unique_prefix("single");
    let fleet = cluster.unique_prefix("fleet");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    // Documents from a few seconds ahead, over 24 s, all indexed up front:
    // the runs meet them window by window as time passes.
    let t0 = Utc::now() + Duration::seconds(3);
    let n = 1200;
    let docs = fleet_log(&logs, t0, n);
    index_docs(&cluster, &docs);
    let end = t0 + Duration::milliseconds(20 * n as i64 + 1500);
    let start = rfc3339(t0 - Duration::seconds(1));
    let common = [
        "--start",
        &start,
        "--interval",
        "0.2",
        "--delay",
        "0.3",
        "--overlap",
        "2",
        "--aggregate-window",
        "1",
        "--cluster-field",
        "cluster",
    ];
    let partitions = [
        "--partition",
        "east=cluster:east",
        "--partition",
        "west=cluster:west",
        "--partition",
        "north={\"term\": {\"cluster\": \"north\"}}",
        "--lease-ttl",
        "3",
    ];
    let (started, started_at) = (Instant::now(), Utc::now());
    let single_run = spawn(&stream_args(&cluster, &logs, &single, &rules_arg, &common));
    let replica_args = stream_args(
        &cluster,
        &logs,
        &fleet,
        &rules_arg,
        &[&common[..], &partitions[..]].concat(),
    );
    let mut replicas: Vec<Child> = (0..3).map(|_| spawn(&replica_args)).collect();

    // Each replica works one partition, then the one holding `west` dies
    // while the log is still being read.
    let pids: Vec<u32> = replicas.iter().map(Child::id).collect();
    assert!(
        eventually(120, || {
            let held = lease_pids(&cluster, &fleet);
            held.len() == 3
                && pids
                    .iter()
                    .all(|p| held.values().filter(|h| *h == p).count() == 1)
        }),
        "the replicas never split the partitions one each: {:?}",
        lease_pids(&cluster, &fleet)
    );
    let west_checkpoint = format!("{fleet}-partition-west");
    assert!(
        eventually(120, || cursor_of(
            &state_doc(&cluster, &fleet, &west_checkpoint),
            "cursor"
        )
        .is_some_and(|c| c > t0 + Duration::seconds(2))),
        "west never checkpointed"
    );
    let victim_pid = lease_pids(&cluster, &fleet)["west"];
    let victim = replicas.iter().position(|c| c.id() == victim_pid).unwrap();
    let mut victim = replicas.remove(victim);
    let victim_rss = peak_rss_mib(&victim);
    let killed_at = Utc::now();
    let _ = victim.kill(); // SIGKILL: no drain, no flush, no release
    let _ = victim.wait();

    // A survivor takes `west` over once its lease expires.
    assert!(
        eventually(120, || lease_pids(&cluster, &fleet)
            .get("west")
            .is_some_and(|pid| *pid != victim_pid)),
        "nobody took west over: {:?}",
        lease_pids(&cluster, &fleet)
    );
    // Everything is read: every checkpoint past the last document, the
    // partitions' written after the kill.
    let caught_up = |alerts: &str, id: &str, after: DateTime<Utc>| {
        let c = state_doc(&cluster, alerts, id);
        cursor_of(&c, "cursor").is_some_and(|t| t > end + Duration::seconds(1))
            && cursor_of(&c, "updated").is_some_and(|u| u > after)
    };
    assert!(
        eventually(180, || caught_up(&single, &single, t0)
            && CLUSTERS.iter().all(|p| caught_up(
                &fleet,
                &format!("{fleet}-partition-{p}"),
                killed_at
            ))),
        "the runs never caught up"
    );
    let took = started.elapsed();
    let held = lease_pids(&cluster, &fleet);
    let survivors: Vec<String> = replicas
        .iter()
        .map(|c| {
            let partitions = held.values().filter(|pid| **pid == c.id()).count();
            format!(
                "{:.1} MiB ({partitions} partitions at the end)",
                peak_rss_mib(c)
            )
        })
        .collect();
    eprintln!(
        "replicas: {} documents in 3 partitions, the last dated {:.1} s after the start; all read {:.1} s after the start; \
         peak RSS: survivors {}, killed {victim_rss:.1} MiB (1 partition); the single run {:.1} MiB",
        docs.len(),
        (end - started_at).num_milliseconds() as f64 / 1000.0,
        took.as_secs_f64(),
        survivors.join(", "),
        peak_rss_mib(&single_run),
    );

    for child in replicas {
        let (status, stderr) = terminate(child);
        assert!(status.success(), "{stderr}");
        assert!(stderr.contains("partition "), "{stderr}");
    }
    let (status, stderr) = terminate(single_run);
    assert!(status.success(), "{stderr}");

    let one = alerts_in(&cluster, &single);
    let shared = alerts_in(&cluster, &fleet);
    assert!(one.len() > 30, "{}", one.len());
    for cluster_name in CLUSTERS {
        assert!(
            one.values()
                .any(|a| a["orchestrator"]["cluster"]["name"] == cluster_name),
            "no alert of {cluster_name}"
        );
    }
    let only_one: Vec<&String> = one.keys().filter(|k| !shared.contains_key(*k)).collect();
    let only_shared: Vec<&String> = shared.keys().filter(|k| !one.contains_key(*k)).collect();
    assert!(
        only_one.is_empty() && only_shared.is_empty(),
        "ids only in the single run {only_one:?}, only in the replicas' {only_shared:?}"
    );
    for (id, doc) in &one {
        assert_eq!(Some(doc), shared.get(id), "alert {id} differs");
    }
    // Stopped cleanly, the survivors released their leases (deleted, not
    // left to expire) and left the roster.
    for partition in CLUSTERS {
        let lease = state_doc(&cluster, &fleet, &format!("{fleet}-lease-{partition}"));
        assert_eq!(lease, Value::Null, "{partition}");
    }
    let roster = state_doc(&cluster, &fleet, &format!("{fleet}-replicas"));
    assert_eq!(roster["members"], json!({}), "{roster}");
}

/// A lease taken from under a live replica (its renewal finds another
/// version): the replica stops reading that partition at once, writes no
/// more of its checkpoint and does not take it back while the other
/// holder's lease runs; once the lease is free again, it resumes.
#[test]
fn a_replica_whose_lease_is_taken_stops_the_partition_and_resumes_when_it_is_free() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let fleet = cluster.unique_prefix("fleet");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    let t0 = Utc::now();
    index_docs(&cluster, &fleet_log(&logs, t0, 30));
    let start = rfc3339(t0 - Duration::seconds(1));
    let run = LoggedRun::start(&stream_args(
        &cluster,
        &logs,
        &fleet,
        &rules_arg,
        &[
            "--start",
            &start,
            "--interval",
            "0.2",
            "--delay",
            "0.3",
            "--partition",
            "east=cluster:east",
            "--lease-ttl",
            "6",
        ],
    ));
    let metrics =
        |name: &str| k8scop_testkit::http_get::metric(&http_get(&run.addr, "/metrics").1, name);
    let checkpoint = format!("{fleet}-partition-east");
    let updated = || cursor_of(&state_doc(&cluster, &fleet, &checkpoint), "updated");
    assert!(
        eventually(120, || updated().is_some()),
        "east never checkpointed"
    );
    assert_eq!(metrics("k8scop_leases_held"), Some(1.0));

    // Another holder writes the lease (as a replica that took it over would).
    let lease = format!("/k8scop-state-{fleet}/_doc/{fleet}-lease-east");
    let thief = json!({"partition": "east", "holder": "thief-1-0",
        "expires_at": rfc3339(Utc::now() + Duration::minutes(10))});
    let (status, answer) = cluster.request("PUT", &lease, Some(&thief));
    assert!(status == 200 || status == 201, "{answer}");
    assert!(
        eventually(60, || metrics("k8scop_leases_lost_total") >= Some(1.0)),
        "the replica never noticed"
    );
    assert_eq!(metrics("k8scop_leases_held"), Some(0.0));
    // Stopped: the checkpoint no longer moves, though windows keep coming
    // (a tick is 0.2 s), and the lease stays the other holder's.
    let last = updated();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        updated(),
        last,
        "the checkpoint was written after the lease was lost"
    );
    assert_eq!(
        state_doc(&cluster, &fleet, &format!("{fleet}-lease-east"))["holder"],
        "thief-1-0"
    );

    // The other holder releases it: the replica takes it back and resumes.
    let (status, answer) = cluster.request("DELETE", &lease, None);
    assert_eq!(status, 200, "{answer}");
    assert!(
        eventually(60, || updated() > last
            && metrics("k8scop_leases_held") == Some(1.0)),
        "the replica never resumed"
    );
    // Taken back as a fresh lease (a busy machine may add a lapse and a
    // retake of its own).
    assert!(metrics("k8scop_leases_acquired_total{how=\"fresh\"}") >= Some(2.0));
    // SIGTERM: the window finishes and the lease is released, within a
    // tick (2 s) rather than the TTL, whatever the machine's load.
    let (status, stderr) = terminate(run.child);
    assert!(status.success(), "{stderr}");
    let lease = state_doc(&cluster, &fleet, &format!("{fleet}-lease-east"));
    assert_eq!(lease, Value::Null, "released on the way out");
}

/// A wrong set of partitions is a configuration error, said at once, not
/// after waiting for an Elasticsearch that is not there.
#[test]
fn wrong_partitions_are_refused_before_waiting_for_elasticsearch() {
    let rules = rules_dir(&["k8scop-classic"]);
    let rules = rules.path().to_str().unwrap();
    for (partitions, says) in [
        (&["a=*", "b=*"][..], "only one partition may be *"),
        (&["a=c:x", "a=c:y"][..], "named twice"),
        (&["nameless"][..], "NAME=QUERY"),
    ] {
        let mut args = s(&["run", "--es-url", "http://127.0.0.1:9", "--rules", rules]);
        args.extend(s(&["--listen", "127.0.0.1:0"]));
        for p in partitions {
            args.extend(s(&["--partition", p]));
        }
        let out = k8scop(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{partitions:?}");
        assert!(stderr.contains(says), "{partitions:?}: {stderr}");
    }
}
