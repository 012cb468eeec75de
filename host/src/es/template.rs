//! The index template for alert indices, installed at start so every
//! `<alerts-prefix>-YYYY.MM.DD` index gets explicit mappings: times as
//! dates, identifiers as keywords, counts as numbers, ECS names where ECS
//! has one. Kibana can then sort, filter and aggregate without work.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::{EsClient, EsError};

/// Bumped when the mappings change, so an operator can tell which template
/// a cluster has (`_meta.k8scop_template_version`).
pub const TEMPLATE_VERSION: u32 = 3;

pub fn template_name(alerts_prefix: &str) -> String {
    format!("{alerts_prefix}-template")
}

pub fn alert_template(alerts_prefix: &str) -> Value {
    let mut properties = ecs_properties();
    properties["k8scop"] = k8scop_properties();
    json!({
        "index_patterns": [format!("{alerts_prefix}-*")],
        "priority": 200,
        "_meta": {"managed_by": "k8scop", "k8scop_template_version": TEMPLATE_VERSION},
        "template": {
            "settings": {"index": {"number_of_shards": 1}},
            "mappings": {
                // Rule-specific fields (k8scop.fields.*) are strings: keep
                // them aggregatable as keywords.
                "dynamic_templates": [
                    {"strings_as_keywords": {"match_mapping_type": "string", "mapping": keyword()}}
                ],
                "properties": properties
            }
        }
    })
}

// ECS types where OpenSearch has them; ECS's `wildcard` and
// `match_only_text` are Elasticsearch-only, so `keyword` and `text`.
fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}

fn date() -> Value {
    json!({"type": "date"})
}

fn long() -> Value {
    json!({"type": "long"})
}

/// An ATT&CK tactic, technique or sub-technique.
fn named() -> Value {
    json!({"properties": {"id": keyword(), "name": keyword(), "reference": keyword()}})
}

/// The ECS fields alert documents carry (split from the rest only to stay
/// under `json!`'s recursion limit).
fn ecs_properties() -> Value {
    let event = json!({"properties": {
        "kind": keyword(), "module": keyword(), "dataset": keyword(),
        "action": keyword(), "category": keyword(), "type": keyword(),
        "outcome": keyword(), "id": keyword(),
        "severity": long(), "risk_score": {"type": "float"},
        "start": date(), "end": date(), "ingested": date()
    }});
    // Arrays of objects in a document (one per tactic, per technique):
    // plain objects here, as ECS maps them.
    let threat = json!({"properties": {
        "framework": keyword(),
        "tactic": named(),
        "technique": {"properties": {
            "id": keyword(), "name": keyword(), "reference": keyword(),
            "subtechnique": named()
        }}
    }});
    let orchestrator = json!({"properties": {
        "type": keyword(), "namespace": keyword(), "api_version": keyword(),
        "cluster": {"properties": {"name": keyword()}},
        "resource": {"properties": {"type": keyword(), "name": keyword()}}
    }});
    json!({
        "@timestamp": date(),
        "message": {"type": "text", "fields": {"keyword": keyword()}},
        "tags": keyword(),
        "ecs": {"properties": {"version": keyword()}},
        "event": event,
        "rule": {"properties": {
            "id": keyword(), "name": keyword(), "ruleset": keyword(), "version": keyword(),
            "description": {"type": "text"}
        }},
        "threat": threat,
        "user": {"properties": {
            "name": keyword(),
            "group": {"properties": {"name": keyword()}},
            "effective": {"properties": {"name": keyword()}}
        }},
        "related": {"properties": {"user": keyword(), "ip": {"type": "ip"}}},
        "source": {"properties": {"ip": {"type": "ip"}}},
        "user_agent": {"properties": {"original": keyword()}},
        "url": {"properties": {"original": keyword()}},
        "http": {"properties": {"response": {"properties": {"status_code": long()}}}},
        "orchestrator": orchestrator,
        "host": {"properties": {"name": keyword()}},
        "container": {"properties": {"name": keyword()}},
        "process": {"properties": {"command_line": keyword()}}
    })
}

/// k8scop's own fields.
fn k8scop_properties() -> Value {
    json!({"properties": {
        "alert_id": keyword(),
        "severity": keyword(),
        "group_key": keyword(),
        // The alert's own title, when its rule gave it one beyond the rule's.
        "title": keyword(),
        // Kubernetes' subresource (`exec` of `pods/exec`): ECS has no field.
        "subresource": keyword(),
        "count": long(),
        "first_seen": date(),
        "last_seen": date(),
        "sources_total": long(),
        // `item`: an event's position in a batch document (EventList, CloudWatch).
        "sources": {"properties": {"index": keyword(), "id": keyword(), "line": long(), "item": long()}},
        "fields": {"type": "object", "dynamic": true}
    }})
}

/// Install (or update) the alert index template.
pub async fn install(client: &EsClient, alerts_prefix: &str) -> Result<(), EsError> {
    install_with_lifecycle(client, alerts_prefix, None).await
}

/// Install the alert index template, its indices under the ILM policy
/// `lifecycle` if given (see `retention`). Set here, not in the template's
/// JSON: it depends on the cluster and the configuration.
pub async fn install_with_lifecycle(
    client: &EsClient,
    alerts_prefix: &str,
    lifecycle: Option<&str>,
) -> Result<(), EsError> {
    let name = template_name(alerts_prefix);
    let mut template = alert_template(alerts_prefix);
    if let Some(policy) = lifecycle {
        template["template"]["settings"]["index"]["lifecycle"] = json!({ "name": policy });
    }
    client
        .json(
            Method::PUT,
            &format!("/_index_template/{name}"),
            Some(&template),
        )
        .await?;
    tracing::info!(
        template = name,
        pattern = format!("{alerts_prefix}-*"),
        "alert index template installed"
    );
    Ok(())
}

/// Every field the template maps, dotted, with its type; multi-fields
/// (`message.keyword`) included. What the checks of everything that reads
/// alerts (dashboards, the Elastic Security rule, ECS) compare against.
pub fn mapped_field_types(alerts_prefix: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, properties: &Value, out: &mut BTreeMap<String, String>) {
        for (name, spec) in properties.as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if let Some(children) = spec.get("properties") {
                walk(&path, children, out);
                continue;
            }
            let kind = spec["type"].as_str().unwrap_or("object").to_string();
            out.insert(path.clone(), kind);
            if let Some(multi) = spec.get("fields") {
                walk(&path, multi, out);
            }
        }
    }
    let template = alert_template(alerts_prefix);
    let mut out = BTreeMap::new();
    walk(
        "",
        &template["template"]["mappings"]["properties"],
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_maps_what_alert_documents_carry() {
        let fields = mapped_field_types("k8scop-alerts");
        for f in [
            "@timestamp",
            "event.kind",
            "rule.id",
            "rule.name",
            "user.name",
            "source.ip",
            "k8scop.count",
            "k8scop.first_seen",
            // What the dashboards read.
            "event.severity",
            "event.risk_score",
            "k8scop.severity",
            "orchestrator.namespace",
            "orchestrator.cluster.name",
            "threat.tactic.name",
            "threat.technique.name",
            "threat.technique.subtechnique.name",
        ] {
            assert!(fields.contains_key(f), "{f} not mapped");
        }
        let t = alert_template("k8scop-alerts");
        assert_eq!(t["index_patterns"], json!(["k8scop-alerts-*"]));
        assert_eq!(
            t["template"]["mappings"]["properties"]["k8scop"]["properties"]["count"]["type"],
            "long"
        );
    }
}
