//! Slack incoming webhook: one readable message per alert — severity,
//! title, who, where, what, count and time — with no links: values sit in
//! code spans (which Slack does not turn into links) and unfurling is off.
//! The webhook URL is the secret; it comes from `url_env` or `url_file`.

use serde_json::{Value, json};

use super::Notification;

/// Longest value shown (a syslog line, a long command).
const MAX_VALUE: usize = 300;

pub fn body(n: &Notification) -> Value {
    let text = message(n);
    json!({
        "text": text,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// The message in Slack's mrkdwn.
pub fn message(n: &Notification) -> String {
    let severity = n.severity_text();
    let mut lines = vec![format!(
        "{} *{}* {} {}",
        emoji(severity),
        escape(&severity.to_uppercase()),
        escape(n.title()),
        code(n.rule_id())
    )];
    let mut who = Vec::new();
    if let Some(user) = n.field("user") {
        who.push(code(user));
    }
    if let Some(as_user) = n.field("impersonated_user") {
        who.push(format!("as {}", code(as_user)));
    }
    if let Some(ip) = n.field("source_ip") {
        who.push(format!("from {}", code(ip)));
    }
    if !who.is_empty() {
        lines.push(format!("*Who:* {}", who.join(" ")));
    }
    let mut place = Vec::new();
    if let Some(ns) = n.field("namespace") {
        place.push(format!("namespace {}", code(ns)));
    }
    match (n.field("pod").or(n.field("name")), n.field("resource")) {
        (Some(name), Some(resource)) => place.push(format!("{} {}", escape(resource), code(name))),
        (Some(name), None) => place.push(code(name)),
        _ => {}
    }
    if let Some(host) = n.field("host") {
        place.push(format!("host {}", code(host)));
    }
    if !place.is_empty() {
        lines.push(format!("*Where:* {}", place.join(", ")));
    }
    let mut what = Vec::new();
    match (n.field("verb"), n.field("resource")) {
        (Some(verb), Some(resource)) => what.push(format!("{} {}", code(verb), escape(resource))),
        (Some(verb), None) => what.push(code(verb)),
        _ => {}
    }
    if let Some(command) = n.field("command") {
        what.push(format!("command {}", code(command)));
    }
    if let Some(container) = n.field("container") {
        what.push(format!("in container {}", code(container)));
    }
    if what.is_empty()
        && let Some(message) = n.field("message")
    {
        what.push(code(message));
    }
    if !what.is_empty() {
        lines.push(format!("*What:* {}", what.join(" ")));
    }
    let when = n.doc()["@timestamp"].as_str().unwrap_or("unknown time");
    lines.push(format!("*Count:* {} since {}", n.count(), escape(when)));
    lines.join("\n")
}

fn emoji(severity: &str) -> &'static str {
    match severity {
        "critical" => ":red_circle:",
        "high" => ":large_orange_circle:",
        "medium" => ":large_yellow_circle:",
        "low" => ":large_blue_circle:",
        _ => ":white_circle:",
    }
}

/// Slack's three control characters, escaped as its docs ask.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A value in a code span: shown verbatim and never linked. A backtick
/// inside would end the span, so it becomes a quote.
fn code(s: &str) -> String {
    let mut s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.chars().count() > MAX_VALUE {
        s = s.chars().take(MAX_VALUE).collect::<String>() + "…";
    }
    format!("`{}`", escape(&s.replace('`', "'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_reads_like_a_sentence() {
        let n = Notification::from_alert(json!({
            "@timestamp": "2024-03-01T10:02:00.000Z",
            "message": "Command executed in pod payments/api-5c8d7",
            "rule": {"id": "k8scop-classic/pod-exec", "name": "Command executed in a pod"},
            "k8scop": {"severity": "high", "count": 3, "fields": {
                "user": "alice", "source_ip": "203.0.113.7", "namespace": "payments",
                "pod": "api-5c8d7", "name": "api-5c8d7", "resource": "pods/exec", "verb": "create",
                "command": "/bin/sh -c cat /var/run/secrets/kubernetes.io/token", "container": "api",
            }},
        }));
        let text = message(&n);
        assert_eq!(
            text,
            "\
:large_orange_circle: *HIGH* Command executed in a pod `k8scop-classic/pod-exec`
*Who:* `alice` from `203.0.113.7`
*Where:* namespace `payments`, pods/exec `api-5c8d7`
*What:* `create` pods/exec command `/bin/sh -c cat /var/run/secrets/kubernetes.io/token` in container `api`
*Count:* 3 since 2024-03-01T10:02:00.000Z"
        );
        let body = body(&n);
        assert_eq!(body["unfurl_links"], false);
        assert_eq!(body["text"], text);
    }

    #[test]
    fn log_lines_and_hostile_values() {
        let n = Notification::from_alert(json!({
            "@timestamp": "2024-03-01T10:06:00.000Z",
            "rule": {"id": "k8scop-classic/root-activity", "name": "Root activity detected"},
            "k8scop": {"severity": "high", "fields": {
                "user": "root", "host": "worker-2",
                "message": "sshd: Accepted <https://evil.example|click> for `root`\n",
            }},
        }));
        let text = message(&n);
        assert!(text.contains("*Where:* host `worker-2`"), "{text}");
        assert!(
            text.contains("*What:* `sshd: Accepted &lt;https://evil.example|click&gt; for 'root'`"),
            "{text}"
        );
        assert!(!text.contains('<'));
        assert!(text.contains("*Count:* 1 since"));
    }
}
