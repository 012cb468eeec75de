//! Splunk HTTP Event Collector: `POST /services/collector/event` with
//! `Authorization: Splunk <token>` and the event envelope (`time` in epoch
//! seconds, `host`, `source`, `sourcetype`, optionally `index`, and the
//! alert document as `event`).

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::Notification;

/// The HEC endpoint for JSON events.
pub const EVENT_PATH: &str = "/services/collector/event";

/// The envelope's fixed fields, from the channel's configuration.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub host: String,
    pub source: String,
    pub sourcetype: String,
    /// Without it, the token's default index.
    pub index: Option<String>,
}

impl Envelope {
    pub fn body(&self, n: &Notification) -> Value {
        // The alert's time, so Splunk files it where Kibana does; receipt
        // time only when the alert carries none.
        let time = n.time().unwrap_or_else(chrono::Utc::now);
        let mut body = json!({
            "time": time.timestamp_millis() as f64 / 1000.0,
            "host": self.host,
            "source": self.source,
            "sourcetype": self.sourcetype,
            "event": n.doc(),
        });
        if let Some(index) = &self.index {
            body["index"] = json!(index);
        }
        body
    }
}

/// The event endpoint of a HEC given by its base URL
/// (`https://splunk:8088`); a URL that already names a path is used as is.
pub fn endpoint(mut url: Url) -> Url {
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(EVENT_PATH);
    }
    url
}

/// `Authorization: Splunk <token>`, marked sensitive.
pub fn authorization(token: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("Splunk {token}"))
        .map_err(|_| "the HEC token holds characters a header cannot carry".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_endpoint() {
        let n = Notification::from_alert(json!({
            "@timestamp": "2024-03-01T10:00:00.250Z",
            "rule": {"id": "p/r"},
            "k8scop": {"severity": "high"},
        }));
        let e = Envelope {
            host: "node-1".into(),
            source: "k8scop".into(),
            sourcetype: "k8scop:alert".into(),
            index: Some("k8s".into()),
        };
        let body = e.body(&n);
        assert_eq!(body["time"], json!(1709287200.25));
        assert_eq!(body["host"], "node-1");
        assert_eq!(body["sourcetype"], "k8scop:alert");
        assert_eq!(body["index"], "k8s");
        assert_eq!(body["event"]["rule"]["id"], "p/r");
        let no_index = Envelope { index: None, ..e };
        assert!(no_index.body(&n).get("index").is_none());

        let base = Url::parse("https://splunk:8088").unwrap();
        assert_eq!(
            endpoint(base).as_str(),
            "https://splunk:8088/services/collector/event"
        );
        let full = Url::parse("https://splunk:8088/services/collector/event/1.0").unwrap();
        assert_eq!(endpoint(full.clone()), full);
        assert_eq!(
            authorization("t0k").unwrap().to_str().unwrap(),
            "Splunk t0k"
        );
    }
}
