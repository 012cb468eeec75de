//! One channel's settings, validated and with its secrets read: what
//! `config.rs` builds from the file and `channel.rs` runs. Its own file so
//! the two import it and never each other.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderMap;

use super::falcosidekick::Sidekick;
use super::filter::Filter;
use super::splunk::Envelope;
use super::{Notification, slack, webhook};
use crate::es::retry::Backoff;

/// One channel, validated, secrets read.
#[derive(Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub format: Format,
    pub url: Url,
    /// The URL came from `url_env`/`url_file`: show only its origin.
    pub url_is_secret: bool,
    /// Extra headers, the credential among them (marked sensitive).
    pub headers: HeaderMap,
    pub filter: Filter,
    pub queue_size: usize,
    /// Per request.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// How long the queue may take to empty at shutdown.
    pub drain_timeout: Duration,
}

impl fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = if self.url_is_secret {
            format!("{}/<redacted>", origin(&self.url))
        } else {
            self.url.to_string()
        };
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| match value.to_str() {
                Ok(v) if !value.is_sensitive() => format!("{name}: {v}"),
                _ => format!("{name}: <redacted>"),
            })
            .collect();
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("url", &url)
            .field("headers", &headers)
            .field("filter", &self.filter)
            .field("queue_size", &self.queue_size)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

/// How a channel shapes its requests.
#[derive(Debug, Clone)]
pub enum Format {
    Webhook,
    Slack,
    SplunkHec(Envelope),
    Falcosidekick(Sidekick),
}

impl Format {
    pub fn kind(&self) -> &'static str {
        match self {
            Format::Webhook => "webhook",
            Format::Slack => "slack",
            Format::SplunkHec(_) => "splunk_hec",
            Format::Falcosidekick(_) => "falcosidekick",
        }
    }

    pub(super) fn body(&self, n: &Notification) -> serde_json::Value {
        match self {
            Format::Webhook => webhook::body(n),
            Format::Slack => slack::body(n),
            Format::SplunkHec(envelope) => envelope.body(n),
            Format::Falcosidekick(sidekick) => sidekick.body(n),
        }
    }
}

/// Scheme, host and port only: safe to log whatever the path holds.
pub fn origin(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_hide_paths() {
        let url = Url::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap();
        assert_eq!(origin(&url), "https://hooks.slack.com");
        let url = Url::parse("http://127.0.0.1:8088/services/collector/event").unwrap();
        assert_eq!(origin(&url), "http://127.0.0.1:8088");
    }
}
