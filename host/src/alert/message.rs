//! The alert's `message`: one line saying what happened, with the values,
//! as Falco's output line does ("alice exec'd into shop/api-1 (container
//! app): sh -c id"). The rule's title stays in `rule.name`; the message is
//! what a list of alerts shows a person first.

use serde_json::{Map, Value};

/// What the message is made of: the request (verb, resource, object, who)
/// and the pack's fields.
pub struct Parts<'a> {
    pub user: &'a str,
    pub verb: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub code: Option<i32>,
    pub fields: &'a Map<String, Value>,
}

/// Fields worth naming in a generic message, in this order.
const NOTABLE: &[&str] = &[
    "container",
    "image",
    "images",
    "command",
    "role",
    "binding",
    "subjects",
    "service_account",
    "target_user",
    "node",
    "host",
];

/// Longest value quoted from a field, so a pod spec cannot flood the line.
const MAX_VALUE: usize = 120;

pub fn message(p: &Parts<'_>) -> String {
    let field = |k: &str| {
        p.fields
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let user = if p.user.is_empty() {
        field("user").unwrap_or("")
    } else {
        p.user
    };
    let object = match (p.namespace, p.name) {
        ("", n) => n.to_string(),
        (ns, "") => format!("namespace {ns}"),
        (ns, n) => format!("{ns}/{n}"),
    };
    let mut line = match (p.resource, p.subresource) {
        ("pods", "exec" | "attach") if !user.is_empty() => {
            let done = if p.subresource == "exec" {
                "exec'd into"
            } else {
                "attached to"
            };
            let mut s = format!("{user} {done} {object}");
            if let Some(c) = field("container") {
                s.push_str(&format!(" (container {c})"));
            }
            match field("command") {
                Some(cmd) => s.push_str(&format!(": {}", clip(cmd))),
                None => s.push_str(&format!(": {}", p.title)),
            }
            s
        }
        _ if user.is_empty() && p.verb.is_empty() => {
            let mut s = p.title.to_string();
            push_notable(&mut s, &field);
            return s;
        }
        (resource, sub) => {
            let resource = match sub {
                "" => resource.to_string(),
                sub => format!("{resource}/{sub}"),
            };
            let who = if user.is_empty() { "someone" } else { user };
            let words: Vec<&str> = [who, p.verb, resource.as_str(), object.as_str()]
                .into_iter()
                .filter(|w| !w.is_empty())
                .collect();
            let mut s = format!("{}: {}", words.join(" "), p.title);
            push_notable(&mut s, &field);
            s
        }
    };
    if let Some(code @ 400..) = p.code {
        line.push_str(&format!(" (denied: HTTP {code})"));
    }
    line
}

/// " (image nginx, command sh)" for the notable fields set.
fn push_notable<'f>(s: &mut String, field: &impl Fn(&str) -> Option<&'f str>) {
    let named: Vec<String> = NOTABLE
        .iter()
        .filter_map(|k| field(k).map(|v| format!("{} {}", k.replace('_', " "), clip(v))))
        .collect();
    if !named.is_empty() {
        s.push_str(&format!(" ({})", named.join(", ")));
    }
}

fn clip(v: &str) -> String {
    match v.char_indices().nth(MAX_VALUE) {
        Some((at, _)) => format!("{}…", &v[..at]),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts<'a>(fields: &'a Map<String, Value>) -> Parts<'a> {
        Parts {
            user: "alice",
            verb: "create",
            resource: "pods",
            subresource: "exec",
            namespace: "shop",
            name: "api-1",
            title: "Exec into a pod",
            code: Some(101),
            fields,
        }
    }

    #[test]
    fn an_exec_says_who_ran_what_where() {
        let fields = json!({"container": "app", "command": "sh -c id"});
        let fields = fields.as_object().unwrap();
        assert_eq!(
            message(&parts(fields)),
            "alice exec'd into shop/api-1 (container app): sh -c id"
        );
    }

    #[test]
    fn other_requests_say_who_did_what_to_which_object() {
        let fields = json!({"role": "cluster-admin"});
        let fields = fields.as_object().unwrap();
        let p = Parts {
            verb: "create",
            resource: "clusterrolebindings",
            subresource: "",
            namespace: "",
            name: "backdoor",
            title: "Binding to cluster-admin",
            code: Some(403),
            ..parts(fields)
        };
        assert_eq!(
            message(&p),
            "alice create clusterrolebindings backdoor: Binding to cluster-admin (role cluster-admin) (denied: HTTP 403)"
        );
        // A host log's alert: the title and what the pack named.
        let fields = json!({"host": "node-1", "command": "x".repeat(200)});
        let fields = fields.as_object().unwrap();
        let p = Parts {
            user: "",
            verb: "",
            resource: "",
            subresource: "",
            namespace: "",
            name: "",
            code: None,
            title: "Sudo to root",
            fields,
        };
        let m = message(&p);
        assert!(m.starts_with("Sudo to root (command xxx"), "{m}");
        assert!(m.ends_with("…, host node-1)"), "{m}");
    }
}
