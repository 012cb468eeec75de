//! Rules on what a created or changed object says: ConfigMaps holding
//! credentials, NodePort services, ingresses without TLS, namespaces and
//! service accounts where they should not be.

use rule_sdk::{Alerts, Event, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::{alert, is_resource, object_name};

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    if !e.succeeded() {
        return;
    }
    let modify = matches!(e.verb.as_ref(), "create" | "update" | "patch");
    let create = e.verb == "create";
    if modify && is_resource(e, "configmaps", &[""]) {
        configmap_credentials(s, e, out);
    } else if modify && is_resource(e, "services", &[""]) {
        nodeport_service(e, out);
    } else if create && is_resource(e, "ingresses", &["networking.k8s.io", "extensions"]) {
        ingress_without_tls(e, out);
    } else if create && is_resource(e, "namespaces", &[""]) {
        let name = object_name(e);
        // Without a name (Metadata level, generateName) there is nothing
        // to hold against the list.
        if !name.is_empty() && !s.allowed_namespaces.matches(name) {
            alert(out, &DISALLOWED_NAMESPACE_CREATED, e, &[e.username(), name]);
        }
    } else if create
        && is_resource(e, "serviceaccounts", &[""])
        && s.kube_namespaces.matches(e.namespace())
    {
        let name = object_name(e);
        if !s.known_service_accounts.matches(name) {
            alert(
                out,
                &SERVICE_ACCOUNT_IN_KUBE_NAMESPACE,
                e,
                &[e.username(), e.namespace(), name],
            );
        }
    }
}

/// The ConfigMap's `data` keys and values (and `binaryData` keys) that
/// contain a credential pattern, whether the body is the object, a merge
/// patch or a JSON patch. The values themselves stay out of the alert: it
/// would copy the credential into the alert index.
fn configmap_credentials(s: &Settings, e: &Event, out: &mut Alerts) {
    let mut keys: Vec<String> = Vec::new();
    let mut matched: Vec<&str> = Vec::new();
    for (key, value) in configmap_entries(e) {
        let (key_lower, value_lower) = (key.to_ascii_lowercase(), value.to_ascii_lowercase());
        let mut hit = false;
        for pattern in &s.configmap_credential_patterns {
            if key_lower.contains(pattern.as_str()) || value_lower.contains(pattern.as_str()) {
                hit = true;
                if !matched.contains(&pattern.as_str()) {
                    matched.push(pattern);
                }
            }
        }
        if hit && !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return;
    }
    let name = object_name(e);
    alert(
        out,
        &CONFIGMAP_CREDENTIALS,
        e,
        &[e.username(), e.namespace(), name],
    )
    .field("configmap_keys", keys.join(","))
    .field("matched_patterns", matched.join(","));
}

/// The `(key, value)` pairs a request writes into `data` / `binaryData`
/// (binaryData values are base64: only their keys can be read).
fn configmap_entries(e: &Event) -> Vec<(String, String)> {
    let Some(written) = e.request_written() else {
        return Vec::new();
    };
    ["/data", "/binaryData"]
        .into_iter()
        .filter_map(|p| written.pointer(p)?.as_object())
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

fn nodeport_service(e: &Event, out: &mut Alerts) {
    let Some(written) = e.request_written() else {
        return;
    };
    if written.pointer("/spec/type") != Some(&Value::from("NodePort")) {
        return;
    }
    // `port:nodePort/protocol`; the node port is empty until the API
    // server allocates one, unless the request chose it.
    let ports: Vec<String> = written
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let num = |k: &str| p.get(k).map(|v| v.to_string()).unwrap_or_default();
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            format!("{}:{}/{}", num("port"), num("nodePort"), protocol)
        })
        .collect();
    let name = object_name(e);
    alert(
        out,
        &NODEPORT_SERVICE,
        e,
        &[e.username(), e.namespace(), name],
    )
    .field("service_type", "NodePort")
    .field("ports", ports.join(","));
}

fn ingress_without_tls(e: &Event, out: &mut Alerts) {
    // No body (Metadata level): no way to tell, so no alert.
    let Some(spec) = e.request_at("/spec") else {
        return;
    };
    let has_tls = spec
        .get("tls")
        .and_then(Value::as_array)
        .is_some_and(|tls| !tls.is_empty());
    if has_tls {
        return;
    }
    let hosts: Vec<&str> = spec
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("host")?.as_str())
        .collect();
    let name = object_name(e);
    alert(
        out,
        &INGRESS_WITHOUT_TLS,
        e,
        &[e.username(), e.namespace(), name],
    )
    .field("hosts", hosts.join(","));
}
