//! `[[notify]]` tables of the configuration file, checked at start-up.
//! Secrets are never written in the file: tokens, secret headers and URLs
//! that carry a secret (a Slack webhook) are read from an environment
//! variable (`*_env`) or a file (`*_file`, how Kubernetes mounts Secrets),
//! and `Debug` never shows them.
//!
//! ```toml
//! [[notify]]
//! type = "splunk_hec"
//! url = "https://splunk.example.com:8088"
//! token_file = "/var/run/secrets/splunk/hec-token"
//! min_severity = "medium"
//! rules = ["k8scop-classic/*"]
//! exclude_rules = ["*/pod-read"]
//!
//! [[notify]]
//! type = "falcosidekick"
//! url = "http://falcosidekick:2801/"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::channel_config::{ChannelConfig, Format};
use super::falcosidekick::Sidekick;
use super::filter::Filter;
use super::secret::Env;
use super::secret::{from_env, from_file, header_name, parse_url, sensitive};
use super::splunk::{self, Envelope};
use super::webhook;
use crate::contract::Severity;
use crate::es::retry::Backoff;

/// A `[[notify]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    header_env: BTreeMap<String, String>,
    #[serde(default)]
    header_file: BTreeMap<String, PathBuf>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    min_severity: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    exclude_rules: Vec<String>,
    queue_size: Option<usize>,
    max_retries: Option<u32>,
    timeout: Option<f64>,
    retry_backoff: Option<f64>,
    retry_backoff_max: Option<f64>,
    drain_timeout: Option<f64>,
    // Splunk HEC's envelope.
    index: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
    host: Option<String>,
}

pub const DEFAULT_QUEUE_SIZE: usize = 1000;
const MAX_QUEUE_SIZE: usize = 1_000_000;
pub const DEFAULT_MAX_RETRIES: u32 = 5;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The `[[notify]]` tables of a whole configuration file.
pub fn channels_from_toml(text: &str, env: Env) -> anyhow::Result<Vec<ChannelConfig>> {
    let table = crate::config_toml::parse_secret_toml(text)?;
    let Some(notify) = table.get("notify") else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(items) = notify else {
        bail!("`notify` must be a list of tables: write each channel as [[notify]]");
    };
    let mut channels: Vec<ChannelConfig> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let toml::Value::Table(item) = item else {
            bail!("[[notify]] #{}: must be a table", i + 1);
        };
        let kind = item.get("type").and_then(|t| t.as_str()).unwrap_or("?");
        let channel = channel(item, env).with_context(|| {
            let name = item.get("name").and_then(|t| t.as_str());
            match name {
                Some(name) => format!("[[notify]] #{} ({kind} {name:?})", i + 1),
                None => format!("[[notify]] #{} ({kind})", i + 1),
            }
        })?;
        if !names.insert(channel.name.clone()) {
            bail!(
                "[[notify]] #{}: two channels are named {:?}: give each its own `name`",
                i + 1,
                channel.name
            );
        }
        channels.push(channel);
    }
    Ok(channels)
}

fn channel(item: &toml::Table, env: Env) -> anyhow::Result<ChannelConfig> {
    // The file's other keys may be written `es-url` or `es_url`; so here.
    let mut table = toml::Table::new();
    for (key, value) in item {
        table.insert(key.replace('-', "_"), value.clone());
    }
    if table.contains_key("token") {
        bail!(
            "`token` may not be written in the config file: put it in an environment variable (`token_env = \"NAME\"`) or a file (`token_file = \"/path\"`)"
        );
    }
    let raw: RawChannel = toml::Value::Table(table).try_into()?;
    let format = match raw.kind.as_str() {
        "webhook" => Format::Webhook,
        "slack" => Format::Slack,
        "splunk_hec" => Format::SplunkHec(Envelope {
            host: hostname(&raw, env),
            source: raw.source.clone().unwrap_or_else(|| "k8scop".into()),
            sourcetype: raw
                .sourcetype
                .clone()
                .unwrap_or_else(|| "k8scop:alert".into()),
            index: raw.index.clone(),
        }),
        "falcosidekick" => Format::Falcosidekick(Sidekick {
            hostname: hostname(&raw, env),
        }),
        other => {
            bail!(
                "unknown channel type {other:?}: use \"webhook\", \"slack\", \"splunk_hec\" or \"falcosidekick\""
            )
        }
    };
    let splunk = matches!(format, Format::SplunkHec(_));
    let sidekick = matches!(format, Format::Falcosidekick(_));
    if !splunk
        && let Some(key) = [
            ("index", raw.index.is_some()),
            ("source", raw.source.is_some()),
            ("sourcetype", raw.sourcetype.is_some()),
            // Falcosidekick's events name their host too.
            ("host", raw.host.is_some() && !sidekick),
        ]
        .iter()
        .find_map(|(key, set)| set.then_some(key))
    {
        bail!(
            "`{key}` is a Splunk HEC setting; this channel is a {}",
            raw.kind
        );
    }

    let (url_text, url_is_secret) = match (&raw.url, &raw.url_env, &raw.url_file) {
        // Whoever has a Slack webhook URL can post to the channel.
        (Some(_), None, None) if matches!(format, Format::Slack) => bail!(
            "a Slack webhook URL is a secret: give it with `url_env` or `url_file`, not `url`"
        ),
        (Some(url), None, None) => (url.clone(), false),
        (None, Some(var), None) => (from_env(env, var, "url_env")?, true),
        (None, None, Some(path)) => (from_file(path, "url_file")?, true),
        (None, None, None) => bail!(
            "no URL: set `url`, or `url_env` / `url_file` when the URL holds a secret (a Slack webhook)"
        ),
        _ => bail!("give the URL once: `url`, `url_env` or `url_file`"),
    };
    let mut url = parse_url(&url_text, url_is_secret)?;
    if matches!(format, Format::SplunkHec(_)) {
        url = splunk::endpoint(url);
    }

    let name = raw.name.clone().unwrap_or_else(|| raw.kind.clone());
    if name.trim().is_empty() {
        bail!("`name` is empty");
    }

    let mut headers = HeaderMap::new();
    for (key, value) in &raw.headers {
        let name = header_name(key)?;
        if name == AUTHORIZATION {
            bail!(
                "`headers` may not carry Authorization: it is a secret; use `token_env`/`token_file`, or `header_env`/`header_file`"
            );
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| anyhow::anyhow!("header {key}: not a valid header value"))?;
        headers.insert(name, value);
    }
    for (key, var) in &raw.header_env {
        let secret = from_env(env, var, &format!("header_env.{key}"))?;
        headers.insert(header_name(key)?, sensitive(&secret, key)?);
    }
    for (key, path) in &raw.header_file {
        let secret = from_file(path, &format!("header_file.{key}"))?;
        headers.insert(header_name(key)?, sensitive(&secret, key)?);
    }

    let token = match (&raw.token_env, &raw.token_file) {
        (Some(var), None) => Some(from_env(env, var, "token_env")?),
        (None, Some(path)) => Some(from_file(path, "token_file")?),
        (None, None) => None,
        _ => bail!("give the token once: `token_env` or `token_file`"),
    };
    match (&format, token) {
        (Format::SplunkHec(_), Some(token)) => {
            headers.insert(
                AUTHORIZATION,
                splunk::authorization(&token).map_err(anyhow::Error::msg)?,
            );
        }
        (Format::SplunkHec(_), None) => {
            bail!("a Splunk HEC channel needs its token: `token_env` or `token_file`")
        }
        // Falcosidekick takes no credential itself; a token is for a proxy
        // in front of it, sent as a webhook's.
        (Format::Webhook | Format::Falcosidekick(_), Some(token)) => {
            if headers.contains_key(AUTHORIZATION) {
                bail!("Authorization is set twice: by the token and by a header");
            }
            headers.insert(
                AUTHORIZATION,
                webhook::authorization(&token).map_err(anyhow::Error::msg)?,
            );
        }
        (Format::Slack, Some(_)) => {
            bail!("a Slack webhook takes no token: its URL is the secret (`url_env` or `url_file`)")
        }
        (_, None) => {}
    }

    let min_severity = match &raw.min_severity {
        Some(s) => s
            .parse::<Severity>()
            .map_err(|e| anyhow::anyhow!("min_severity: {e}"))?,
        None => Severity::Info,
    };
    for pattern in raw.rules.iter().chain(&raw.exclude_rules) {
        if pattern.trim().is_empty() {
            bail!("an empty rule pattern in `rules` or `exclude_rules`");
        }
    }
    let queue_size = raw.queue_size.unwrap_or(DEFAULT_QUEUE_SIZE);
    if !(1..=MAX_QUEUE_SIZE).contains(&queue_size) {
        bail!("queue_size must be between 1 and {MAX_QUEUE_SIZE}, not {queue_size}");
    }
    let timeout = seconds(raw.timeout, "timeout", DEFAULT_TIMEOUT)?;
    if timeout.is_zero() {
        bail!("timeout must be more than 0 seconds");
    }
    Ok(ChannelConfig {
        name,
        format,
        url,
        url_is_secret,
        headers,
        filter: Filter {
            min_severity,
            include: raw.rules,
            exclude: raw.exclude_rules,
        },
        queue_size,
        timeout,
        backoff: Backoff {
            initial: seconds(raw.retry_backoff, "retry_backoff", DEFAULT_BACKOFF)?,
            max: seconds(
                raw.retry_backoff_max,
                "retry_backoff_max",
                DEFAULT_BACKOFF_MAX,
            )?,
            max_retries: raw.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        },
        drain_timeout: seconds(raw.drain_timeout, "drain_timeout", DEFAULT_DRAIN_TIMEOUT)?,
    })
}

/// The `host` a Splunk HEC or Falcosidekick event names: the configured
/// one, else the pod's name (`HOSTNAME`, else the kernel's).
fn hostname(raw: &RawChannel, env: Env) -> String {
    raw.host
        .clone()
        .or_else(|| env("HOSTNAME"))
        .or_else(kernel_hostname)
        .unwrap_or_else(|| "k8scop".into())
}

/// The machine's name (a pod's name in Kubernetes).
fn kernel_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn seconds(value: Option<f64>, key: &str, default: Duration) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(s) if (0.0..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => bail!("{key} = {s}: give seconds between 0 and 86400"),
    }
}

#[cfg(test)]
mod tests;
