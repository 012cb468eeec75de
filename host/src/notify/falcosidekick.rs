//! Falcosidekick: each alert as the JSON event Falco itself POSTs to
//! Falcosidekick (`output`, `priority`, `rule`, `time`, `output_fields`,
//! `source`, `tags`, `hostname`), so an existing Falcosidekick fans k8scop's
//! alerts out to its outputs beside Falco's own. Audit alerts carry the
//! field names of Falco's k8saudit plugin (`ka.user.name`, `ka.verb`,
//! `ka.target.namespace`, ...) so Falcosidekick's templates and filters
//! written for Falco read them unchanged; k8scop's own facts sit under
//! `k8scop.*`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::Notification;

/// The channel's fixed part, from its configuration.
#[derive(Debug, Clone)]
pub struct Sidekick {
    /// Falco's `hostname`: the node (here, the pod) that saw the event.
    pub hostname: String,
}

/// Falco's priority for a k8scop severity. Falcosidekick refuses an event
/// without a priority it knows, so an unknown severity (which the channel
/// filters let through, not to hide it) is sent as `Warning`.
pub fn priority(severity: &str) -> &'static str {
    match severity {
        "critical" => "Critical",
        "high" => "Error",
        "medium" => "Warning",
        "low" => "Notice",
        "info" => "Informational",
        _ => "Warning",
    }
}

/// A field of an audit alert under its k8saudit plugin name: the rule's
/// reported field (`k8scop.fields.<key>`), else the ECS field the alert
/// document carries (a list joined by commas).
const AUDIT_FIELDS: &[(&str, &str, &[&str])] = &[
    ("ka.user.name", "user", &["user", "name"]),
    // No rule reports the groups: ECS only.
    ("ka.user.groups", "", &["user", "group", "name"]),
    (
        "ka.impuser.name",
        "impersonated_user",
        &["user", "effective", "name"],
    ),
    ("ka.verb", "verb", &["event", "action"]),
    (
        "ka.target.namespace",
        "namespace",
        &["orchestrator", "namespace"],
    ),
    (
        "ka.target.name",
        "name",
        &["orchestrator", "resource", "name"],
    ),
    // One address: Falco's is a list, but output fields stay scalars.
    ("ka.sourceips", "source_ip", &["source", "ip"]),
    ("ka.useragent", "user_agent", &["user_agent", "original"]),
    // A string, as the plugin's field is.
    (
        "ka.response.code",
        "response_code",
        &["http", "response", "status_code"],
    ),
    ("ka.auditid", "audit_id", &["event", "id"]),
    ("ka.uri", "uri", &["url", "original"]),
];

/// The reported fields named in `output`'s parentheses, in this order,
/// with the short label Falco's k8saudit rules use.
const OUTPUT_LABELS: &[(&str, &str)] = &[
    ("user", "user"),
    ("impersonated_user", "impersonated"),
    ("verb", "verb"),
    ("resource", "resource"),
    ("namespace", "ns"),
    ("name", "name"),
    ("pod", "pod"),
    ("container", "container"),
    ("command", "command"),
    ("host", "host"),
    ("source_ip", "ip"),
    ("response_code", "code"),
];

/// Longest value written into `output` (a long command, a syslog line).
const MAX_OUTPUT_VALUE: usize = 200;

impl Sidekick {
    pub fn body(&self, n: &Notification) -> Value {
        let time = n.time().unwrap_or_else(Utc::now);
        let priority = priority(n.severity_text());
        let audit = n.doc()["orchestrator"]["type"] == "kubernetes";
        json!({
            "output": output(n, time, priority),
            "priority": priority,
            "rule": n.title(),
            // Falco writes nanoseconds and `Z`.
            "time": time.to_rfc3339_opts(SecondsFormat::Nanos, true),
            "output_fields": output_fields(n, audit),
            "source": if audit { "k8saudit" } else { "k8scop" },
            "tags": n.doc()["tags"].as_array().cloned().unwrap_or_default(),
            "hostname": self.hostname,
        })
    }
}

/// Falco's output line: `HH:MM:SS.nnnnnnnnn: Priority message (k=v ...)`.
fn output(n: &Notification, time: DateTime<Utc>, priority: &str) -> String {
    let message = n.doc()["message"].as_str().unwrap_or_else(|| n.title());
    let pairs: Vec<String> = OUTPUT_LABELS
        .iter()
        .filter_map(|(key, label)| n.field(key).map(|v| format!("{label}={}", one_line(v))))
        .collect();
    let mut line = format!(
        "{}: {priority} {}",
        time.format("%H:%M:%S%.9f"),
        one_line(message)
    );
    if !pairs.is_empty() {
        line.push_str(&format!(" ({})", pairs.join(" ")));
    }
    line
}

/// A flat object of dotted names to scalars, as Falco's `output_fields`.
fn output_fields(n: &Notification, audit: bool) -> Map<String, Value> {
    let doc = n.doc();
    let mut out = Map::new();
    let mut used: Vec<&str> = Vec::new();
    if audit {
        for (name, key, ecs) in AUDIT_FIELDS {
            let reported = n.field(key).filter(|_| !key.is_empty());
            let value = reported.map(str::to_string).or_else(|| text_at(doc, ecs));
            if let Some(value) = value {
                out.insert((*name).into(), Value::String(value));
                used.push(key);
            }
        }
        let resource = n
            .field("resource")
            .map(str::to_string)
            .or_else(|| text_at(doc, &["orchestrator", "resource", "type"]));
        if let Some(resource) = resource {
            // `pods/exec`: the resource and its subresource, as the plugin.
            let (resource, sub) = resource.split_once('/').unwrap_or((&resource, ""));
            out.insert("ka.target.resource".into(), json!(resource));
            if !sub.is_empty() {
                out.insert("ka.target.subresource".into(), json!(sub));
            }
            used.push("resource");
        }
    }
    let k8scop = [
        ("k8scop.rule.id", &["rule", "id"][..]),
        ("k8scop.rule.ruleset", &["rule", "ruleset"]),
        ("k8scop.severity", &["k8scop", "severity"]),
        ("k8scop.alert_id", &["k8scop", "alert_id"]),
        ("k8scop.group_key", &["k8scop", "group_key"]),
        ("k8scop.cluster.name", &["orchestrator", "cluster", "name"]),
    ];
    for (name, path) in k8scop {
        if let Some(value) = text_at(doc, path) {
            out.insert(name.into(), Value::String(value));
        }
    }
    out.insert("k8scop.count".into(), json!(n.count()));
    // ATT&CK, one entry per tactic in ECS: names and technique ids, joined.
    for (name, part, key) in [
        ("k8scop.threat.tactic.name", "tactic", "name"),
        ("k8scop.threat.technique.id", "technique", "id"),
    ] {
        let mut values: Vec<&str> = Vec::new();
        for threat in doc["threat"].as_array().into_iter().flatten() {
            let found: Vec<&str> = match &threat[part] {
                Value::Array(items) => items.iter().filter_map(|i| i[key].as_str()).collect(),
                one => one[key].as_str().into_iter().collect(),
            };
            for v in found {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
        }
        if !values.is_empty() {
            out.insert(name.into(), json!(values.join(",")));
        }
    }
    // The rule's other reported fields, each under its own name.
    if let Some(fields) = doc["k8scop"]["fields"].as_object() {
        for (key, value) in fields {
            if used.contains(&key.as_str()) {
                continue;
            }
            if let Some(value) = scalar(value) {
                out.insert(format!("k8scop.fields.{key}"), value);
            }
        }
    }
    out
}

/// The non-empty text at `path`; a list of texts joined by commas.
fn text_at(doc: &Value, path: &[&str]) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let value = path.iter().fold(doc, |v, key| &v[*key]);
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A value Falcosidekick's outputs can show as is: no objects, no lists.
fn scalar(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) if s.is_empty() => None,
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        _ => None,
    }
}

/// A value on one line, bounded.
fn one_line(s: &str) -> String {
    let mut line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_OUTPUT_VALUE)
        .collect();
    if s.chars().count() > MAX_OUTPUT_VALUE {
        line.push('…');
    }
    line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> Notification {
        Notification::from_alert(json!({
            "@timestamp": "2024-03-01T10:02:00.123Z",
            "message": "Command executed in pod payments/api-5c8d7",
            "rule": {"id": "k8scop-classic/pod-exec", "name": "Command executed in a pod", "ruleset": "k8scop-classic"},
            "tags": ["attack.execution", "attack.t1609"],
            "orchestrator": {"type": "kubernetes", "namespace": "payments"},
            "user": {"name": "alice", "group": {"name": ["system:authenticated", "dev"]}},
            "url": {"original": "/api/v1/namespaces/payments/pods/api-5c8d7/exec?command=sh"},
            "threat": [
                {"tactic": {"id": "TA0002", "name": "Execution"},
                 "technique": [{"id": "T1609", "name": "Container Administration Command"}]},
                {"tactic": {"id": "TA0004", "name": "Privilege Escalation"},
                 "technique": [{"id": "T1609"}]},
            ],
            "k8scop": {"severity": "high", "count": 3, "alert_id": "abc", "group_key": "alice|payments", "fields": {
                "user": "alice", "source_ip": "203.0.113.7", "namespace": "payments",
                "name": "api-5c8d7", "resource": "pods/exec", "verb": "create",
                "command": "sh -c id\n", "response_code": "101", "audit_id": "5f0c00-1",
            }},
        }))
    }

    #[test]
    fn an_audit_alert_reads_like_a_falco_k8saudit_event() {
        let body = Sidekick {
            hostname: "k8scop-0".into(),
        }
        .body(&exec());
        assert_eq!(body["priority"], "Error");
        assert_eq!(body["rule"], "Command executed in a pod");
        assert_eq!(body["time"], "2024-03-01T10:02:00.123000000Z");
        assert_eq!(body["source"], "k8saudit");
        assert_eq!(body["hostname"], "k8scop-0");
        assert_eq!(body["tags"], json!(["attack.execution", "attack.t1609"]));
        assert_eq!(
            body["output"],
            "10:02:00.123000000: Error Command executed in pod payments/api-5c8d7 \
             (user=alice verb=create resource=pods/exec ns=payments name=api-5c8d7 command=sh -c id ip=203.0.113.7 code=101)"
        );
        let fields = &body["output_fields"];
        assert_eq!(
            *fields,
            json!({
                "ka.user.name": "alice",
                "ka.user.groups": "system:authenticated,dev",
                "ka.uri": "/api/v1/namespaces/payments/pods/api-5c8d7/exec?command=sh",
                "ka.verb": "create",
                "ka.target.namespace": "payments",
                "ka.target.name": "api-5c8d7",
                "ka.target.resource": "pods",
                "ka.target.subresource": "exec",
                "ka.sourceips": "203.0.113.7",
                "ka.response.code": "101",
                "ka.auditid": "5f0c00-1",
                "k8scop.rule.id": "k8scop-classic/pod-exec",
                "k8scop.rule.ruleset": "k8scop-classic",
                "k8scop.severity": "high",
                "k8scop.alert_id": "abc",
                "k8scop.group_key": "alice|payments",
                "k8scop.count": 3,
                "k8scop.threat.tactic.name": "Execution,Privilege Escalation",
                "k8scop.threat.technique.id": "T1609",
                "k8scop.fields.command": "sh -c id\n",
            })
        );
    }

    #[test]
    fn a_host_log_alert_keeps_its_fields_under_k8scop() {
        let n = Notification::from_alert(json!({
            "@timestamp": "2024-03-01T10:06:00.000Z",
            "rule": {"id": "k8scop-classic/root-activity", "name": "Root activity detected"},
            "k8scop": {"severity": "critical", "fields": {"user": "root", "host": "worker-2", "extra": ""}},
        }));
        let body = Sidekick {
            hostname: "h".into(),
        }
        .body(&n);
        assert_eq!(body["source"], "k8scop");
        assert_eq!(body["priority"], "Critical");
        assert_eq!(body["tags"], json!([]));
        assert_eq!(
            body["output"],
            "10:06:00.000000000: Critical Root activity detected (user=root host=worker-2)"
        );
        let fields = body["output_fields"].as_object().unwrap();
        assert_eq!(fields["k8scop.fields.user"], "root");
        assert_eq!(fields["k8scop.fields.host"], "worker-2");
        assert!(!fields.keys().any(|k| k.starts_with("ka.")), "{fields:?}");
        assert!(
            !fields.contains_key("k8scop.fields.extra"),
            "empty values left out"
        );
        assert!(fields.values().all(|v| !v.is_object() && !v.is_array()));
    }

    #[test]
    fn every_severity_has_a_falco_priority() {
        let got: Vec<&str> = ["critical", "high", "medium", "low", "info", "bogus"]
            .into_iter()
            .map(priority)
            .collect();
        assert_eq!(
            got,
            [
                "Critical",
                "Error",
                "Warning",
                "Notice",
                "Informational",
                "Warning"
            ]
        );
    }
}
