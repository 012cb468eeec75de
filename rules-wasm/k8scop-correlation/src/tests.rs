//! The state machines run natively: windows expire with event time, state
//! crosses batch boundaries, tables stay within their caps.

use rule_sdk::native::{Alert, NativePack};
use rule_sdk::{EventContext, EventKind};
use serde_json::{Value, json};

use super::*;

const T0: &str = "2024-03-01T10:00:00";

/// An audit event at `T0 + secs` seconds, final stage, v1, Metadata level.
struct Ev(Value);

impl Ev {
    fn new(
        user: &str,
        verb: &str,
        resource: &str,
        ns: &str,
        name: &str,
        code: i32,
        secs: f64,
    ) -> Ev {
        let mut object = json!({"resource": resource, "apiVersion": "v1"});
        if !ns.is_empty() {
            object["namespace"] = json!(ns);
        }
        if !name.is_empty() {
            object["name"] = json!(name);
        }
        Ev(json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("{user}-{verb}-{resource}-{ns}-{name}-{secs}"),
            "stage": "ResponseComplete", "requestURI": format!("/api/v1/{resource}"),
            "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
            "objectRef": object, "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": at(secs), "stageTimestamp": at(secs),
        }))
    }

    fn set(mut self, path: &str, value: Value) -> Ev {
        let mut v = &mut self.0;
        let keys: Vec<&str> = path.split('.').collect();
        for k in &keys[..keys.len() - 1] {
            v = &mut v[*k];
        }
        v[keys[keys.len() - 1]] = value;
        self
    }

    fn json(&self) -> String {
        self.0.to_string()
    }
}

fn at(secs: f64) -> String {
    let whole = secs.floor() as i64;
    let micros = ((secs - secs.floor()) * 1e6).round() as i64;
    let (m, s) = (whole / 60, whole % 60);
    let (h, m) = (m / 60, m % 60);
    format!("2024-03-01T{:02}:{:02}:{:02}.{micros:06}Z", 10 + h, m, s)
}

fn run(pack: &mut NativePack<Correlation>, events: &[Ev]) -> Vec<Alert> {
    let jsons: Vec<String> = events.iter().map(Ev::json).collect();
    pack.evaluate(jsons.iter().map(|j| (EventKind::Audit, j.as_str())))
}

/// Every event in its own batch: state must cross batches.
fn run_one_by_one(pack: &mut NativePack<Correlation>, events: &[Ev]) -> Vec<Alert> {
    events
        .iter()
        .flat_map(|e| run(pack, std::slice::from_ref(e)))
        .collect()
}

fn field<'a>(a: &'a Alert, key: &str) -> &'a str {
    a.fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("alert {} has no field {key}: {:?}", a.rule_id, a.fields))
}

fn secret_get(user: &str, name: &str, secs: f64) -> Ev {
    Ev::new(user, "get", "secrets", "prod", name, 200, secs)
}

#[test]
fn t0_is_what_the_helper_writes() {
    assert_eq!(at(0.0), format!("{T0}.000000Z"));
    assert_eq!(at(61.5), "2024-03-01T10:01:01.500000Z");
}

// ---- secret-read-burst

#[test]
fn ten_distinct_secrets_within_the_window_fire_once() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events: Vec<Ev> = (0..10)
        .map(|i| secret_get("eve", &format!("s{i}"), i as f64 * 5.0))
        .collect();
    let alerts = run(&mut pack, &events);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.rule_id, SECRET_READ_BURST.id);
    assert_eq!(a.event_index, 9);
    assert_eq!(field(a, "secret_count"), "10");
    assert_eq!(field(a, "window_seconds"), "60");
    assert_eq!(field(a, "burst_seconds"), "45");
    assert_eq!(field(a, "namespaces"), "prod");
    assert_eq!(field(a, "first_read_at"), "2024-03-01T10:00:00.000Z");
    assert!(field(a, "secrets").starts_with("prod/s0, prod/s1"));
    // Counting starts afresh: nine more reads are not a second burst.
    let more: Vec<Ev> = (10..19)
        .map(|i| secret_get("eve", &format!("s{i}"), 50.0 + i as f64))
        .collect();
    assert!(run(&mut pack, &more).is_empty());
}

/// A fleet's logs in one index: the same user name in two clusters is two
/// identities, whose reads never add up to one burst.
#[test]
fn identities_are_counted_per_cluster() {
    let in_cluster =
        |e: Ev, cluster: &str| e.set("annotations", json!({"k8scop.io/cluster": cluster}));
    let mut pack = NativePack::<Correlation>::new(&[]);
    let split: Vec<Ev> = (0..10)
        .map(|i| {
            let cluster = if i % 2 == 0 { "prod-eu" } else { "prod-us" };
            in_cluster(secret_get("eve", &format!("s{i}"), i as f64), cluster)
        })
        .collect();
    assert!(
        run(&mut pack, &split).is_empty(),
        "five reads in each of two clusters"
    );
    let one: Vec<Ev> = (10..20)
        .map(|i| {
            in_cluster(
                secret_get("eve", &format!("s{i}"), 20.0 + i as f64),
                "prod-us",
            )
        })
        .collect();
    let alerts = run(&mut pack, &one);
    let ids: Vec<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
    // prod-us had five reads already: the tenth of its own comes sooner.
    assert_eq!(ids, [SECRET_READ_BURST.id], "{alerts:?}");
    assert_eq!(alerts[0].event_index, 4);
}

#[test]
fn the_burst_is_seen_across_batches() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events: Vec<Ev> = (0..10)
        .map(|i| secret_get("eve", &format!("s{i}"), i as f64))
        .collect();
    let alerts = run_one_by_one(&mut pack, &events);
    assert_eq!(alerts.len(), 1);
}

#[test]
fn reads_older_than_the_window_expire() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    // Nine reads over 4 s, then the tenth at 61 s: the reads at 0 and 0.5 s
    // have left the window, eight remain (1 s, on its edge, is still in).
    let mut events: Vec<Ev> = (0..9)
        .map(|i| secret_get("eve", &format!("s{i}"), i as f64 * 0.5))
        .collect();
    events.push(secret_get("eve", "s9", 61.0));
    assert!(run(&mut pack, &events).is_empty());
    assert!(run(&mut pack, &[secret_get("eve", "s10", 61.0)]).is_empty());
    let alerts = run(&mut pack, &[secret_get("eve", "s11", 61.0)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        field(&alerts[0], "first_read_at"),
        "2024-03-01T10:00:01.000Z"
    );
}

#[test]
fn the_same_secret_twice_and_refused_reads_do_not_count() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let mut events: Vec<Ev> = (0..20)
        .map(|i| secret_get("eve", &format!("s{}", i % 5), i as f64))
        .collect();
    events.extend((0..10).map(|i| {
        Ev::new(
            "eve",
            "get",
            "secrets",
            "prod",
            &format!("x{i}"),
            403,
            20.0 + i as f64,
        )
    }));
    // A read not at its final stage is not counted either.
    events.extend(
        (0..10).map(|i| {
            secret_get("eve", &format!("y{i}"), 30.0).set("stage", json!("RequestReceived"))
        }),
    );
    assert!(run(&mut pack, &events).is_empty());
}

#[test]
fn the_threshold_and_window_are_the_operators() {
    let mut pack = NativePack::<Correlation>::new(&[
        ("secret_burst_threshold", "3"),
        ("secret_burst_window_seconds", "10"),
    ]);
    let events = [
        secret_get("eve", "a", 0.0),
        Ev::new("eve", "list", "secrets", "dev", "", 200, 1.0),
        Ev::new("eve", "watch", "secrets", "", "", 200, 2.0),
    ];
    let alerts = run(&mut pack, &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(field(&alerts[0], "secrets"), "prod/a, dev/*, */*");
    assert_eq!(field(&alerts[0], "namespaces"), "*, dev, prod");
}

const KUBELET_AGENT: &str = "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819";

#[test]
fn control_plane_reads_are_ignored() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events: Vec<Ev> = (0..30)
        .map(|i| {
            secret_get("system:node:worker-1", &format!("s{i}"), i as f64)
                .set("userAgent", json!(KUBELET_AGENT))
        })
        .collect();
    assert!(run(&mut pack, &events).is_empty());
}

/// The same reads with the node's certificate in kubectl: not the kubelet,
/// so the burst is seen, and the client is reported once per agent.
#[test]
fn a_node_credential_in_kubectl_is_seen() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events: Vec<Ev> = (0..30)
        .map(|i| secret_get("system:node:worker-1", &format!("s{i}"), i as f64))
        .collect();
    let alerts = run(&mut pack, &events);
    let rules: Vec<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
    assert!(rules.contains(&SECRET_READ_BURST.id), "{rules:?}");
    let clients: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule_id == CONTROL_PLANE_UNEXPECTED_CLIENT.id)
        .collect();
    assert_eq!(clients.len(), 30);
    assert!(clients.iter().all(|a| a.group_key == clients[0].group_key));
    assert_eq!(
        clients[0].group_key,
        "system:node:worker-1|kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
    );
}

// ---- rbac-change-then-workload-change

fn rbac(user: &str, verb: &str, resource: &str, ns: &str, name: &str, code: i32, secs: f64) -> Ev {
    Ev::new(user, verb, resource, ns, name, code, secs)
        .set("objectRef.apiGroup", json!("rbac.authorization.k8s.io"))
}

fn workload(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    name: &str,
    code: i32,
    secs: f64,
) -> Ev {
    Ev::new(user, verb, resource, "prod", name, code, secs).set("objectRef.apiGroup", json!(group))
}

#[test]
fn rbac_change_then_workload_within_the_window_fires_naming_both() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events = [
        rbac(
            "mallory",
            "create",
            "clusterrolebindings",
            "",
            "mallory-admin",
            201,
            0.0,
        ),
        workload(
            "mallory",
            "create",
            "apps",
            "daemonsets",
            "miner",
            201,
            42.5,
        ),
    ];
    let alerts = run_one_by_one(&mut pack, &events);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.rule_id, RBAC_THEN_WORKLOAD.id);
    assert_eq!(a.group_key, "mallory|clusterrolebindings||mallory-admin");
    assert_eq!(field(a, "rbac_object"), "clusterrolebindings mallory-admin");
    assert_eq!(field(a, "workload"), "daemonsets prod/miner");
    assert_eq!(field(a, "gap_seconds"), "42.5");
    assert_eq!(field(a, "rbac_changes"), "1");
}

#[test]
fn rbac_then_workload_needs_order_window_success_and_same_identity() {
    let mut pack = NativePack::<Correlation>::new(&[("rbac_workload_window_seconds", "60")]);
    let events = [
        // Workload first, RBAC after: not the sequence.
        workload("alice", "create", "", "pods", "p0", 201, 0.0),
        rbac("alice", "create", "roles", "prod", "r0", 201, 1.0),
        // Past the window.
        workload("alice", "patch", "apps", "deployments", "web", 200, 62.0),
        // A forbidden RBAC change, then a workload change.
        rbac("bob", "create", "rolebindings", "prod", "rb", 403, 70.0),
        workload("bob", "create", "batch", "jobs", "j", 201, 71.0),
        // An RBAC change by carol, a workload change by dave.
        rbac("carol", "update", "roles", "prod", "r1", 200, 80.0),
        workload("dave", "create", "batch", "cronjobs", "c", 201, 81.0),
        // A dry run and a refused workload change.
        rbac("erin", "patch", "clusterroles", "", "cr", 200, 90.0),
        workload("erin", "create", "", "pods", "p1", 201, 91.0).set(
            "requestURI",
            json!("/api/v1/namespaces/prod/pods?dryRun=All"),
        ),
        workload("erin", "create", "", "pods", "p2", 409, 92.0),
        // A CRD that happens to be called "deployments".
        workload(
            "erin",
            "create",
            "example.com",
            "deployments",
            "d",
            201,
            93.0,
        ),
        // pods/exec is not a workload change.
        workload("erin", "create", "", "pods", "p3", 101, 94.0)
            .set("objectRef.subresource", json!("exec")),
    ];
    assert!(run(&mut pack, &events).is_empty());
    // The ephemeral containers of a pod are a workload change.
    let alerts = run(
        &mut pack,
        &[workload("erin", "patch", "", "pods", "p3", 200, 95.0)
            .set("objectRef.subresource", json!("ephemeralcontainers"))],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        field(&alerts[0], "workload"),
        "pods/ephemeralcontainers prod/p3"
    );
}

#[test]
fn rbac_then_workload_names_the_images_when_the_body_is_logged() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let pod = workload("mallory", "create", "", "pods", "shell", 201, 5.0)
        .set("level", json!("RequestResponse"))
        .set(
            "requestObject",
            json!({"kind": "Pod", "apiVersion": "v1", "spec": {"containers": [{"name": "c", "image": "alpine:3"}]}}),
        );
    let alerts = run(
        &mut pack,
        &[
            rbac("mallory", "create", "rolebindings", "prod", "rb", 201, 0.0),
            pod,
        ],
    );
    assert_eq!(field(&alerts[0], "images"), "alpine:3");
}

// ---- new-user-agent / new-source-ip

fn seen(user: &str, ua: &str, ip: &str, secs: f64) -> Ev {
    Ev::new(user, "get", "pods", "prod", "web", 200, secs)
        .set("userAgent", json!(ua))
        .set("sourceIPs", json!([ip]))
}

const KUBECTL: &str = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819";
const LEARN: &[(&str, &str)] = &[
    ("first_seen_learn_events", "3"),
    ("first_seen_learn_seconds", "60"),
];

#[test]
fn new_values_after_learning_fire_once_each() {
    let mut pack = NativePack::<Correlation>::new(LEARN);
    let mut events: Vec<Ev> = (0..4)
        .map(|i| seen("alice", KUBECTL, "10.0.0.5", i as f64 * 30.0))
        .collect();
    // During learning a second IP is learnt silently.
    events.insert(1, seen("alice", KUBECTL, "10.0.0.6", 20.0));
    assert!(run_one_by_one(&mut pack, &events).is_empty());
    // A kubectl upgrade is the same family; python is new, so is the IP.
    let alerts = run(
        &mut pack,
        &[
            seen(
                "alice",
                "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
                "10.0.0.5",
                200.0,
            ),
            seen("alice", "python-requests/2.31.0", "198.51.100.9", 210.0),
            seen("alice", "python-requests/2.31.0", "198.51.100.9", 220.0),
        ],
    );
    let rules: Vec<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
    assert_eq!(rules, [NEW_USER_AGENT.id, NEW_SOURCE_IP.id], "{alerts:?}");
    assert!(alerts.iter().all(|a| a.event_index == 1));
    assert_eq!(field(&alerts[0], "user_agent_family"), "python-requests");
    assert_eq!(
        field(&alerts[0], "previous_user_agents"),
        "kubectl (linux/amd64)"
    );
    assert_eq!(
        field(&alerts[1], "previous_source_ips"),
        "10.0.0.5, 10.0.0.6"
    );
    assert_eq!(field(&alerts[1], "known_since"), "2024-03-01T10:00:00.000Z");
}

#[test]
fn learning_needs_both_events_and_time() {
    let mut pack = NativePack::<Correlation>::new(LEARN);
    // Many events within the first minute: still learning.
    let mut events: Vec<Ev> = (0..10)
        .map(|i| seen("bob", KUBECTL, "10.0.0.7", i as f64))
        .collect();
    events.push(seen("bob", "curl/8.5.0", "10.9.9.9", 30.0));
    assert!(run(&mut pack, &events).is_empty());
    let mut pack = NativePack::<Correlation>::new(&[
        ("first_seen_learn_events", "0"),
        ("first_seen_learn_seconds", "0"),
    ]);
    let alerts = run(
        &mut pack,
        &[
            seen("bob", KUBECTL, "10.0.0.7", 0.0),
            seen("bob", "curl/8.5.0", "10.0.0.7", 1.0),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, NEW_USER_AGENT.id);
}

#[test]
fn service_accounts_ips_anonymous_and_exact_matching() {
    let mut pack = NativePack::<Correlation>::new(&[
        ("first_seen_learn_events", "1"),
        ("first_seen_learn_seconds", "0"),
        ("user_agent_match", "exact"),
        ("ignore_source_ips", "192.168.*"),
    ]);
    let sa = "system:serviceaccount:prod:web";
    let events = [
        seen(sa, "web/v1", "10.1.0.1", 0.0),
        seen(sa, "web/v1", "10.1.0.2", 1.0),
        seen("system:anonymous", "web/v1", "10.1.0.1", 0.0),
        seen("system:anonymous", "curl/1", "10.1.0.9", 1.0),
        seen("carol", KUBECTL, "10.0.0.1", 0.0),
        seen("carol", KUBECTL, "192.168.7.7", 1.0),
    ];
    assert!(run(&mut pack, &events).is_empty());
    let alerts = run(
        &mut pack,
        &[seen(
            "carol",
            "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
            "10.0.0.1",
            2.0,
        )],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, NEW_USER_AGENT.id);
    assert!(
        alerts[0]
            .fields
            .iter()
            .all(|(k, _)| k != "user_agent_family")
    );
}

#[test]
fn remembered_values_are_capped() {
    let mut pack = NativePack::<Correlation>::new(&[
        ("first_seen_learn_events", "0"),
        ("first_seen_learn_seconds", "0"),
        ("first_seen_max_values", "2"),
    ]);
    let events = [
        seen("dave", KUBECTL, "10.0.0.1", 0.0),
        seen("dave", KUBECTL, "10.0.0.2", 1.0),
        seen("dave", KUBECTL, "10.0.0.3", 2.0),
        // 10.0.0.1 was forgotten to make room: new again.
        seen("dave", KUBECTL, "10.0.0.1", 3.0),
    ];
    let alerts = run(&mut pack, &events);
    // Raised by the events from 10.0.0.2, 10.0.0.3 and 10.0.0.1 again,
    // whose source IP the host adds.
    let raised_by: Vec<u32> = alerts.iter().map(|a| a.event_index).collect();
    assert_eq!(raised_by, [1, 2, 3]);
    assert!(
        alerts
            .iter()
            .all(|a| a.context.contains(EventContext::SOURCE_IP))
    );
    assert_eq!(
        field(&alerts[2], "previous_source_ips"),
        "10.0.0.3, 10.0.0.2"
    );
}

#[test]
fn an_identity_idle_past_the_forget_time_learns_again() {
    let mut pack = NativePack::<Correlation>::new(&[
        ("first_seen_learn_events", "1"),
        ("first_seen_learn_seconds", "0"),
        ("first_seen_forget_seconds", "100"),
    ]);
    let events = [
        seen("erin", KUBECTL, "10.0.0.1", 0.0),
        seen("frank", KUBECTL, "10.0.0.1", 150.0),
        // erin's profile was dropped as time passed: learning again.
        seen("erin", "curl/8.5.0", "10.0.0.9", 160.0),
    ];
    assert!(run(&mut pack, &events).is_empty());
    assert_eq!(pack.pack().first_seen.tracked(), 2);
}

// ---- auth-failures-then-success

fn failed_login(ip: &str, secs: f64, id: usize) -> Ev {
    Ev::new("", "list", "secrets", "prod", "", 401, secs)
        .set("user", json!({}))
        .set("stage", json!("ResponseStarted"))
        .set("sourceIPs", json!([ip]))
        .set("auditID", json!(format!("authn-{id}")))
        .set("responseStatus", json!({"metadata": {}, "message": "Authentication failed, attempted: bearer", "code": 401}))
}

#[test]
fn failed_logins_from_one_ip_then_a_login_fire_high() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let mut events: Vec<Ev> = (0..5)
        .map(|i| failed_login("203.0.113.50", i as f64 * 10.0, i))
        .collect();
    events.push(
        Ev::new("jenkins", "list", "secrets", "prod", "", 200, 60.0)
            .set("sourceIPs", json!(["203.0.113.50"])),
    );
    let alerts = run_one_by_one(&mut pack, &events);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.rule_id, AUTH_FAILURES_THEN_SUCCESS.id);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.group_key, "source_ip|203.0.113.50");
    assert_eq!(a.event_index, 0);
    assert_eq!(field(a, "failure_count"), "5");
    // The user is jenkins's login's, added by the host.
    assert!(a.context.contains(EventContext::USER));
    assert_eq!(field(a, "failures_seconds"), "60");
    assert!(field(a, "failed_requests").starts_with("401 list secrets in prod; "));
    // Consumed: the next success alone does not fire again.
    let again = Ev::new("jenkins", "get", "pods", "prod", "x", 200, 61.0)
        .set("sourceIPs", json!(["203.0.113.50"]));
    assert!(run(&mut pack, &[again]).is_empty());
}

#[test]
fn a_failure_logged_at_two_stages_counts_once_and_old_failures_expire() {
    let mut pack = NativePack::<Correlation>::new(&[("auth_failure_threshold", "3")]);
    let success = |secs| {
        Ev::new("alice", "get", "pods", "prod", "web", 200, secs)
            .set("sourceIPs", json!(["198.51.100.1"]))
    };
    let mut events = Vec::new();
    for i in 0..2 {
        events.push(failed_login("198.51.100.1", i as f64, i));
        events.push(
            failed_login("198.51.100.1", i as f64, i).set("stage", json!("ResponseComplete")),
        );
    }
    events.push(success(3.0));
    assert!(run(&mut pack, &events).is_empty(), "two requests, not four");
    // Three failures, but spread over more than the window (300 s).
    let spread = [
        failed_login("198.51.100.2", 0.0, 10),
        failed_login("198.51.100.2", 200.0, 11),
        failed_login("198.51.100.2", 400.0, 12),
        Ev::new("alice", "get", "pods", "prod", "web", 200, 401.0)
            .set("sourceIPs", json!(["198.51.100.2"])),
    ];
    assert!(run(&mut pack, &spread).is_empty());
}

#[test]
fn forbidden_requests_by_one_identity_then_an_allowed_one_fire_medium() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let mut events: Vec<Ev> = ["secrets", "pods", "nodes", "roles", "clusterroles"]
        .iter()
        .enumerate()
        .map(|(i, r)| Ev::new("intern", "list", r, "", "", 403, i as f64))
        .collect();
    // Discovery and self-reviews are allowed to everyone: not the success.
    events.push(
        Ev::new("intern", "get", "", "", "", 200, 6.0)
            .set("objectRef", Value::Null)
            .set("requestURI", json!("/api")),
    );
    events.push(Ev::new(
        "intern",
        "create",
        "selfsubjectrulesreviews",
        "",
        "",
        201,
        7.0,
    ));
    assert!(run(&mut pack, &events).is_empty());
    let alerts = run(
        &mut pack,
        &[Ev::new(
            "intern",
            "get",
            "configmaps",
            "prod",
            "cfg",
            200,
            8.0,
        )],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::Medium);
    assert_eq!(alerts[0].group_key, "user|intern");
    assert_eq!(field(&alerts[0], "failure_key"), "user");
    assert_eq!(
        field(&alerts[0], "failed_requests"),
        "403 list clusterroles; 403 list roles; 403 list nodes; 403 list pods; 403 list secrets"
    );
}

#[test]
fn ignored_identities_neither_fail_nor_succeed() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let node = "system:node:worker-1";
    let mut events: Vec<Ev> = (0..10)
        .map(|i| {
            Ev::new(node, "get", "secrets", "prod", "s", 403, i as f64)
                .set("userAgent", json!(KUBELET_AGENT))
        })
        .collect();
    events.extend((0..10).map(|i| failed_login("172.18.0.3", 10.0 + i as f64, i)));
    events.push(
        Ev::new(node, "get", "pods", "prod", "p", 200, 30.0)
            .set("sourceIPs", json!(["172.18.0.3"]))
            .set("userAgent", json!(KUBELET_AGENT)),
    );
    assert!(run(&mut pack, &events).is_empty());
}

// ---- caps and clock

#[test]
fn a_flood_of_identities_stays_within_max_identities() {
    let mut pack = NativePack::<Correlation>::new(&[("max_identities", "100")]);
    for batch in 0..20 {
        let events: Vec<Ev> = (0..500)
            .flat_map(|i| {
                let n = batch * 500 + i;
                let user = format!("user-{n}");
                let secs = n as f64 * 0.001;
                [
                    secret_get(&user, "s", secs),
                    rbac(&user, "create", "roles", "prod", "r", 201, secs),
                    Ev::new(&user, "get", "pods", "prod", "p", 403, secs),
                    failed_login(
                        &format!("10.{}.{}.{}", n / 65536, n / 256 % 256, n % 256),
                        secs,
                        n,
                    ),
                ]
            })
            .collect();
        run(&mut pack, &events);
    }
    let p = pack.pack();
    assert!(p.secret_burst.by_user.tracked() <= 100);
    assert!(p.rbac_workload.by_user.tracked() <= 100);
    assert!(p.first_seen.tracked() <= 100);
    assert!(p.auth_failures.tracked() <= 100);
}

#[test]
fn the_oldest_identity_is_the_one_forgotten_when_full() {
    let mut pack = NativePack::<Correlation>::new(&[("max_identities", "2")]);
    let mut events: Vec<Ev> = (0..9)
        .map(|i| secret_get("eve", &format!("s{i}"), i as f64))
        .collect();
    events.push(secret_get("bob", "x", 10.0));
    events.push(secret_get("carol", "x", 11.0));
    events.push(secret_get("eve", "s9", 12.0));
    assert!(
        run(&mut pack, &events).is_empty(),
        "eve's reads were evicted"
    );
    let mut pack = NativePack::<Correlation>::new(&[("max_identities", "3")]);
    assert_eq!(run(&mut pack, &events).len(), 1);
}

#[test]
fn state_expires_as_event_time_advances() {
    let mut pack = NativePack::<Correlation>::new(&[]);
    let events: Vec<Ev> = (0..50)
        .map(|i| secret_get(&format!("u{i}"), "s", i as f64))
        .collect();
    run(&mut pack, &events);
    assert_eq!(pack.pack().secret_burst.by_user.tracked(), 50);
    // Someone else's event two minutes later: every burst window has passed.
    run(
        &mut pack,
        &[Ev::new("zed", "get", "pods", "prod", "p", 200, 200.0)],
    );
    assert_eq!(pack.pack().secret_burst.by_user.tracked(), 0);
}

#[test]
fn events_without_a_time_and_non_audit_documents_are_skipped() {
    let mut pack = NativePack::<Correlation>::new(&[("secret_burst_threshold", "2")]);
    let untimed: Vec<Ev> = (0..3)
        .map(|i| {
            secret_get("eve", &format!("s{i}"), 0.0)
                .set("stageTimestamp", json!("yesterday"))
                .set("requestReceivedTimestamp", json!(""))
        })
        .collect();
    assert!(run(&mut pack, &untimed).is_empty());
    let syslog = r#"{"message":"sudo: eve : COMMAND=/bin/sh","@timestamp":"2024-03-01T10:00:00Z"}"#;
    assert!(pack.evaluate([(EventKind::Other, syslog)]).is_empty());
}

#[test]
fn out_of_range_settings_are_clamped() {
    // A threshold of 0 would fire on nothing-in-particular; it becomes 2.
    let mut pack = NativePack::<Correlation>::new(&[("secret_burst_threshold", "0")]);
    let alerts = run(
        &mut pack,
        &[secret_get("eve", "a", 0.0), secret_get("eve", "b", 1.0)],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(field(&alerts[0], "secret_count"), "2");
}
