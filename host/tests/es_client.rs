//! The Elasticsearch client's edges: credentials on the wire and nowhere
//! else, TLS settings refused clearly, the alert template on a server.

use k8scop::alert::alert_document;
use k8scop::decode::Decoder;
use k8scop::engine::{EngineConfig, RuleEngine};
use k8scop::es::{Auth, EsClient, EsConfig, EsError, template};
use k8scop::sink::elasticsearch::{BulkConfig, BulkWriter, alert_bulk_doc};
use k8scop_testkit::recorded::RecordedServer;
use k8scop_testkit::{TestCluster, build_pack};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_credential_reaches_the_server() {
    let es = RecordedServer::start();
    es.route(
        "GET",
        "/",
        &[(200, json!({"version": {"number": "8.15.0"}}))],
    );
    let cases = [
        (
            Auth::Basic {
                username: "elastic".into(),
                password: "changeme".into(),
            },
            "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==",
        ),
        (
            Auth::ApiKey("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==".into()),
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
        ),
        (
            Auth::Bearer("eyJhbGciOi.token".into()),
            "Bearer eyJhbGciOi.token",
        ),
    ];
    for (auth, header) in cases {
        let mut config = EsConfig::new(es.url());
        config.auth = auth;
        EsClient::new(&config)
            .unwrap()
            .json(Method::GET, "/", None)
            .await
            .unwrap();
        assert_eq!(
            es.requests().last().unwrap().header("authorization"),
            Some(header)
        );
    }
    // Credentials in the URL become Basic auth and leave the URL.
    let url = es.url().replace("http://", "http://ops:s3cr%40t@");
    let client = EsClient::new(&EsConfig::new(url)).unwrap();
    assert!(!client.base_url().contains("s3cr"));
    client.json(Method::GET, "/", None).await.unwrap();
    assert_eq!(
        es.requests().last().unwrap().header("authorization"),
        Some("Basic b3BzOnMzY3JAdA==")
    );
    assert!(!format!("{client:?}").contains("s3cr"));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_appear_in_errors() {
    // Nothing listens on port 9 of loopback: a connection error.
    let mut config = EsConfig::new("http://admin:hunter2@127.0.0.1:9");
    config.request_timeout = std::time::Duration::from_secs(2);
    let err = EsClient::new(&config)
        .unwrap()
        .json(Method::GET, "/", None)
        .await
        .unwrap_err();
    assert!(matches!(err, EsError::Connect { .. }));
    assert!(err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("admin:"),
        "{text}"
    );

    let es = RecordedServer::start();
    es.route(
        "GET",
        "/",
        &[(
            401,
            json!({"error": {"type": "security_exception",
        "reason": "unable to authenticate user [admin] for REST request [/]"}, "status": 401}),
        )],
    );
    let mut config = EsConfig::new(es.url());
    config.auth = Auth::Basic {
        username: "admin".into(),
        password: "hunter2".into(),
    };
    let err = EsClient::new(&config)
        .unwrap()
        .json(Method::GET, "/", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("security_exception"), "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[test]
fn bad_tls_settings_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EsConfig::new("https://es.example:9200");
    config.ca_file = Some(dir.path().join("missing-ca.pem"));
    let err = EsClient::new(&config).unwrap_err().to_string();
    assert!(
        err.contains("cannot read the CA file") && err.contains("missing-ca.pem"),
        "{err}"
    );
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate").unwrap();
    config.ca_file = Some(not_pem);
    let err = EsClient::new(&config).unwrap_err().to_string();
    assert!(err.contains("not a PEM certificate"), "{err}");
    assert!(EsClient::new(&EsConfig::new("ftp://es.example")).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alert_template_maps_real_alert_documents() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let client = EsClient::new(&EsConfig::new(cluster.url())).unwrap();
    template::install(&client, &prefix).await.unwrap();
    // Installing again is an update, not an error.
    template::install(&client, &prefix).await.unwrap();

    // Real alerts: the sample through the classic pack.
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    engine.load_file(&build_pack("k8scop-classic")).unwrap();
    let sample =
        std::fs::read_to_string(k8scop_testkit::workspace_file("samples/audit-sample.jsonl"))
            .unwrap();
    let decoder = Decoder::default();
    let docs: Vec<_> = sample
        .lines()
        .enumerate()
        .filter_map(|(i, l)| decoder.decode(l.to_string(), i as u64 + 1).ok())
        .flat_map(|decoded| decoded.docs)
        .collect();
    let outcome = engine.evaluate(&docs);
    let bulk: Vec<_> = outcome
        .alerts
        .iter()
        .map(|a| alert_bulk_doc(&prefix, &alert_document(a, &docs[a.doc_index])))
        .collect();
    assert_eq!(bulk.len(), 13);
    assert!(
        bulk.iter()
            .all(|d| d.index == format!("{prefix}-2024.03.01")),
        "dated by the alert"
    );
    let report = BulkWriter::new(client, BulkConfig::default(), None)
        .write(&bulk)
        .await
        .unwrap();
    assert_eq!((report.written, report.dead_lettered), (13, 0));

    let (status, mapping) = cluster.request("GET", &format!("/{prefix}-2024.03.01/_mapping"), None);
    assert_eq!(status, 200);
    let props = &mapping[format!("{prefix}-2024.03.01")]["mappings"]["properties"];
    assert_eq!(props["@timestamp"]["type"], "date");
    assert_eq!(props["rule"]["properties"]["id"]["type"], "keyword");
    assert_eq!(props["user"]["properties"]["name"]["type"], "keyword");
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(props["k8scop"]["properties"]["count"]["type"], "long");
    assert_eq!(props["k8scop"]["properties"]["first_seen"]["type"], "date");
    // Rule-specific fields are keywords through the dynamic template.
    assert_eq!(
        props["k8scop"]["properties"]["fields"]["properties"]["command"]["type"],
        "keyword"
    );
}
