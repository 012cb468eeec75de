//! Reading time windows from a running Elasticsearch-compatible server
//! (osmem-server, or the cluster at K8SCOP_TEST_ES_URL), and the
//! Elasticsearch 8 point-in-time dialect against recorded responses.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use k8scop::es::indices::LogIndices;
use k8scop::es::{EsClient, EsConfig, Flavor, ServerInfo};
use k8scop::ops::Metrics;
use k8scop::sink::elasticsearch::{BulkConfig, BulkDoc, BulkWriter};
use k8scop::source::elasticsearch::{Hit, LogQuery, WindowReader};
use k8scop::source::{EachPage, EsInput, read_window};
use k8scop_testkit::TestCluster;
use k8scop_testkit::recorded::RecordedServer;
use serde_json::json;

/// The window `[from, to)` through the one reader the pipeline runs,
/// each page handed to `each`.
async fn read_pages(
    client: &EsClient,
    flavor: Flavor,
    query: &LogQuery,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    each: impl FnMut(Vec<Hit>) + Send,
) -> anyhow::Result<u64> {
    let es = EsInput {
        client: client.clone(),
        flavor,
        query: query.clone(),
    };
    read_window(&es, from, to, None, &mut EachPage(each), &Metrics::new()).await
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const DOCS: usize = 25_000;

/// 25 000 documents over three daily indices, two per timestamp (so the
/// tiebreak matters), alternating `origin` between audit and syslog.
fn corpus(prefix: &str) -> Vec<(BulkDoc, DateTime<Utc>)> {
    let start = t("2024-03-01T00:00:00Z");
    let step = Duration::milliseconds(3 * 24 * 3600 * 1000 / (DOCS as i64 / 2));
    (0..DOCS)
        .map(|i| {
            let time = start + step * (i as i32 / 2);
            let doc = BulkDoc {
                index: format!("{prefix}-{}", time.format("%Y.%m.%d")),
                id: format!("doc-{i:05}"),
                body: json!({"@timestamp": time.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "origin": if i % 2 == 0 { "audit" } else { "syslog" }, "n": i}),
            };
            (doc, time)
        })
        .collect()
}

async fn load(
    cluster: &TestCluster,
    client: &EsClient,
    prefix: &str,
) -> Vec<(BulkDoc, DateTime<Utc>)> {
    let corpus = corpus(prefix);
    let docs: Vec<BulkDoc> = corpus.iter().map(|(d, _)| d.clone()).collect();
    let report = BulkWriter::new(client.clone(), BulkConfig::default(), None)
        .write(&docs)
        .await
        .unwrap();
    assert_eq!(report.written, DOCS as u64);
    cluster.refresh(&format!("{prefix}-*"));
    corpus
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mid_day_window_over_daily_indices_reads_each_document_once_in_time_order() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("logs");
    let client = EsClient::new(&EsConfig::new(cluster.url())).unwrap();
    let flavor = ServerInfo::detect(&client).await.unwrap().flavor;
    let corpus = load(&cluster, &client, &prefix).await;

    let (from, to) = (t("2024-03-01T12:00:00Z"), t("2024-03-03T12:00:00Z"));
    let query = LogQuery {
        indices: LogIndices::DailyPrefix(prefix.clone()),
        time_field: "@timestamp".into(),
        extra_query: None,
        page_size: 1000,
    };
    let mut hits = Vec::new();
    let mut pages = 0;
    let total = read_pages(&client, flavor, &query, from, to, |page| {
        pages += 1;
        hits.extend(page);
    })
    .await
    .unwrap();

    let expected: HashSet<&str> = corpus
        .iter()
        .filter(|(_, time)| *time >= from && *time < to)
        .map(|(d, _)| d.id.as_str())
        .collect();
    assert!(
        expected.len() > 10_000,
        "the window crosses the 10 000 mark"
    );
    assert_eq!(total as usize, expected.len());
    assert_eq!(hits.len(), expected.len());
    let ids: HashSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids.len(), hits.len(), "no document twice");
    assert_eq!(ids, expected, "exactly the documents inside [from, to)");
    let times: Vec<DateTime<Utc>> = hits
        .iter()
        .map(|h| {
            h.source_object()["@timestamp"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    for (hit, time) in hits.iter().zip(&times) {
        assert_eq!(hit.index, format!("{prefix}-{}", time.format("%Y.%m.%d")));
    }
    assert!(pages >= expected.len() / 1000);

    // Missing days are tolerated, and the extra query filters.
    let early = LogQuery {
        extra_query: Some(json!({"term": {"origin": "audit"}})),
        ..query.clone()
    };
    let (from, to) = (t("2024-02-27T00:00:00Z"), t("2024-03-01T01:00:00Z"));
    let mut early_hits = Vec::new();
    read_pages(&client, flavor, &early, from, to, |page| {
        early_hits.extend(page)
    })
    .await
    .unwrap();
    let want: HashSet<&str> = corpus
        .iter()
        .filter(|(d, time)| *time < to && d.body["origin"] == "audit")
        .map(|(d, _)| d.id.as_str())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        early_hits
            .iter()
            .map(|h| h.id.as_str())
            .collect::<HashSet<_>>(),
        want
    );

    // A window over days with no index at all is empty, not an error.
    let none = read_pages(
        &client,
        flavor,
        &query,
        t("2023-01-01T00:00:00Z"),
        t("2023-01-02T00:00:00Z"),
        |_| panic!("no page expected"),
    )
    .await
    .unwrap();
    assert_eq!(none, 0);

    // The point in time is closed in this server's dialect.
    let mut reader = WindowReader::open(
        &client,
        flavor,
        &query,
        t("2024-03-02T00:00:00Z"),
        t("2024-03-02T12:00:00Z"),
    )
    .await
    .unwrap();
    assert!(!reader.next_page().await.unwrap().unwrap().is_empty());
    reader.close().await.expect("closing the point in time");
}

/// Elasticsearch 8 answers in the shape its documentation gives: `_pit`
/// returns `id`; searches carry `pit_id`; closing is `DELETE /_pit`.
#[tokio::test(flavor = "multi_thread")]
async fn elasticsearch_8_point_in_time_dialect() {
    let es = RecordedServer::start();
    es.route("GET", "/", &[(200, json!({"name":"es01","cluster_name":"docker-cluster",
        "version":{"number":"8.15.0","build_flavor":"default","build_type":"docker","lucene_version":"9.11.1"},
        "tagline":"You Know, for Search"}))]);
    es.route(
        "GET",
        "/_resolve/index/logs-2024.03.01*",
        &[(
            200,
            json!({"indices":[{"name":"logs-2024.03.01",
        "attributes":["open"]}],"aliases":[],"data_streams":[]}),
        )],
    );
    es.route(
        "POST",
        "/logs-2024.03.01*/_pit",
        &[(200, json!({"id":"46ToAwMDaWR5BXV1aWQy"}))],
    );
    let hit = |id: &str, ms: i64, shard_doc: i64| {
        json!({"_index":"logs-2024.03.01","_id":id,"_score":null,
        "_source":{"@timestamp":"2024-03-01T10:00:00.000Z","verb":"get"},"sort":[ms, shard_doc]})
    };
    es.route("POST", "/_search", &[
        (200, json!({"pit_id":"46ToAwMDaWR5BXV1aWQy2","took":3,"timed_out":false,
            "hits":{"total":{"value":3,"relation":"eq"},"hits":[hit("a", 1709287200000, 0), hit("b", 1709287200000, 7)]}})),
        (200, json!({"pit_id":"46ToAwMDaWR5BXV1aWQy3","took":1,"timed_out":false,
            "hits":{"total":{"value":3,"relation":"eq"},"hits":[hit("c", 1709287201000, 2)]}})),
    ]);
    es.route(
        "DELETE",
        "/_pit",
        &[(200, json!({"succeeded":true,"num_freed":1}))],
    );

    let client = EsClient::new(&EsConfig::new(es.url())).unwrap();
    let flavor = ServerInfo::detect(&client).await.unwrap().flavor;
    assert_eq!(
        flavor,
        Flavor::Elasticsearch {
            major: 8,
            minor: 15
        }
    );
    let query = LogQuery {
        indices: LogIndices::DailyPrefix("logs".into()),
        time_field: "@timestamp".into(),
        extra_query: Some(json!({"term": {"origin": "audit"}})),
        page_size: 2,
    };
    let mut ids = Vec::new();
    read_pages(
        &client,
        flavor,
        &query,
        // Within one time slice of the reader: two pages, one search each.
        t("2024-03-01T10:00:00Z"),
        t("2024-03-01T10:10:00Z"),
        |page| ids.extend(page.into_iter().map(|h| h.id)),
    )
    .await
    .unwrap();
    assert_eq!(ids, ["a", "b", "c"]);

    let requests = es.requests();
    let calls: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_string(), "/".to_string()),
            (
                "GET".to_string(),
                "/_resolve/index/logs-2024.03.01*".to_string()
            ),
            (
                "POST".to_string(),
                "/logs-2024.03.01*/_pit?keep_alive=2m".to_string()
            ),
            ("POST".to_string(), "/_search".to_string()),
            ("POST".to_string(), "/_search".to_string()),
            ("DELETE".to_string(), "/_pit".to_string()),
        ]
    );
    let first: serde_json::Value = serde_json::from_str(&requests[3].body).unwrap();
    assert_eq!(first["pit"]["id"], "46ToAwMDaWR5BXV1aWQy");
    assert_eq!(first["size"], 2);
    assert_eq!(
        first["sort"],
        json!([{"@timestamp": {"order": "asc"}}, {"_shard_doc": "asc"}])
    );
    assert!(first.get("search_after").is_none());
    assert!(first.get("from").is_none() && first.get("scroll").is_none());
    let filters = &first["query"]["bool"]["filter"];
    assert_eq!(
        filters[0]["range"]["@timestamp"]["gte"],
        "2024-03-01T10:00:00.000Z"
    );
    assert_eq!(
        filters[0]["range"]["@timestamp"]["lt"],
        "2024-03-01T10:10:00.000Z"
    );
    assert_eq!(filters[1], json!({"term": {"origin": "audit"}}));
    let second: serde_json::Value = serde_json::from_str(&requests[4].body).unwrap();
    assert_eq!(
        second["pit"]["id"], "46ToAwMDaWR5BXV1aWQy2",
        "the newest pit id is used"
    );
    assert_eq!(second["search_after"], json!([1709287200000i64, 7]));
    let close: serde_json::Value = serde_json::from_str(&requests[5].body).unwrap();
    assert_eq!(close, json!({"id": "46ToAwMDaWR5BXV1aWQy3"}));
}
