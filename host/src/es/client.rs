//! The HTTP client for Elasticsearch: one connection pool, credentials on
//! every request, TLS with an optional custom CA, and errors that say what
//! went wrong without ever quoting a credential.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{Auth, Cancel};

#[derive(Debug, Clone)]
pub struct EsConfig {
    /// `http(s)://host:port`, optionally with a path prefix.
    pub url: String,
    pub auth: Auth,
    /// PEM file of the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Only ever set by an explicit flag.
    pub insecure_skip_verify: bool,
    pub request_timeout: Duration,
}

impl EsConfig {
    pub fn new(url: impl Into<String>) -> Self {
        EsConfig {
            url: url.into(),
            auth: Auth::None,
            ca_file: None,
            insecure_skip_verify: false,
            request_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("cannot reach Elasticsearch at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("Elasticsearch answered {status} to {method} {path}: {error_type}: {reason}")]
    Status {
        method: String,
        path: String,
        status: u16,
        error_type: String,
        reason: String,
    },
    #[error("unexpected answer from Elasticsearch to {path}: {reason}")]
    Decode { path: String, reason: String },
    #[error("invalid Elasticsearch configuration: {0}")]
    Config(String),
    /// Shutdown cancelled the request (or the wait before its retry).
    #[error("request to Elasticsearch at {url} cancelled: shutting down")]
    Cancelled { url: String },
}

impl EsError {
    /// Worth trying again: the server was unreachable, overloaded or
    /// restarting (connection errors, 429, 502, 503, 504).
    pub fn is_retryable(&self) -> bool {
        match self {
            EsError::Connect { .. } => true,
            EsError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            EsError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    cancel: Cancel,
}

impl std::fmt::Debug for EsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsClient")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

impl EsClient {
    pub fn new(config: &EsConfig) -> Result<Self, EsError> {
        let (base, auth) = split_userinfo(&config.url, config.auth.clone())?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("k8scop/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                EsError::Config(format!("cannot read the CA file {}: {e}", ca.display()))
            })?;
            let not_pem = |reason: String| {
                EsError::Config(format!(
                    "{} is not a PEM certificate: {reason}",
                    ca.display()
                ))
            };
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| not_pem(e.to_string()))?;
            if certs.is_empty() {
                return Err(not_pem("no BEGIN CERTIFICATE block".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure_skip_verify {
            tracing::warn!("TLS certificate verification is OFF (--es-insecure-skip-verify)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| EsError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(EsClient {
            http,
            base,
            auth,
            cancel: Cancel::new(),
        })
    }

    /// This client, its requests and retry waits ended by `cancel`.
    pub fn cancelled_by(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// Wait `delay` before a retry, unless cancelled meanwhile.
    pub async fn pause(&self, delay: Duration) -> Result<(), EsError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(self.cancelled()),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    fn cancelled(&self) -> EsError {
        EsError::Cancelled {
            url: self.base.clone(),
        }
    }

    /// The server's URL, without credentials.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Send a request; any answer, even an error status, comes back.
    /// Cancellation ends it at once with [`EsError::Cancelled`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, Vec<u8>), EsError> {
        if self.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(self.cancelled()),
            answer = self.send_uncancelled(method, path, body) => answer,
        }
    }

    async fn send_uncancelled(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, Vec<u8>), EsError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let started = std::time::Instant::now();
        let sent = body.as_ref().map_or(0, |(_, bytes)| bytes.len());
        let mut request = self.auth.apply(self.http.request(method.clone(), &url));
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let connect_error = |e: reqwest::Error| EsError::Connect {
            url: self.base.clone(),
            // The error's own text names the URL, which has no credentials.
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(connect_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(connect_error)?;
        // Where a slow window's time goes, request by request.
        tracing::trace!(
            %method, path = strip_query(path), status = status.as_u16(), sent, received = bytes.len(),
            ms = started.elapsed().as_secs_f64() * 1000.0, "elasticsearch request"
        );
        // The body as a Vec without a copy (the buffer has one owner): a
        // search page is the largest thing held, and a copy held it twice.
        Ok((status, Vec::from(bytes)))
    }

    /// Send JSON (or nothing) and expect a 2xx JSON answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EsError> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let (status, bytes) = self.send(method.clone(), path, body).await?;
        if !status.is_success() {
            return Err(status_error(&method, path, status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| EsError::Decode {
            path: strip_query(path).to_string(),
            reason: format!("not JSON: {e}"),
        })
    }
}

/// An error answer, with Elasticsearch's own error type and reason.
pub(crate) fn status_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> EsError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let (error_type, reason) = match error {
        Some(Value::Object(e)) => (
            e.get("type")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
            e.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        Some(Value::String(s)) => ("error".to_string(), s.clone()),
        _ => (
            status.canonical_reason().unwrap_or("error").to_string(),
            String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        ),
    };
    EsError::Status {
        method: method.to_string(),
        path: strip_query(path).to_string(),
        status: status.as_u16(),
        error_type,
        reason,
    }
}

fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Credentials in the URL (`https://user:pass@host`) move into `Auth`, so
/// the URL can be logged.
fn split_userinfo(url: &str, auth: Auth) -> Result<(String, Auth), EsError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| EsError::Config(format!("invalid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(EsError::Config(format!(
            "the URL must start with http:// or https://, not {}://",
            parsed.scheme()
        )));
    }
    let mut clean = parsed.clone();
    let auth = if parsed.username().is_empty() {
        auth
    } else {
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        match auth {
            Auth::None => Auth::Basic {
                username: percent_decode(parsed.username()),
                password: percent_decode(parsed.password().unwrap_or("")),
            },
            other => other,
        }
    };
    Ok((clean.as_str().trim_end_matches('/').to_string(), auth))
}

fn percent_decode(s: &str) -> String {
    reqwest::Url::parse(&format!("http://h/?v={s}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.into_owned()))
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let (base, auth) =
            split_userinfo("https://elastic:p%40ss@es.example:9200/", Auth::None).unwrap();
        assert_eq!(base, "https://es.example:9200");
        match auth {
            Auth::Basic { username, password } => {
                assert_eq!((username.as_str(), password.as_str()), ("elastic", "p@ss"))
            }
            other => panic!("{other:?}"),
        }
        let (base, _) = split_userinfo("http://localhost:9200/prefix/", Auth::None).unwrap();
        assert_eq!(base, "http://localhost:9200/prefix");
        assert!(split_userinfo("ftp://x", Auth::None).is_err());
        assert!(split_userinfo("not a url", Auth::None).is_err());
    }

    /// A request to a server that never answers, and the wait before a
    /// retry, both end when cancelled, as `Cancelled`, never as success.
    #[tokio::test]
    async fn cancellation_ends_a_hung_request_and_a_retry_wait() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        let cancel = Cancel::new();
        let client = EsClient::new(&EsConfig::new(format!("http://{addr}")))
            .unwrap()
            .cancelled_by(cancel.clone());
        let stopper = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                cancel.cancel();
            }
        });
        let bound = Duration::from_secs(20);
        let answer = tokio::time::timeout(bound, client.json(Method::GET, "/", None))
            .await
            .expect("ended by the cancellation, not the 60 s timeout");
        assert!(
            matches!(answer, Err(EsError::Cancelled { .. })),
            "{answer:?}"
        );
        let paused = tokio::time::timeout(bound, client.pause(Duration::from_secs(3600)))
            .await
            .expect("at once");
        assert!(matches!(paused, Err(EsError::Cancelled { .. })));
        let error = client.send(Method::GET, "/", None).await.unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("cancelled"), "{error}");
        stopper.await.unwrap();
        held.abort();
    }

    #[test]
    fn error_bodies_become_typed_errors() {
        let body = br#"{"error":{"type":"index_not_found_exception","reason":"no such index [x]"},"status":404}"#;
        let e = status_error(&Method::GET, "/x/_search?q=1", StatusCode::NOT_FOUND, body);
        assert_eq!(
            e.to_string(),
            "Elasticsearch answered 404 to GET /x/_search: index_not_found_exception: no such index [x]"
        );
        assert!(!e.is_retryable());
        let e = status_error(
            &Method::POST,
            "/_bulk",
            StatusCode::TOO_MANY_REQUESTS,
            b"busy",
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("busy"));
    }
}
