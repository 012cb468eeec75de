//! The index template for alert indices, installed at start so every
//! `<alerts-prefix>-YYYY.MM.DD` index gets explicit mappings: times as
//! dates, identifiers as keywords, counts as numbers, ECS names where ECS
//! has one. Kibana can then sort, filter and aggregate without work.

use reqwest::Method;
use serde_json::{Value, json};

use super::{EsClient, EsError};

/// Bumped when the mappings change, so an operator can tell which template
/// a cluster has (`_meta.k8scop_template_version`).
pub const TEMPLATE_VERSION: u32 = 2;

pub fn template_name(alerts_prefix: &str) -> String {
    format!("{alerts_prefix}-template")
}

pub fn alert_template(alerts_prefix: &str) -> Value {
    let keyword = || json!({"type": "keyword", "ignore_above": 1024});
    let date = || json!({"type": "date"});
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
                "properties": {
                    "@timestamp": date(),
                    "message": {"type": "text", "fields": {"keyword": keyword()}},
                    "tags": keyword(),
                    "event": {"properties": {
                        "kind": keyword(), "module": keyword(), "dataset": keyword(),
                        "severity": {"type": "long"}, "action": keyword()
                    }},
                    "rule": {"properties": {
                        "id": keyword(), "name": keyword(), "ruleset": keyword(), "version": keyword(),
                        "description": {"type": "text"}
                    }},
                    "user": {"properties": {
                        "name": keyword(),
                        "effective": {"properties": {"name": keyword()}}
                    }},
                    "source": {"properties": {"ip": {"type": "ip"}}},
                    "user_agent": {"properties": {"original": keyword()}},
                    "orchestrator": {"properties": {
                        "type": keyword(), "namespace": keyword(),
                        "resource": {"properties": {"type": keyword(), "name": keyword()}}
                    }},
                    "host": {"properties": {"name": keyword()}},
                    "container": {"properties": {"name": keyword()}},
                    "process": {"properties": {"command_line": keyword()}},
                    "k8scop": {"properties": {
                        "alert_id": keyword(),
                        "severity": keyword(),
                        "group_key": keyword(),
                        "count": {"type": "long"},
                        "first_seen": date(),
                        "last_seen": date(),
                        "sources_total": {"type": "long"},
                        // `item`: an event's position in a batch document (EventList, CloudWatch).
                        "sources": {"properties": {"index": keyword(), "id": keyword(), "line": {"type": "long"}, "item": {"type": "long"}}},
                        "fields": {"type": "object", "dynamic": true}
                    }}
                }
            }
        }
    })
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

/// Every field path the template maps, dotted (for checks elsewhere).
pub fn mapped_fields(alerts_prefix: &str) -> Vec<String> {
    fn walk(prefix: &str, properties: &Value, out: &mut Vec<String>) {
        let Some(map) = properties.as_object() else {
            return;
        };
        for (name, spec) in map {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match spec.get("properties") {
                Some(children) => walk(&path, children, out),
                None => out.push(path),
            }
        }
    }
    let template = alert_template(alerts_prefix);
    let mut out = Vec::new();
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
        let fields = mapped_fields("k8scop-alerts");
        for f in [
            "@timestamp",
            "event.kind",
            "rule.id",
            "rule.name",
            "user.name",
            "source.ip",
            "k8scop.count",
            "k8scop.first_seen",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not mapped");
        }
        let t = alert_template("k8scop-alerts");
        assert_eq!(t["index_patterns"], json!(["k8scop-alerts-*"]));
        assert_eq!(
            t["template"]["mappings"]["properties"]["k8scop"]["properties"]["count"]["type"],
            "long"
        );
    }
}
