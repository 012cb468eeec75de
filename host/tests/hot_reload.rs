//! Hot reload: the rules folder is the deployment. New files load, changed
//! files replace their pack, removed files unload, a refused file leaves the
//! old version running, and a ConfigMap-style symlink swap is one reload.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration as StdDuration;

use chrono::Utc;
use common::*;
use k8scop::engine::{EngineConfig, RuleEngine};
use k8scop::rules_watch::RulesWatcher;
use k8scop_testkit::{TestCluster, build_pack, http_get, rules_dir};

fn names(engine: &RuleEngine) -> Vec<String> {
    engine.packs().map(|p| p.name().to_string()).collect()
}

#[test]
fn syncing_the_folder_loads_replaces_and_unloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    assert!(engine.sync_dir(dir.path()).unwrap().is_empty());

    std::fs::copy(
        build_pack("k8scop-classic"),
        dir.path().join("classic.wasm"),
    )
    .unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, ["k8scop-classic"]);
    // Touching a file without changing it reloads nothing.
    std::fs::copy(
        build_pack("k8scop-classic"),
        dir.path().join("classic.wasm"),
    )
    .unwrap();
    assert!(engine.sync_dir(dir.path()).unwrap().is_empty());

    // Another pack's bytes under the same file name replace the pack.
    std::fs::copy(build_pack("hostile-snoop"), dir.path().join("classic.wasm")).unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.replaced, ["hostile-snoop"]);
    assert_eq!(names(&engine), ["hostile-snoop"]);

    // A broken file is refused and the version already loaded keeps running.
    std::fs::write(dir.path().join("classic.wasm"), b"garbage").unwrap();
    let report = engine.sync_dir(dir.path()).unwrap();
    assert_eq!(report.refused.len(), 1);
    assert!(
        report.refused[0]
            .1
            .to_string()
            .contains("not a valid component")
    );
    assert_eq!(names(&engine), ["hostile-snoop"]);

    std::fs::remove_file(dir.path().join("classic.wasm")).unwrap();
    assert_eq!(engine.sync_dir(dir.path()).unwrap().unloaded, 1);
    assert!(names(&engine).is_empty());
}

/// Kubernetes mounts a ConfigMap as `..data -> ..<timestamp>/` with each key
/// a symlink through `..data`; an update writes a new timestamped folder and
/// renames a new `..data` over the old one.
fn configmap_version(root: &Path, version: &str, pack: &Path) {
    let folder = root.join(version);
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(pack, folder.join("rules.wasm")).unwrap();
    let tmp = root.join("..data_tmp");
    symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, root.join("..data")).unwrap();
}

#[test]
fn a_configmap_symlink_swap_is_exactly_one_reload() {
    let root = tempfile::tempdir().unwrap();
    configmap_version(
        root.path(),
        "..2024_03_01_10_00_00.1",
        &build_pack("k8scop-classic"),
    );
    symlink("..data/rules.wasm", root.path().join("rules.wasm")).unwrap();
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.load_dir(root.path()).unwrap();
    assert_eq!(names(&engine), ["k8scop-classic"]);

    let (_watcher, signals) =
        RulesWatcher::start(root.path(), StdDuration::from_millis(200)).unwrap();
    configmap_version(
        root.path(),
        "..2024_03_01_10_05_00.2",
        &build_pack("hostile-snoop"),
    );
    // The first signal may come late on a loaded machine; after it, the
    // quiet period must pass with no second one.
    signals
        .recv_timeout(StdDuration::from_secs(30))
        .expect("a signal for the swap");
    std::thread::sleep(StdDuration::from_millis(800));
    let more = signals.try_iter().count();
    assert_eq!(more, 0, "one debounced signal for the swap");
    let report = engine.sync_dir(root.path()).unwrap();
    assert_eq!(report.replaced, ["hostile-snoop"], "{report:?}");
    assert_eq!(names(&engine), ["hostile-snoop"]);
    // Nothing more happens afterwards.
    std::thread::sleep(StdDuration::from_millis(600));
    assert_eq!(signals.try_iter().count(), 0);
    assert!(engine.sync_dir(root.path()).unwrap().is_empty());
}

#[test]
fn a_pack_dropped_in_while_streaming_sees_every_later_document() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let rules_arg = rules.path().to_str().unwrap().to_string();
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        &rules_arg,
        &[
            "--start",
            &rfc3339(Utc::now()),
            "--interval",
            "0.2",
            "--delay",
            "0.5",
            "--overlap",
            "5",
            "--aggregate-window",
            "600",
        ],
    );
    let child = spawn(&args);
    std::thread::sleep(StdDuration::from_secs(2));

    // Deploy: copy the pack in (written under a temporary name, then
    // renamed, as a careful operator or a ConfigMap does).
    let tmp = rules.path().join("snoop.wasm.tmp");
    std::fs::copy(build_pack("hostile-snoop"), &tmp).unwrap();
    std::fs::rename(&tmp, rules.path().join("snoop.wasm")).unwrap();
    std::thread::sleep(StdDuration::from_secs(1));

    // Documents from now on: the snoop pack raises one alert for each
    // (aggregated into one with an exact count); the classic pack too.
    let base = Utc::now();
    let docs: Vec<LogDoc> = (0..20)
        .map(|i| LogDoc {
            index: format!("{logs}-{}", base.format("%Y.%m.%d")),
            id: format!("d{i}"),
            source: serde_json::json!({"@timestamp": rfc3339(base + chrono::Duration::milliseconds(50 * i)),
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "list",
                "requestURI": "/api/v1/secrets", "user": {"username": "eve"}, "objectRef": {"resource": "secrets"},
                "responseStatus": {"code": 200}}),
        })
        .collect();
    index_docs(&cluster, &docs);
    let count_of = |rule: &str| alert_count(&cluster, &alerts, rule);
    assert!(eventually(20, || count_of("hostile-snoop/snoop") == 20
        && count_of("k8scop-classic/secrets-listed-all-namespaces")
            == 20));
    std::thread::sleep(StdDuration::from_secs(1));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(
        count_of("hostile-snoop/snoop"),
        20,
        "every document after the drop, once"
    );
    assert_eq!(
        count_of("k8scop-classic/secrets-listed-all-namespaces"),
        20,
        "the classic pack unaffected"
    );
}

#[test]
fn replacing_a_pack_mid_stream_neither_skips_nor_repeats_a_document() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    // The replacement: the classic pack as an author's copy, its rules
    // renamed `swap-pack/...`, so each alert says which version saw it.
    let replacement = k8scop_testkit::author_pack("swap-pack", |source| source);
    let rules = tempfile::tempdir().unwrap();
    let slot = rules.path().join("slot.wasm");
    std::fs::copy(build_pack("k8scop-classic"), &slot).unwrap();
    let rules_arg = rules.path().to_str().unwrap().to_string();
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        &rules_arg,
        &[
            "--start",
            &rfc3339(Utc::now()),
            "--interval",
            "0.2",
            "--delay",
            "0.3",
            "--overlap",
            "5",
            "--aggregate-window",
            "600",
        ],
    );
    let child = spawn(&args);
    std::thread::sleep(StdDuration::from_secs(2));

    // Documents keep arriving; the pack is replaced while they do.
    let total = 40;
    for i in 0..total {
        let now = Utc::now();
        let doc = LogDoc {
            index: format!("{logs}-{}", now.format("%Y.%m.%d")),
            id: format!("d{i}"),
            source: serde_json::json!({"@timestamp": rfc3339(now), "kind": "Event", "apiVersion": "audit.k8s.io/v1",
                "stage": "ResponseComplete", "verb": "list", "requestURI": "/api/v1/secrets",
                "user": {"username": "eve"}, "objectRef": {"resource": "secrets"}, "responseStatus": {"code": 200}}),
        };
        index_docs(&cluster, std::slice::from_ref(&doc));
        if i == total / 2 {
            let tmp = rules.path().join("slot.wasm.new");
            std::fs::copy(&replacement, &tmp).unwrap();
            std::fs::rename(&tmp, &slot).unwrap();
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let count_of = |rule: &str| alert_count(&cluster, &alerts, rule);
    let (old, new) = (
        "k8scop-classic/secrets-listed-all-namespaces",
        "swap-pack/secrets-listed-all-namespaces",
    );
    assert!(eventually(20, || count_of(old) + count_of(new) >= total));
    std::thread::sleep(StdDuration::from_secs(1));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    let (before, after) = (count_of(old), count_of(new));
    assert_eq!(
        before + after,
        total,
        "each document evaluated exactly once across the swap"
    );
    assert!(
        before > 0 && after > 0,
        "the swap happened mid-stream: {before} before, {after} after"
    );
}

/// Between windows the engine has no batch to wait on: a pack dropped in
/// then must load at once, not with the next window (an hour away here).
#[test]
fn a_pack_dropped_in_between_windows_loads_without_waiting_for_one() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &["--interval", "3600", "--delay", "0"],
    );
    let LoggedRun {
        child,
        lines: rx,
        addr,
    } = LoggedRun::start(&args);
    let packs = || -> Vec<String> {
        let body = http_get(&addr, "/status").1;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        status["packs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(String::from))
            .collect()
    };
    // The first window runs at start; the next one is an hour away.
    while !rx
        .recv_timeout(StdDuration::from_secs(30))
        .expect("the first window's log line")
        .contains("window done")
    {}
    assert_eq!(packs(), ["k8scop-classic"]);

    let tmp = rules.path().join("snoop.wasm.tmp");
    std::fs::copy(build_pack("hostile-snoop"), &tmp).unwrap();
    std::fs::rename(&tmp, rules.path().join("snoop.wasm")).unwrap();
    assert!(
        eventually(30, || packs().contains(&"hostile-snoop".to_string())),
        "the dropped pack is not loaded: {:?}",
        packs()
    );
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
}

/// Every pack removed while streaming: the sidecar is not ready, and it
/// holds the documents it read instead of passing them unevaluated (the
/// checkpoint stays before them); when a pack is back they are evaluated.
#[test]
fn with_every_pack_removed_nothing_is_passed_unevaluated_and_the_sidecar_is_not_ready() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let start = rfc3339(Utc::now());
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &[
            "--start",
            &start,
            "--interval",
            "0.2",
            "--delay",
            "0.3",
            "--overlap",
            "2",
        ],
    );
    let LoggedRun { child, addr, .. } = LoggedRun::start(&args);
    let ready = || http_status(&addr, "/readyz") == Some(200);
    assert!(eventually(20, ready), "ready with a pack");

    let pack = rules.path().join("k8scop_classic.wasm");
    let aside = rules.path().join("k8scop_classic.wasm.off");
    std::fs::rename(&pack, &aside).unwrap();
    assert!(eventually(20, || !ready()), "not ready without a pack");

    // Documents dated a little ahead: indexed and searchable before any
    // window can reach them, however slow the machine.
    let base = Utc::now() + chrono::Duration::seconds(2);
    let docs: Vec<LogDoc> = (0..10)
        .map(|i| LogDoc {
            index: format!("{logs}-{}", base.format("%Y.%m.%d")),
            id: format!("held-{i}"),
            source: serde_json::json!({"@timestamp": rfc3339(base + chrono::Duration::milliseconds(20 * i)),
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": format!("held-{i}"),
                "stage": "ResponseComplete", "verb": "list", "requestURI": "/api/v1/secrets",
                "user": {"username": "eve"}, "objectRef": {"resource": "secrets"},
                "responseStatus": {"code": 200}}),
        })
        .collect();
    index_docs(&cluster, &docs);
    // Well past their time and the delay: without the hold these windows
    // would have passed them.
    std::thread::sleep(StdDuration::from_secs(5));
    let cursor = || {
        let (_, state) = cluster.request(
            "GET",
            &format!("/k8scop-state-{alerts}/_doc/{alerts}"),
            None,
        );
        state["_source"]["cursor"]
            .as_str()
            .and_then(|c| c.parse::<chrono::DateTime<Utc>>().ok())
    };
    let held_at = cursor();
    assert!(
        held_at.is_none_or(|c| c <= base),
        "the checkpoint passed the held documents: {held_at:?} > {base}"
    );
    assert!(!ready());
    assert_eq!(
        alert_count(
            &cluster,
            &alerts,
            "k8scop-classic/secrets-listed-all-namespaces"
        ),
        0
    );

    std::fs::rename(&aside, &pack).unwrap();
    let count = || {
        alert_count(
            &cluster,
            &alerts,
            "k8scop-classic/secrets-listed-all-namespaces",
        )
    };
    assert!(
        eventually(30, || count() == 10),
        "the held documents evaluated: {}",
        count()
    );
    assert!(eventually(20, ready), "ready again");
    assert!(eventually(20, || cursor().is_some_and(|c| c > base)));
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
}

/// The HTTP status of `GET path` on the sidecar's ops address.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}
