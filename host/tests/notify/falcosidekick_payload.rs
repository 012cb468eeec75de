//! The event as Falcosidekick reads it: its field names and types (Go's
//! `FalcoPayload`: `uuid`, `output`, `priority`, `rule`, `time`,
//! `output_fields`, `source`, `tags`, `hostname`), its priority parsing
//! (case-insensitive, an unknown one is none) and its check before it
//! forwards an event (a priority, a rule, a time, some output fields).
//! Stricter than Falcosidekick where k8scop promises more: no unknown
//! field, `source` present, output fields scalars, the time RFC 3339.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

/// Falco's priorities, as Falcosidekick orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Debug,
    Informational,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.to_lowercase().as_str() {
            "debug" => Priority::Debug,
            "informational" => Priority::Informational,
            "notice" => Priority::Notice,
            "warning" => Priority::Warning,
            "error" => Priority::Error,
            "critical" => Priority::Critical,
            "alert" => Priority::Alert,
            "emergency" => Priority::Emergency,
            // Falcosidekick reads it as no priority and refuses the event.
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown priority {text:?}"
                )));
            }
        })
    }
}

/// An output field's value: what Falco writes, never an object or a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalcoPayload {
    #[allow(dead_code)]
    pub uuid: Option<String>,
    pub output: String,
    pub priority: Priority,
    pub rule: String,
    #[serde(deserialize_with = "rfc3339")]
    pub time: DateTime<FixedOffset>,
    pub output_fields: BTreeMap<String, Scalar>,
    pub source: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub hostname: String,
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map_err(|e| serde::de::Error::custom(format!("time {text:?} is not RFC 3339: {e}")))
}

impl FalcoPayload {
    /// The body as Falcosidekick's handler takes it, or why it answers 400.
    pub fn parse(body: &[u8]) -> Result<FalcoPayload, String> {
        let payload: FalcoPayload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if payload.rule.is_empty() {
            return Err("no rule".into());
        }
        if payload.output_fields.is_empty() {
            return Err("no output_fields".into());
        }
        if payload.source.is_empty() {
            return Err("no source".into());
        }
        Ok(payload)
    }
}

/// The receiver's check: `FalcoPayload::parse` without the payload.
pub fn check(body: &[u8]) -> Result<(), String> {
    FalcoPayload::parse(body).map(|_| ())
}
