//! Bulk writes over HTTP to a running Elasticsearch-compatible server,
//! through a fault-injecting proxy: 429s on items, dropped connections,
//! mapping errors, refusals, and retries running out.

use std::time::Duration;

use k8scop::es::retry::Backoff;
use k8scop::es::{EsClient, EsConfig, template};
use k8scop::sink::dead_letter::DeadLetterFile;
use k8scop::sink::elasticsearch::{BulkConfig, BulkDoc, BulkError, BulkWriter};
use k8scop_testkit::{Fault, FaultProxy, ItemFault, PathMatch, TestCluster};
use serde_json::{Value, json};

fn quick_backoff(max_retries: u32) -> BulkConfig {
    BulkConfig {
        max_docs: 1000,
        max_bytes: 5 << 20,
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(100),
            max_retries,
        },
    }
}

fn alerts(prefix: &str, n: usize) -> Vec<BulkDoc> {
    (0..n)
        .map(|i| BulkDoc {
            index: format!("{prefix}-2024.03.0{}", 1 + i % 3),
            id: format!("alert-{i:05}"),
            body: json!({"@timestamp": "2024-03-01T10:00:00.000Z", "event": {"kind": "alert"},
                "rule": {"id": "k8scop-classic/pod-exec"}, "k8scop": {"count": 1 + i % 7}}),
        })
        .collect()
}

fn item_number(id: &str) -> usize {
    id.trim_start_matches("alert-").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_alerts_survive_429s_and_dropped_connections() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let proxy = FaultProxy::start(cluster.url());
    // 10% of the items are rejected the first time they are seen...
    proxy.set_bulk_item_faults(|id, seen| {
        (item_number(id) % 10 == 3 && seen == 0).then_some(ItemFault::TooManyRequests)
    });
    // ...one request is cut before it reaches the server, one after.
    proxy.push_fault(PathMatch::Contains("_bulk".into()), Fault::DropConnection);
    proxy.push_fault(PathMatch::Contains("_bulk".into()), Fault::DropAfterForward);

    let client = EsClient::new(&EsConfig::new(proxy.url())).unwrap();
    let docs = alerts(&prefix, 10_000);
    let report = BulkWriter::new(client, quick_backoff(10), None)
        .write(&docs)
        .await
        .unwrap();

    assert_eq!(report.written, 10_000);
    // The proxy rejected 1000 items, but 100 of them in the request whose
    // answer it then dropped: the writer retried that request whole, the
    // second sight of those items passed, and it never saw their 429s.
    assert_eq!(report.retried_items, 900);
    assert_eq!(report.retried_requests, 2);
    assert_eq!(report.dead_lettered, 0);
    let stats = proxy.stats();
    assert_eq!(stats.bulk_items_faulted, 1_000);
    assert_eq!(stats.dropped, 2);

    cluster.refresh(&format!("{prefix}-*"));
    assert_eq!(
        cluster.count(&format!("{prefix}-*")),
        10_000,
        "every alert present, none twice"
    );
    for day in 1..=3 {
        let n = docs
            .iter()
            .filter(|d| d.index.ends_with(&format!("0{day}")))
            .count() as u64;
        assert_eq!(cluster.count(&format!("{prefix}-2024.03.0{day}")), n);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mapping_errors_go_to_the_dead_letter_file_with_their_reason() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let direct = EsClient::new(&EsConfig::new(cluster.url())).unwrap();
    template::install(&direct, &prefix).await.unwrap();

    let proxy = FaultProxy::start(cluster.url());
    // Item 5 is refused by the proxy as a mapping error; item 2 is refused
    // by the server itself, against the template's `long` mapping.
    proxy.set_bulk_item_faults(|id, _| (item_number(id) == 5).then_some(ItemFault::MappingError));
    let mut docs = alerts(&prefix, 10);
    docs[2].body["k8scop"]["count"] = json!("many");

    let dir = tempfile::tempdir().unwrap();
    let dl_path = dir.path().join("dead-letter.jsonl");
    let dead_letter = DeadLetterFile::open(&dl_path).unwrap();
    let client = EsClient::new(&EsConfig::new(proxy.url())).unwrap();
    let report = BulkWriter::new(client, quick_backoff(3), Some(dead_letter))
        .write(&docs)
        .await
        .unwrap();
    assert_eq!(
        (report.written, report.dead_lettered, report.retried_items),
        (8, 2, 0)
    );

    let lines: Vec<Value> = std::fs::read_to_string(&dl_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("{id} not dead-lettered"))
    };
    let real = by_id("alert-00002");
    assert_eq!(real["status"], 400);
    assert_eq!(real["error"]["type"], "mapper_parsing_exception");
    assert!(
        real["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("k8scop.count")
    );
    assert_eq!(
        real["document"]["k8scop"]["count"], "many",
        "the document is kept whole"
    );
    assert_eq!(real["index"], format!("{prefix}-2024.03.03"));
    assert_eq!(
        by_id("alert-00005")["error"]["type"],
        "mapper_parsing_exception"
    );

    cluster.refresh(&format!("{prefix}-*"));
    assert_eq!(cluster.count(&format!("{prefix}-*")), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_request_is_not_retried_and_exhausted_retries_say_what_was_not_written() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let proxy = FaultProxy::start(cluster.url());
    let client = EsClient::new(&EsConfig::new(proxy.url())).unwrap();
    let docs = alerts(&prefix, 2_500);

    proxy.push_fault(PathMatch::Contains("_bulk".into()), Fault::Status(401));
    let err = BulkWriter::new(client.clone(), quick_backoff(5), None)
        .write(&docs)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BulkError::Refused(ref e) if e.status() == Some(401)),
        "{err}"
    );
    assert_eq!(proxy.stats().bulk_requests, 1, "a 401 is not retried");

    // The second chunk of 1000 meets a server that stays overloaded.
    for _ in 0..3 {
        proxy.push_fault(PathMatch::Contains("_bulk".into()), Fault::Status(503));
    }
    let ok_first = BulkWriter::new(client.clone(), quick_backoff(0), None);
    let mut writer = ok_first;
    let first = writer.write(&docs[..1000]).await.unwrap_err();
    match first {
        BulkError::Unavailable {
            not_written,
            retries,
            ..
        } => assert_eq!((not_written, retries), (1000, 0)),
        other => panic!("{other}"),
    }
    let err = BulkWriter::new(client, quick_backoff(1), None)
        .write(&docs)
        .await
        .unwrap_err();
    match err {
        BulkError::Unavailable {
            not_written,
            retries,
            last_error,
            report,
        } => {
            assert_eq!((not_written, retries, report.written), (2_500, 1, 0));
            assert!(last_error.contains("503"), "{last_error}");
        }
        other => panic!("{other}"),
    }
    // With the faults used up, the same documents go through.
    let proxy_client = EsClient::new(&EsConfig::new(proxy.url())).unwrap();
    let report = BulkWriter::new(proxy_client, quick_backoff(3), None)
        .write(&docs)
        .await
        .unwrap();
    assert_eq!(report.written, 2_500);
    assert_eq!(report.requests, 3, "chunks of at most 1000 documents");
}
