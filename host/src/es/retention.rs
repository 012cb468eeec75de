//! How long alert indices are kept: a lifecycle policy installed at start,
//! beside the alert template, deleting each `<alerts-prefix>-YYYY.MM.DD`
//! index once it is older than `--alerts-retention`. Elasticsearch has ILM
//! (the template names the policy in `index.lifecycle.name`); OpenSearch
//! has the ISM plugin (the policy's `ism_template` claims new indices by
//! pattern). A cluster with neither gets a warning, never a failed start:
//! retention is housekeeping, alerting is the job.

use reqwest::Method;
use serde_json::{Value, json};

use super::{EsClient, EsError, Flavor};

/// The default `--alerts-retention`: a quarter of alerts at hand, for an
/// investigation that starts late.
pub const DEFAULT_RETENTION: &str = "90d";

/// `--alerts-retention`: an age (`90d`, `12h`, `30m`, `45s`), or `0` /
/// `off` for no policy at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention(pub Option<String>);

impl std::str::FromStr for Retention {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if matches!(text, "0" | "off" | "none") {
            return Ok(Retention(None));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        match (number.parse::<u64>(), unit) {
            (Ok(n), "d" | "h" | "m" | "s") if n > 0 => Ok(Retention(Some(format!("{n}{unit}")))),
            _ => Err(format!(
                "`{text}` is not an age: a number and a unit (d, h, m or s), e.g. 90d; or 0 / off for no retention policy"
            )),
        }
    }
}

/// The policy's name: one per alert prefix.
pub fn policy_name(alerts_prefix: &str) -> String {
    format!("{alerts_prefix}-retention")
}

/// The ILM policy: a delete phase at `age` (ILM counts from the index's
/// creation, one index a day here).
pub fn ilm_policy(age: &str) -> Value {
    json!({"policy": {"phases": {"delete": {"min_age": age, "actions": {"delete": {}}}}}})
}

/// The ISM policy: `hot` until the index is `age` old, then `delete`; its
/// `ism_template` attaches it to every new `<alerts-prefix>-*` index.
pub fn ism_policy(alerts_prefix: &str, age: &str) -> Value {
    json!({"policy": {
        "description": format!("k8scop: delete {alerts_prefix}-* indices {age} after creation"),
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": [],
             "transitions": [{"state_name": "delete", "conditions": {"min_index_age": age}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
        ],
        "ism_template": [{"index_patterns": [format!("{alerts_prefix}-*")], "priority": 100}]
    }})
}

/// The checkpoints must outlive any retention and must not get the alert
/// mappings: a state index the alert pattern would match is refused.
pub fn refuse_state_in_alerts(state_index: &str, alerts_prefix: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !state_index.starts_with(&format!("{alerts_prefix}-")),
        "the state index {state_index} (checkpoints) matches the alert indices' pattern {alerts_prefix}-*: the alert template and the retention policy would apply to it; choose another --alerts-prefix"
    );
    Ok(())
}

/// What installing the policy came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Created, or updated to the wanted age.
    Written,
    /// Already as wanted: nothing sent.
    Unchanged,
    /// `--alerts-retention off`.
    Disabled,
    /// The cluster has no ILM / ISM, or refused: said in a warning.
    Unavailable(String),
}

/// Install the retention policy of `alerts_prefix` for `retention`,
/// idempotently: the policy is read first and written only when it is
/// missing or differs. Returns the ILM policy the alert template should
/// name (Elasticsearch, with the policy in place), if any.
pub async fn install(
    client: &EsClient,
    flavor: &Flavor,
    alerts_prefix: &str,
    retention: &Retention,
) -> (Installed, Option<String>) {
    let Some(age) = &retention.0 else {
        return (Installed::Disabled, None);
    };
    let name = policy_name(alerts_prefix);
    let result = match flavor {
        Flavor::Elasticsearch { .. } => install_ilm(client, &name, age).await,
        Flavor::OpenSearch { .. } => install_ism(client, &name, alerts_prefix, age).await,
    };
    match result {
        Ok(installed) => {
            tracing::info!(policy = name, age, pattern = format!("{alerts_prefix}-*"), result = ?installed, "alert retention policy in place");
            let lifecycle = matches!(flavor, Flavor::Elasticsearch { .. }).then_some(name);
            (installed, lifecycle)
        }
        Err(e) => {
            let why = if no_route(&e) {
                format!("the cluster has no {} API", api(flavor))
            } else {
                e.to_string()
            };
            tracing::warn!(
                policy = name,
                "cannot install the alert retention policy ({why}): alert indices are kept until deleted by hand"
            );
            (Installed::Unavailable(why), None)
        }
    }
}

fn api(flavor: &Flavor) -> &'static str {
    match flavor {
        Flavor::Elasticsearch { .. } => "ILM",
        Flavor::OpenSearch { .. } => "ISM",
    }
}

/// The route itself is missing (a cluster without the feature or plugin).
fn no_route(e: &EsError) -> bool {
    match e {
        EsError::Status { status, reason, .. } => {
            matches!(status, 404 | 405) || reason.contains("no handler found")
        }
        _ => false,
    }
}

async fn install_ilm(client: &EsClient, name: &str, age: &str) -> Result<Installed, EsError> {
    let path = format!("/_ilm/policy/{name}");
    let wanted = ilm_policy(age);
    if let Some(current) = get_or_none(client, &path).await? {
        // `{"<name>": {"version", "modified_date", "policy": {...}}}`
        if contains(&current[name]["policy"], &wanted["policy"]) {
            return Ok(Installed::Unchanged);
        }
    }
    client.json(Method::PUT, &path, Some(&wanted)).await?;
    Ok(Installed::Written)
}

async fn install_ism(
    client: &EsClient,
    name: &str,
    alerts_prefix: &str,
    age: &str,
) -> Result<Installed, EsError> {
    let path = format!("/_plugins/_ism/policies/{name}");
    let wanted = ism_policy(alerts_prefix, age);
    let update = match get_or_none(client, &path).await? {
        // `{"_id", "_version", "_seq_no", "_primary_term", "policy": {...}}`
        Some(current) if contains(&current["policy"], &wanted["policy"]) => {
            return Ok(Installed::Unchanged);
        }
        // ISM refuses to overwrite a policy without naming the version read.
        Some(current) => format!(
            "?if_seq_no={}&if_primary_term={}",
            current["_seq_no"], current["_primary_term"]
        ),
        None => String::new(),
    };
    client
        .json(Method::PUT, &format!("{path}{update}"), Some(&wanted))
        .await?;
    Ok(Installed::Written)
}

/// GET `path`: the answer, or None on 404 (no such policy; or no such
/// route, which the PUT then says).
async fn get_or_none(client: &EsClient, path: &str) -> Result<Option<Value>, EsError> {
    match client.json(Method::GET, path, None).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every field of `wanted` is in `current` with the same value: the server
/// adds its own (`policy_id`, `last_updated_time`, a hot phase's
/// `min_age`), which are no difference.
pub fn contains(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::Object(c), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| c.get(k).is_some_and(|cv| contains(cv, wv))),
        (Value::Array(c), Value::Array(w)) => {
            c.len() == w.len() && c.iter().zip(w).all(|(cv, wv)| contains(cv, wv))
        }
        _ => current == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_and_off_disables() {
        for (text, want) in [
            ("90d", Some("90d")),
            ("12h", Some("12h")),
            (" 30m ", Some("30m")),
            ("0", None),
            ("off", None),
        ] {
            assert_eq!(
                text.parse::<Retention>().unwrap().0.as_deref(),
                want,
                "{text}"
            );
        }
        for bad in ["", "d", "90", "90days", "-1d", "0d", "1.5d"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_state_index_inside_the_alert_pattern_is_refused() {
        assert!(refuse_state_in_alerts("k8scop-state-k8scop-alerts", "k8scop-alerts").is_ok());
        let err = refuse_state_in_alerts("k8scop-state-k8scop", "k8scop").unwrap_err();
        assert!(
            err.to_string()
                .contains("matches the alert indices' pattern k8scop-*"),
            "{err}"
        );
    }

    #[test]
    fn server_added_fields_are_no_difference() {
        let wanted = ism_policy("a", "90d");
        let mut current = wanted["policy"].clone();
        current["policy_id"] = json!("a-retention");
        current["ism_template"][0]["last_updated_time"] = json!(1);
        assert!(contains(&current, &wanted["policy"]));
        current["states"][0]["transitions"][0]["conditions"]["min_index_age"] = json!("30d");
        assert!(!contains(&current, &wanted["policy"]));
    }
}
