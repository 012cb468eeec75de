//! Notification channels against a local HTTP receiver: what each channel
//! type sends (method, path, headers, body), its filters, retries and
//! refusals, and that a slow or dead channel neither slows nor stops a
//! replay, its drops counted and reported. Streaming, alerts are notified
//! as they appear, once each, while the Elasticsearch path keeps going.

mod common;
#[path = "notify/falcosidekick_payload.rs"]
mod falcosidekick_payload;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use falcosidekick_payload::{FalcoPayload, Priority, Scalar};
use k8scop::notify::{DropReason, Notification, Notifier, NotifyReport, config};
use k8scop::ops::Metrics;
use k8scop_testkit::{TestCluster, rules_dir, workspace_file};
use serde_json::{Value, json};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    /// Lower-case names.
    headers: HashMap<String, String>,
    body: Value,
    raw: Vec<u8>,
    at: Instant,
}

/// A receiver's check of a body: why it refuses it (answered 400).
type Check = fn(&[u8]) -> Result<(), String>;

#[derive(Default)]
struct ReceiverState {
    requests: Vec<Received>,
    /// Answers in order (status, delay before answering); then `default`.
    script: VecDeque<(u16, Duration)>,
    default: (u16, Duration),
    /// Sent with every answer that is not 2xx.
    retry_after: Option<&'static str>,
    /// Bodies it refuses with 400 (after a scripted failure, if any).
    check: Option<Check>,
}

/// An HTTP receiver (axum) on a loopback port, in its own thread, that
/// records every request and answers as scripted.
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    fn ok() -> Receiver {
        Receiver::scripted(&[], 200, Duration::ZERO)
    }

    fn scripted(script: &[u16], default: u16, delay: Duration) -> Receiver {
        Receiver::checking(None, script, default, delay)
    }

    /// A receiver that refuses (400) the bodies `check` refuses, as a
    /// real service would, once the scripted answers are used up.
    fn checking(check: Option<Check>, script: &[u16], default: u16, delay: Duration) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            requests: Vec::new(),
            script: script.iter().map(|s| (*s, Duration::ZERO)).collect(),
            default: (default, delay),
            retry_after: None,
            check,
        }));
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(record).with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Receiver {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn set_retry_after(&self, seconds: &'static str) {
        self.state.lock().unwrap().retry_after = Some(seconds);
    }

    fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    fn on_path(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let (status, delay, retry_after) = {
        let mut state = state.lock().unwrap();
        state.requests.push(Received {
            method: method.to_string(),
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            raw: body.to_vec(),
            at: Instant::now(),
        });
        let default = state.default;
        let (mut status, delay) = state.script.pop_front().unwrap_or(default);
        if (200..300).contains(&status) && state.check.is_some_and(|check| check(&body).is_err()) {
            status = 400;
        }
        (status, delay, state.retry_after)
    };
    tokio::time::sleep(delay).await;
    let mut headers = HeaderMap::new();
    if let Some(seconds) = retry_after.filter(|_| !(200..300).contains(&status)) {
        headers.insert("retry-after", seconds.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), headers, "{}")
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn alert(rule: &str, severity: &str, user: &str) -> Value {
    json!({
        "@timestamp": "2024-03-01T10:02:00.000Z",
        "message": "Command executed in pod payments/api-5c8d7",
        "event": {"kind": "alert", "module": "k8scop"},
        "rule": {"id": rule, "name": "Command executed in a pod"},
        "user": {"name": user},
        "k8scop": {
            "alert_id": format!("id-{rule}-{user}"),
            "severity": severity,
            "group_key": user,
            "count": 1,
            "fields": {"user": user, "namespace": "payments", "pod": "api-5c8d7",
                       "resource": "pods/exec", "verb": "create", "command": "sh", "source_ip": "203.0.113.7"},
        },
    })
}

/// Start the channels of `toml` (with `env` as the environment), offer the
/// alerts, shut down, and return the report and the metrics.
async fn notify(toml: &str, env: &[(&str, &str)], alerts: Vec<Value>) -> (NotifyReport, String) {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let channels = config::channels_from_toml(toml, &|name| env.get(name).cloned()).unwrap();
    let metrics = Metrics::new();
    let notifier = Notifier::start(channels, &metrics).unwrap();
    for a in alerts {
        notifier.send(Notification::from_alert(a));
    }
    let report = notifier.shutdown().await;
    (report, metrics.encode())
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_posts_the_alert_document_with_its_headers() {
    let receiver = Receiver::ok();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "hook-t0ken\n").unwrap();
    let toml = format!(
        r#"
[[notify]]
type = "webhook"
name = "hook"
url = "{}/k8scop/alerts"
headers = {{ "X-Team" = "security" }}
header_env = {{ "X-Api-Key" = "HOOK_API_KEY" }}
token_file = "{}"
"#,
        receiver.url,
        token.display()
    );
    let sent = alert("k8scop-classic/pod-exec", "high", "alice");
    let (report, metrics) = notify(&toml, &[("HOOK_API_KEY", "k3y")], vec![sent.clone()]).await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/k8scop/alerts");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["authorization"], "Bearer hook-t0ken");
    assert_eq!(r.headers["x-team"], "security");
    assert_eq!(r.headers["x-api-key"], "k3y");
    assert_eq!(r.body, sent, "the body is the alert document");
    let hook = report.channel("hook").unwrap();
    assert_eq!((hook.sent, hook.dropped_total()), (1, 0));
    assert!(has_line(
        &metrics,
        "k8scop_notifications_sent_total{channel=\"hook\"} 1"
    ));
    assert!(has_line(
        &metrics,
        "k8scop_notifications_dropped_total{channel=\"hook\",reason=\"queue_full\"} 0"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_gets_a_readable_link_free_message() {
    let receiver = Receiver::ok();
    let toml = "[[notify]]\ntype = \"slack\"\nurl_env = \"SLACK_WEBHOOK_URL\"\n";
    let url = format!("{}/services/T000/B000/XXXX", receiver.url);
    let (report, _) = notify(
        toml,
        &[("SLACK_WEBHOOK_URL", &url)],
        vec![alert("k8scop-classic/pod-exec", "high", "alice")],
    )
    .await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/services/T000/B000/XXXX");
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(!r.headers.contains_key("authorization"));
    assert_eq!(r.body["unfurl_links"], false);
    let text = r.body["text"].as_str().unwrap();
    for part in [
        "*HIGH* Command executed in a pod",
        "*Who:* `alice` from `203.0.113.7`",
        "*Where:* namespace `payments`, pods/exec `api-5c8d7`",
        "*What:* `create` pods/exec command `sh`",
        "*Count:* 1 since 2024-03-01T10:02:00.000Z",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    assert!(!text.contains("http"), "link-free: {text}");
    assert_eq!(report.channel("slack").unwrap().sent, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn splunk_hec_gets_the_event_envelope_and_its_token() {
    let receiver = Receiver::ok();
    let toml = format!(
        "[[notify]]\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken_env = \"HEC_TOKEN\"\nindex = \"k8s_security\"\nhost = \"sidecar-0\"\n",
        receiver.url
    );
    let sent = alert("k8scop-classic/pod-exec", "high", "alice");
    let (report, _) = notify(&toml, &[("HEC_TOKEN", "hec-123")], vec![sent.clone()]).await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/services/collector/event");
    assert_eq!(r.headers["authorization"], "Splunk hec-123");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.body["time"], json!(1709287320.0));
    assert_eq!(r.body["host"], "sidecar-0");
    assert_eq!(r.body["source"], "k8scop");
    assert_eq!(r.body["sourcetype"], "k8scop:alert");
    assert_eq!(r.body["index"], "k8s_security");
    assert_eq!(r.body["event"], sent);
    assert_eq!(report.channel("splunk_hec").unwrap().sent, 1);
}

/// An audit alert as the ecs-shaped alert document has it, with tags.
fn audit_alert(rule: &str, severity: &str, user: &str) -> Value {
    let mut a = alert(rule, severity, user);
    a["orchestrator"] = json!({"type": "kubernetes", "namespace": "payments"});
    a["tags"] = json!(["attack.execution", "attack.t1609"]);
    a["k8scop"]["fields"]["name"] = json!("api-5c8d7");
    a["k8scop"]["fields"]["response_code"] = json!("101");
    a
}

fn sidekick_channel(url: &str, extra: &str) -> String {
    format!("[[notify]]\ntype = \"falcosidekick\"\nname = \"sidekick\"\nurl = \"{url}/\"\n{extra}")
}

#[tokio::test(flavor = "multi_thread")]
async fn falcosidekick_accepts_each_alert_as_a_falco_event() {
    let receiver = Receiver::checking(Some(falcosidekick_payload::check), &[], 200, Duration::ZERO);
    let toml = sidekick_channel(&receiver.url, "");
    let host_log = json!({
        "@timestamp": "2024-03-01T10:06:00.250Z",
        "message": "Root activity on worker-2",
        "rule": {"id": "k8scop-classic/root-activity", "name": "Root activity detected"},
        "k8scop": {"severity": "critical", "count": 2, "fields": {"user": "root", "host": "worker-2"}},
    });
    let (report, _) = notify(
        &toml,
        &[("HOSTNAME", "k8scop-7f9c")],
        vec![
            audit_alert("k8scop-classic/pod-exec", "high", "alice"),
            host_log,
            alert("k8scop-falco/secret-get", "medium", "bob"),
            alert("k8scop-classic/pods-listed", "low", "carol"),
            alert("k8scop-falco/disallowed-user", "info", "dave"),
        ],
    )
    .await;
    let sidekick = report.channel("sidekick").unwrap();
    assert_eq!(sidekick.kind, "falcosidekick");
    assert_eq!(
        (sidekick.sent, sidekick.dropped_total()),
        (5, 0),
        "Falcosidekick took every event: {sidekick:?}"
    );
    let got = receiver.requests();
    assert!(got.iter().all(|r| r.method == "POST" && r.path == "/"));
    assert!(
        got.iter()
            .all(|r| r.headers["content-type"] == "application/json")
    );
    let events: Vec<FalcoPayload> = got
        .iter()
        .map(|r| FalcoPayload::parse(&r.raw).unwrap())
        .collect();
    let priorities: Vec<Priority> = events.iter().map(|e| e.priority).collect();
    assert_eq!(
        priorities,
        [
            Priority::Error,
            Priority::Critical,
            Priority::Warning,
            Priority::Notice,
            Priority::Informational
        ]
    );

    let exec = &events[0];
    assert_eq!(exec.rule, "Command executed in a pod");
    assert_eq!(exec.source, "k8saudit");
    assert_eq!(exec.hostname, "k8scop-7f9c");
    assert_eq!(exec.tags, ["attack.execution", "attack.t1609"]);
    assert_eq!(exec.time.to_rfc3339(), "2024-03-01T10:02:00+00:00");
    assert_eq!(
        got[0].body["time"], "2024-03-01T10:02:00.000000000Z",
        "nanoseconds, as Falco writes"
    );
    assert!(
        exec.output.starts_with(
            "10:02:00.000000000: Error Command executed in pod payments/api-5c8d7 (user=alice verb=create"
        ),
        "{}",
        exec.output
    );
    let text = |e: &FalcoPayload, k: &str| match e.output_fields.get(k) {
        Some(Scalar::Text(t)) => t.clone(),
        other => panic!("{k}: {other:?} in {:?}", e.output_fields),
    };
    for (key, want) in [
        ("ka.user.name", "alice"),
        ("ka.verb", "create"),
        ("ka.target.namespace", "payments"),
        ("ka.target.resource", "pods"),
        ("ka.target.subresource", "exec"),
        ("ka.target.name", "api-5c8d7"),
        ("ka.sourceips", "203.0.113.7"),
        ("ka.response.code", "101"),
        ("k8scop.rule.id", "k8scop-classic/pod-exec"),
        ("k8scop.severity", "high"),
        ("k8scop.alert_id", "id-k8scop-classic/pod-exec-alice"),
        ("k8scop.fields.command", "sh"),
        ("k8scop.fields.pod", "api-5c8d7"),
    ] {
        assert_eq!(text(exec, key), want, "{key}");
    }
    assert_eq!(exec.output_fields["k8scop.count"], Scalar::Number(1.into()));

    let root = &events[1];
    assert_eq!(root.source, "k8scop", "not an audit event");
    assert_eq!(root.rule, "Root activity detected");
    assert_eq!(root.tags, Vec::<String>::new());
    assert_eq!(text(root, "k8scop.fields.host"), "worker-2");
    assert!(root.output_fields.keys().all(|k| !k.starts_with("ka.")));
    assert_eq!(root.output_fields["k8scop.count"], Scalar::Number(2.into()));
    assert_eq!(
        root.time.timestamp_nanos_opt(),
        Some(1_709_287_560_250_000_000)
    );
}

#[test]
fn the_falcosidekick_check_refuses_what_falcosidekick_would() {
    let good = json!({
        "output": "10:02:00.000000000: Error x (user=alice)",
        "priority": "Error",
        "rule": "r",
        "time": "2024-03-01T10:02:00.000000000Z",
        "output_fields": {"ka.user.name": "alice", "k8scop.count": 1, "ok": true},
        "source": "k8saudit",
        "tags": ["a"],
        "hostname": "h",
    });
    let check = |v: &Value| FalcoPayload::parse(&serde_json::to_vec(v).unwrap());
    assert!(check(&good).is_ok());
    // Priorities are read case-insensitively, as Falcosidekick reads them.
    let mut lower = good.clone();
    lower["priority"] = json!("error");
    assert_eq!(check(&lower).unwrap().priority, Priority::Error);
    let mut bad = Vec::new();
    for (key, value) in [
        ("priority", json!("high")),
        ("priority", json!(3)),
        ("time", json!("2024-03-01 10:02:00")),
        ("time", json!(1709287320)),
        ("rule", json!("")),
        ("output_fields", json!({})),
        ("output_fields", json!({"ka": {"user": "alice"}})),
        ("output_fields", json!({"ka.sourceips": ["10.0.0.1"]})),
        ("tags", json!("a")),
        ("severity", json!("high")),
    ] {
        let mut v = good.clone();
        v[key] = value.clone();
        bad.push((format!("{key} = {value}"), v));
    }
    for key in [
        "output",
        "priority",
        "rule",
        "time",
        "output_fields",
        "source",
    ] {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(key);
        bad.push((format!("no {key}"), v));
    }
    for (what, v) in bad {
        assert!(check(&v).is_err(), "{what} was accepted");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_falcosidekick_receiver_refuses_other_payloads() {
    // The check is live: the alert document itself (a webhook's body) is
    // no Falco event, so the receiver answers 400 and the alert is refused.
    let receiver = Receiver::checking(Some(falcosidekick_payload::check), &[], 200, Duration::ZERO);
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{}/\"\n",
        receiver.url
    );
    let (report, _) = notify(
        &toml,
        &[],
        vec![alert("k8scop-classic/pod-exec", "high", "alice")],
    )
    .await;
    let hook = report.channel("hook").unwrap();
    assert_eq!((hook.sent, hook.dropped(DropReason::Refused)), (0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn falcosidekick_filters_by_severity_and_rule_like_the_others() {
    let receiver = Receiver::checking(Some(falcosidekick_payload::check), &[], 200, Duration::ZERO);
    let toml = sidekick_channel(
        &receiver.url,
        "min_severity = \"medium\"\nrules = [\"k8scop-classic/*\"]\nexclude_rules = [\"*/secret-read\"]\n",
    );
    let alerts = vec![
        audit_alert("k8scop-classic/pod-exec", "high", "a"),
        audit_alert("k8scop-classic/pods-listed", "low", "b"),
        audit_alert("k8scop-classic/secret-read", "critical", "c"),
        audit_alert("other/pod-exec", "critical", "d"),
        audit_alert("k8scop-classic/pod-deleted", "medium", "e"),
    ];
    let (report, _) = notify(&toml, &[], alerts).await;
    let got: BTreeSet<String> = receiver
        .requests()
        .iter()
        .map(|r| {
            r.body["output_fields"]["k8scop.rule.id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: BTreeSet<String> = ["k8scop-classic/pod-exec", "k8scop-classic/pod-deleted"]
        .map(String::from)
        .into();
    assert_eq!(got, want);
    let c = report.channel("sidekick").unwrap();
    assert_eq!((c.sent, c.filtered, c.dropped_total()), (2, 3, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn falcosidekick_server_errors_are_retried_then_counted() {
    // Two 5xx, then Falcosidekick takes it: one event, two retries.
    let receiver = Receiver::checking(
        Some(falcosidekick_payload::check),
        &[500, 503],
        200,
        Duration::ZERO,
    );
    let toml = sidekick_channel(&receiver.url, "max_retries = 3\nretry_backoff = 0.01\n");
    let (report, metrics) = notify(
        &toml,
        &[],
        vec![audit_alert("k8scop-classic/pod-exec", "high", "alice")],
    )
    .await;
    let got = receiver.requests();
    assert_eq!(got.len(), 3, "two failures, then the delivery");
    assert!(got.iter().all(|r| r.raw == got[0].raw), "the same event");
    let c = report.channel("sidekick").unwrap();
    assert_eq!((c.sent, c.retries, c.dropped_total()), (1, 2, 0));
    assert!(has_line(
        &metrics,
        "k8scop_notification_retries_total{channel=\"sidekick\"} 2"
    ));

    // A Falcosidekick that keeps failing: retries end, the drop is counted.
    retries_end_in_a_counted_drop(
        502,
        "sidekick",
        |url| sidekick_channel(url, "max_retries = 2\nretry_backoff = 0.01\n"),
        audit_alert("k8scop-classic/pod-exec", "high", "alice"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_by_minimum_severity_and_rule_patterns() {
    let receiver = Receiver::ok();
    let toml = format!(
        r#"
[[notify]]
type = "webhook"
name = "filtered"
url = "{}/f"
min_severity = "medium"
rules = ["k8scop-classic/*", "mine/exact"]
exclude_rules = ["*/secret-read"]
"#,
        receiver.url
    );
    let alerts = vec![
        alert("k8scop-classic/pod-exec", "high", "a"),
        alert("k8scop-classic/pods-listed", "low", "b"),
        alert("k8scop-classic/secret-read", "critical", "c"),
        alert("other/pod-exec", "critical", "d"),
        alert("k8scop-classic/pod-deleted", "medium", "e"),
        alert("mine/exact", "high", "f"),
        alert("mine/exact-not", "high", "g"),
    ];
    let (report, _) = notify(&toml, &[], alerts).await;
    let got: BTreeSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.body["rule"]["id"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [
        "k8scop-classic/pod-exec",
        "k8scop-classic/pod-deleted",
        "mine/exact",
    ]
    .map(String::from)
    .into();
    assert_eq!(got, want);
    let c = report.channel("filtered").unwrap();
    assert_eq!((c.sent, c.filtered, c.dropped_total()), (3, 4, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_until_delivered_once() {
    let receiver = Receiver::scripted(&[500, 500], 200, Duration::ZERO);
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{}/r\"\nmax_retries = 3\nretry_backoff = 0.01\n",
        receiver.url
    );
    let sent = alert("k8scop-classic/pod-exec", "high", "alice");
    let (report, metrics) = notify(&toml, &[], vec![sent.clone()]).await;
    let got = receiver.requests();
    assert_eq!(got.len(), 3, "two failures, then the delivery");
    assert!(got.iter().all(|r| r.body == sent));
    let hook = report.channel("hook").unwrap();
    assert_eq!((hook.sent, hook.retries, hook.dropped_total()), (1, 2, 0));
    assert!(has_line(
        &metrics,
        "k8scop_notification_retries_total{channel=\"hook\"} 2"
    ));
    assert!(has_line(
        &metrics,
        "k8scop_notifications_sent_total{channel=\"hook\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let receiver = Receiver::scripted(&[429], 200, Duration::ZERO);
    receiver.set_retry_after("1");
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{}/r\"\nretry_backoff = 0.01\nretry_backoff_max = 5\n",
        receiver.url
    );
    let (report, _) = notify(
        &toml,
        &[],
        vec![alert("k8scop-classic/pod-exec", "high", "alice")],
    )
    .await;
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "backoff alone would wait 10 ms; waited {waited:?}"
    );
    let hook = report.channel("hook").unwrap();
    assert_eq!((hook.sent, hook.retries), (1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_error_is_dropped_and_counted_not_retried() {
    let receiver = Receiver::scripted(&[], 400, Duration::ZERO);
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{}/r\"\nmax_retries = 3\nretry_backoff = 0.01\n",
        receiver.url
    );
    let (report, metrics) = notify(
        &toml,
        &[],
        vec![alert("k8scop-classic/pod-exec", "high", "alice")],
    )
    .await;
    assert_eq!(receiver.requests().len(), 1, "not retried");
    let hook = report.channel("hook").unwrap();
    assert_eq!((hook.sent, hook.retries), (0, 0));
    assert_eq!(hook.dropped(DropReason::Refused), 1);
    assert!(has_line(
        &metrics,
        "k8scop_notifications_dropped_total{channel=\"hook\",reason=\"refused\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_end_and_the_alert_is_counted_as_dropped() {
    retries_end_in_a_counted_drop(
        503,
        "hook",
        |url| {
            format!(
                "[[notify]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{url}/r\"\nmax_retries = 2\nretry_backoff = 0.01\n"
            )
        },
        alert("k8scop-classic/pod-exec", "high", "alice"),
    )
    .await;
}

/// A receiver that keeps answering `status` to `channel` (made by `toml`
/// from its URL, with two retries): the first try and two retries, then
/// the alert is dropped, counted in the report and the metrics.
async fn retries_end_in_a_counted_drop(
    status: u16,
    channel: &str,
    toml: impl Fn(&str) -> String,
    sent: Value,
) {
    let receiver = Receiver::scripted(&[], status, Duration::ZERO);
    let (report, metrics) = notify(&toml(&receiver.url), &[], vec![sent]).await;
    assert_eq!(receiver.requests().len(), 3, "first try and two retries");
    let c = report.channel(channel).unwrap();
    assert_eq!(c.retries, 2);
    assert_eq!(c.dropped(DropReason::RetriesExhausted), 1);
    let dropped = format!(
        "k8scop_notifications_dropped_total{{channel=\"{channel}\",reason=\"retries_exhausted\"}} 1"
    );
    assert!(has_line(&metrics, &dropped), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_receiver_fills_the_queue_without_blocking_the_sender() {
    let receiver = Receiver::scripted(&[], 200, Duration::from_secs(60));
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nname = \"slow\"\nurl = \"{}/s\"\nqueue_size = 2\ntimeout = 30\ndrain_timeout = 0.5\n",
        receiver.url
    );
    let channels = config::channels_from_toml(&toml, &|_| None).unwrap();
    let metrics = Metrics::new();
    let notifier = Notifier::start(channels, &metrics).unwrap();
    let offered = Instant::now();
    for i in 0..50 {
        notifier.send(Notification::from_alert(alert(
            "k8scop-classic/pod-exec",
            "high",
            &format!("user-{i}"),
        )));
    }
    // Waiting on the receiver would take a minute; the bound is loose so
    // that a loaded machine does not fail it.
    assert!(
        offered.elapsed() < Duration::from_secs(10),
        "offering never waits: {:?}",
        offered.elapsed()
    );
    let shutdown = Instant::now();
    let report = notifier.shutdown().await;
    assert!(
        shutdown.elapsed() < Duration::from_secs(15),
        "shutdown waits at most the drain timeout: {:?}",
        shutdown.elapsed()
    );
    let slow = report.channel("slow").unwrap();
    assert_eq!(slow.sent, 0);
    assert_eq!(slow.dropped_total(), 50, "{slow:?}");
    // At most one in flight and two queued when the queue filled.
    assert!(slow.dropped(DropReason::QueueFull) >= 47, "{slow:?}");
    assert!(
        (1..=3).contains(&slow.dropped(DropReason::Shutdown)),
        "{slow:?}"
    );
    let text = metrics.encode();
    let queue_full = format!(
        "k8scop_notifications_dropped_total{{channel=\"slow\",reason=\"queue_full\"}} {}",
        slow.dropped(DropReason::QueueFull)
    );
    assert!(has_line(&text, &queue_full), "{text}");
}

/// `k8scop replay --input sample --config FILE`, as a user runs it.
fn replay_with_config(config: &str, env: &[(&str, &str)]) -> (std::process::Output, Duration) {
    replay_input(&workspace_file("samples/audit-sample.jsonl"), config, env)
}

fn replay_input(
    input: &std::path::Path,
    config: &str,
    env: &[(&str, &str)],
) -> (std::process::Output, Duration) {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k8scop.toml");
    std::fs::write(&file, config).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .arg("replay")
        .arg("--input")
        .arg(input)
        .arg("--rules")
        .arg(rules.path())
        .arg("--config")
        .arg(&file)
        .envs(env.iter().copied())
        .env("K8SCOP_LOG", "warn")
        .output()
        .expect("run k8scop");
    (out, started.elapsed())
}

fn alert_ids(stdout: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON alert per line");
            v["k8scop"]["alert_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn replay_delivers_the_sample_alerts_to_every_channel() {
    let receiver = Receiver::ok();
    let config = format!(
        r#"
aggregate-window = 600

[[notify]]
type = "webhook"
url = "{url}/hook"
token_env = "TEST_HOOK_TOKEN"

[[notify]]
type = "slack"
url_env = "TEST_SLACK_URL"
min_severity = "high"

[[notify]]
type = "splunk_hec"
url = "{url}"
token_env = "TEST_HEC_TOKEN"
exclude_rules = ["*/root-activity", "*/user-sudoed"]
"#,
        url = receiver.url
    );
    let slack_url = format!("{}/services/T0/B0/x", receiver.url);
    let (out, _) = replay_with_config(
        &config,
        &[
            ("TEST_HOOK_TOKEN", "tok"),
            ("TEST_SLACK_URL", &slack_url),
            ("TEST_HEC_TOKEN", "hec"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written = alert_ids(&out.stdout);
    assert_eq!(written.len(), 13, "the sample's thirteen alerts");

    // The webhook hears of every alert once, with the id written.
    let hook = receiver.on_path("/hook");
    let notified: BTreeSet<String> = hook
        .iter()
        .map(|r| r.body["k8scop"]["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hook.len(), 13, "{stderr}");
    assert_eq!(notified, written);
    assert!(
        hook.iter()
            .all(|r| r.headers["authorization"] == "Bearer tok")
    );

    // Slack: high only (three pod execs, two secrets listings everywhere,
    // the root login).
    let slack = receiver.on_path("/services/T0/B0/x");
    assert_eq!(slack.len(), 6, "{slack:?}");
    assert!(
        slack
            .iter()
            .all(|r| r.body["text"].as_str().unwrap().contains("*HIGH*"))
    );

    // Splunk: the eleven Kubernetes alerts.
    let hec = receiver.on_path("/services/collector/event");
    assert_eq!(hec.len(), 11, "{hec:?}");
    assert!(
        hec.iter()
            .all(|r| r.headers["authorization"] == "Splunk hec")
    );

    for line in [
        "  notifications",
        "    webhook (webhook)        13 sent",
        "    slack (slack)            6 sent, 7 filtered out",
        "    splunk_hec (splunk_hec)  11 sent, 2 filtered out",
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line:?} in\n{stderr}");
    }
}

#[test]
fn replay_feeds_falcosidekick_every_sample_alert() {
    let receiver = Receiver::checking(Some(falcosidekick_payload::check), &[], 200, Duration::ZERO);
    let config = format!(
        "[[notify]]\ntype = \"falcosidekick\"\nurl = \"{}/\"\n",
        receiver.url
    );
    let (out, _) = replay_with_config(&config, &[("HOSTNAME", "k8scop-0")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written = alert_ids(&out.stdout);
    let events: Vec<FalcoPayload> = receiver
        .on_path("/")
        .iter()
        .map(|r| FalcoPayload::parse(&r.raw).unwrap())
        .collect();
    assert_eq!(events.len(), written.len(), "{stderr}");
    let notified: BTreeSet<String> = events
        .iter()
        .map(|e| match &e.output_fields["k8scop.alert_id"] {
            Scalar::Text(id) => id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(notified, written);
    assert!(events.iter().all(|e| e.hostname == "k8scop-0"));
    // The Kubernetes alerts as k8saudit events, the node logs' as k8scop's.
    let audit = events.iter().filter(|e| e.source == "k8saudit").count();
    assert_eq!(audit, 11, "{events:?}");
    assert!(
        events
            .iter()
            .filter(|e| e.source == "k8saudit")
            .all(|e| e.output_fields.contains_key("ka.user.name")),
        "{events:?}"
    );
    // alice's exec, as Falco's k8saudit rules would name its parts.
    let exec = events
        .iter()
        .find(|e| e.rule == "Command executed in a pod" && e.output.contains("user=alice"))
        .unwrap_or_else(|| panic!("{events:?}"));
    for (key, want) in [
        ("ka.target.resource", "pods"),
        ("ka.target.subresource", "exec"),
        ("ka.target.namespace", "payments"),
        ("k8scop.threat.tactic.name", "Execution"),
    ] {
        assert_eq!(
            exec.output_fields.get(key),
            Some(&Scalar::Text(want.into())),
            "{key} in {:?}",
            exec.output_fields
        );
    }
    assert!(
        stderr
            .lines()
            .any(|l| l == "    falcosidekick (falcosidekick)  13 sent"),
        "{stderr}"
    );
}

#[test]
fn an_aggregate_is_notified_once_not_on_every_repeat() {
    // The sample twice: every alert repeats within D, so each aggregate
    // counts 2; small batches put the repeats in later batches.
    let sample = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let twice = dir.path().join("twice.jsonl");
    // The second time as other requests (each request counts once).
    // (Every audit ID of the sample, GKE's operation id included, starts
    // with 5f0c00, whatever shape and quoting carries it.)
    let again = sample.replace("5f0c00", "a9a900");
    std::fs::write(&twice, format!("{sample}{again}")).unwrap();
    let receiver = Receiver::ok();
    let config = format!(
        "batch-size = 5\n\n[[notify]]\ntype = \"webhook\"\nurl = \"{}/hook\"\n",
        receiver.url
    );
    let (out, _) = replay_input(&twice, &config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), 13, "{stderr}");
    assert!(
        written.iter().all(|a| a["k8scop"]["count"] == 2),
        "{written:?}"
    );
    let hook = receiver.on_path("/hook");
    assert_eq!(hook.len(), 13, "one notification per aggregate: {hook:?}");
    let notified: BTreeSet<String> = hook
        .iter()
        .map(|r| r.body["k8scop"]["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(notified, alert_ids(&out.stdout));
    assert!(
        stderr.contains("    webhook (webhook)  13 sent\n"),
        "{stderr}"
    );
}

#[test]
fn dead_and_slow_channels_neither_slow_nor_stop_the_replay() {
    let slow = Receiver::scripted(&[], 200, Duration::from_secs(120));
    let config = format!(
        r#"
[[notify]]
type = "webhook"
name = "dead"
url = "{dead}/hook"
max_retries = 2
retry_backoff = 0.05

[[notify]]
type = "webhook"
name = "slow"
url = "{slow}/hook"
queue_size = 2
timeout = 100
drain_timeout = 1
"#,
        dead = dead_url(),
        slow = slow.url
    );
    let (out, elapsed) = replay_with_config(&config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(alert_ids(&out.stdout).len(), 13, "alerts complete");
    // The slow receiver holds each request two minutes; the replay waits
    // at most the drain timeout for it.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(!slow.requests().is_empty(), "the slow channel was tried");
    assert!(
        stderr
            .lines()
            .any(|l| l
                == "    dead (webhook)  0 sent, 26 retries; DROPPED 13 (retries exhausted 13)"),
        "{stderr}"
    );
    let slow_line = stderr
        .lines()
        .find(|l| l.starts_with("    slow (webhook)"))
        .unwrap_or_else(|| panic!("no slow channel in\n{stderr}"));
    assert!(slow_line.contains("0 sent; DROPPED 13 ("), "{slow_line}");
    assert!(slow_line.contains("unsent at shutdown"), "{slow_line}");
}

#[test]
fn a_bad_channel_stops_the_start_with_a_clear_message() {
    let (out, _) = replay_with_config(
        "[[notify]]\ntype = \"splunk_hec\"\nurl = \"http://splunk:8088\"\ntoken_env = \"K8SCOP_TEST_NO_SUCH_TOKEN\"\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[[notify]] #1 (splunk_hec): token_env: the environment variable K8SCOP_TEST_NO_SUCH_TOKEN is not set"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing replayed");
}

#[test]
fn streaming_notifies_each_alert_as_it_appears_beside_a_stuck_channel() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let receiver = Receiver::ok();
    let stuck = Receiver::scripted(&[], 200, Duration::from_secs(300));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(
        &config,
        format!(
            r#"
interval = 0.3
delay = 1
overlap = 20
aggregate-window = 600

[[notify]]
type = "webhook"
name = "hook"
url = "{}/hook"

[[notify]]
type = "webhook"
name = "stuck"
url = "{}/stuck"
queue_size = 1
timeout = 250
drain_timeout = 1
"#,
            receiver.url, stuck.url
        ),
    )
    .unwrap();
    let start = common::rfc3339(chrono::Utc::now() - chrono::Duration::seconds(2));
    let child = common::spawn(&common::stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &["--config", config.to_str().unwrap(), "--start", &start],
    ));

    // Three execs by alice (three alerts), bob's "id" three times (one
    // alert growing to count 3).
    let mut docs: Vec<_> = (0..3)
        .map(|i| {
            common::exec_doc(
                &logs,
                &format!("a-{i}"),
                chrono::Utc::now(),
                "alice",
                &format!("cmd{i}"),
            )
        })
        .collect();
    docs.extend(
        (0..3).map(|i| common::exec_doc(&logs, &format!("b-{i}"), chrono::Utc::now(), "bob", "id")),
    );
    common::index_docs(&cluster, &docs);

    // Notified while running, not at shutdown; the stuck channel does not
    // hold up the alert index.
    assert!(
        common::eventually(30, || receiver.on_path("/hook").len() >= 4
            && common::alerts_in(&cluster, &alerts).len() >= 4),
        "notified {:?}, indexed {:?}",
        receiver.on_path("/hook").len(),
        common::alerts_in(&cluster, &alerts).len()
    );
    // Windows re-reading the overlap and count updates notify nothing more.
    std::thread::sleep(Duration::from_secs(2));
    let stopping = Instant::now();
    let (status, stderr) = common::terminate(child);
    assert!(status.success(), "{stderr}");
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "the stuck channel delays the stop by its drain timeout only: {:?}",
        stopping.elapsed()
    );
    let hook = receiver.on_path("/hook");
    assert_eq!(hook.len(), 4, "once per aggregate");
    let notified: BTreeSet<String> = hook
        .iter()
        .map(|r| r.body["k8scop"]["alert_id"].as_str().unwrap().to_string())
        .collect();
    let indexed = common::alerts_in(&cluster, &alerts);
    assert_eq!(notified, indexed.keys().cloned().collect());
    let bob = indexed
        .values()
        .find(|a| a["user"]["name"] == "bob")
        .unwrap();
    assert_eq!(bob["k8scop"]["count"], 3, "the index has the whole count");

    assert!(
        stderr.lines().any(|l| l == "    hook (webhook)   4 sent"),
        "{stderr}"
    );
    let stuck_line = stderr
        .lines()
        .find(|l| l.starts_with("    stuck (webhook)"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stuck_line.contains("0 sent; DROPPED 4 ("), "{stuck_line}");
}
