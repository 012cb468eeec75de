//! Notification channels beside the Elasticsearch sink: a generic webhook,
//! a Slack incoming webhook, Splunk's HTTP Event Collector and
//! Falcosidekick (as if k8scop were one more Falco). Each alert
//! aggregate is offered to every channel once, when it first appears (not
//! on each count update); each channel filters by severity and rule id and
//! sends from its own bounded queue and task (`channel.rs`), so a slow or
//! dead receiver never slows the pipeline: a full queue drops and counts.
//!
//! Delivery is at least once across restarts: alerts raised after the last
//! checkpoint are raised, and notified, again after a restart.

pub mod channel;
pub mod channel_config;
pub mod config;
pub mod falcosidekick;
pub mod filter;
mod secret;
pub mod slack;
pub mod splunk;
pub mod webhook;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use channel::{ChannelReport, DropReason};
pub use channel_config::ChannelConfig;

use crate::contract::Severity;
use crate::ops::Metrics;
use channel::Channel;

/// An alert as the channels see it: the alert document (as written to
/// Elasticsearch), with its count as of the moment it is notified.
#[derive(Debug, Clone)]
pub struct Notification {
    doc: Value,
}

impl Notification {
    pub fn from_alert(doc: Value) -> Self {
        Notification { doc }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    pub fn rule_id(&self) -> &str {
        self.doc["rule"]["id"].as_str().unwrap_or_default()
    }

    pub fn severity_text(&self) -> &str {
        self.doc["k8scop"]["severity"].as_str().unwrap_or("unknown")
    }

    pub fn severity(&self) -> Option<Severity> {
        self.severity_text().parse().ok()
    }

    /// The rule's title, else the alert's message, else the rule id.
    pub fn title(&self) -> &str {
        self.doc["rule"]["name"]
            .as_str()
            .or_else(|| self.doc["message"].as_str())
            .unwrap_or_else(|| self.rule_id())
    }

    /// A field the rule reported (`user`, `namespace`, `command`, ...).
    pub fn field(&self, key: &str) -> Option<&str> {
        self.doc["k8scop"]["fields"][key]
            .as_str()
            .filter(|v| !v.is_empty())
    }

    pub fn count(&self) -> u64 {
        self.doc["k8scop"]["count"].as_u64().unwrap_or(1)
    }

    pub fn time(&self) -> Option<DateTime<Utc>> {
        let t = self.doc["@timestamp"].as_str()?;
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The new aggregates of one batch, with how often each repeated within
/// the batch: a burst is one notification with its count.
#[derive(Debug, Default)]
pub struct FirstSeen {
    alerts: Vec<Value>,
    by_key: HashMap<(String, String), usize>,
}

impl FirstSeen {
    /// An alert document that started an aggregate.
    pub fn added(&mut self, doc: Value) {
        self.by_key.insert(key(&doc), self.alerts.len());
        self.alerts.push(doc);
    }

    /// An alert document that merged into an aggregate.
    pub fn repeated(&mut self, doc: &Value) {
        if let Some(&i) = self.by_key.get(&key(doc)) {
            let count = &mut self.alerts[i]["k8scop"]["count"];
            *count = Value::from(count.as_u64().unwrap_or(1) + 1);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

fn key(doc: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&doc["rule"]["id"]), text(&doc["k8scop"]["group_key"]))
}

/// The fan-out to every configured channel.
#[derive(Default)]
pub struct Notifier {
    channels: Vec<Channel>,
}

impl Notifier {
    /// No channel: offering alerts costs nothing.
    pub fn none() -> Self {
        Notifier::default()
    }

    /// Start one task per channel. Must run inside a tokio runtime.
    pub fn start(configs: Vec<ChannelConfig>, metrics: &Metrics) -> anyhow::Result<Self> {
        let channels = configs
            .into_iter()
            .map(|c| Channel::start(c, metrics))
            .collect::<anyhow::Result<_>>()?;
        Ok(Notifier { channels })
    }

    pub fn is_active(&self) -> bool {
        !self.channels.is_empty()
    }

    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.channels.iter().map(Channel::name)
    }

    /// Offer one alert to every channel. Never waits.
    pub fn send(&self, n: Notification) {
        let n = Arc::new(n);
        for channel in &self.channels {
            channel.offer(&n);
        }
    }

    /// Offer a batch's new aggregates.
    pub fn send_all(&self, fresh: FirstSeen) {
        for doc in fresh.alerts {
            self.send(Notification::from_alert(doc));
        }
    }

    /// Close every queue and give each channel its drain timeout (all at
    /// once) to send what is queued.
    pub async fn shutdown(self) -> NotifyReport {
        let started = tokio::time::Instant::now();
        let mut report = NotifyReport::default();
        for channel in self.channels {
            report.channels.push(channel.drain(started).await);
        }
        report
    }
}

/// What every channel did, for the run's summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyReport {
    pub channels: Vec<ChannelReport>,
}

impl NotifyReport {
    pub fn channel(&self, name: &str) -> Option<&ChannelReport> {
        self.channels.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for NotifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.channels.is_empty() {
            return Ok(());
        }
        writeln!(f, "  notifications")?;
        let width = self
            .channels
            .iter()
            .map(|c| c.name.len() + c.kind.len() + 3)
            .max()
            .unwrap_or(0);
        for c in &self.channels {
            let label = format!("{} ({})", c.name, c.kind);
            write!(f, "    {label:<width$}  {} sent", c.sent)?;
            if c.retries > 0 {
                write!(f, ", {} retries", c.retries)?;
            }
            if c.filtered > 0 {
                write!(f, ", {} filtered out", c.filtered)?;
            }
            if c.dropped_total() > 0 {
                let reasons: Vec<String> = c
                    .dropped
                    .iter()
                    .map(|(reason, n)| format!("{reason} {n}"))
                    .collect();
                write!(
                    f,
                    "; DROPPED {} ({})",
                    c.dropped_total(),
                    reasons.join(", ")
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(rule: &str, group: &str) -> Value {
        json!({"rule": {"id": rule}, "k8scop": {"group_key": group, "count": 1, "severity": "high"}})
    }

    #[test]
    fn repeats_within_a_batch_count_into_the_first_notice() {
        let mut fresh = FirstSeen::default();
        fresh.added(alert("p/a", "alice"));
        fresh.repeated(&alert("p/a", "alice"));
        fresh.repeated(&alert("p/a", "alice"));
        // Merged into an aggregate of an earlier batch: not notified.
        fresh.repeated(&alert("p/a", "bob"));
        fresh.added(alert("p/b", "alice"));
        let counts: Vec<u64> = fresh
            .alerts
            .iter()
            .map(|a| Notification::from_alert(a.clone()).count())
            .collect();
        assert_eq!(counts, [3, 1]);
    }

    #[test]
    fn report_lists_drops_by_reason() {
        let report = NotifyReport {
            channels: vec![
                ChannelReport {
                    name: "slack".into(),
                    kind: "slack",
                    sent: 4,
                    filtered: 3,
                    ..Default::default()
                },
                ChannelReport {
                    name: "hook".into(),
                    kind: "webhook",
                    sent: 0,
                    retries: 14,
                    dropped: [(DropReason::RetriesExhausted, 7)].into(),
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            report.to_string(),
            "  notifications\n    slack (slack)   4 sent, 3 filtered out\n    hook (webhook)  0 sent, 14 retries; DROPPED 7 (retries exhausted 7)\n"
        );
        assert_eq!(NotifyReport::default().to_string(), "");
    }
}
