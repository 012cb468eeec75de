//! Reading a channel's secrets (from an environment variable or a file)
//! and checking the values that carry them, without ever echoing one.

use std::path::Path;

use anyhow::{Context, bail};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use crate::es::auth::read_secret;

/// Where `*_env` names are looked up (the process environment, or a map
/// in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) fn parse_url(text: &str, secret: bool) -> anyhow::Result<Url> {
    // A secret URL is never echoed back, even when it is wrong.
    let shown = if secret {
        "(from a secret)".to_string()
    } else {
        format!("{text:?}")
    };
    let url = Url::parse(text.trim()).map_err(|e| anyhow::anyhow!("bad URL {shown}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("bad URL {shown}: use http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("bad URL {shown}: it names no host");
    }
    Ok(url)
}

pub(super) fn header_name(key: &str) -> anyhow::Result<HeaderName> {
    HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| anyhow::anyhow!("{key:?} is not a valid header name"))
}

pub(super) fn sensitive(secret: &str, key: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(secret)
        .map_err(|_| anyhow::anyhow!("header {key}: the secret is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

pub(super) fn from_env(env: Env, var: &str, key: &str) -> anyhow::Result<String> {
    match env(var) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim_end_matches(['\n', '\r']).into()),
        Some(_) => bail!("{key}: the environment variable {var} is empty"),
        None => bail!("{key}: the environment variable {var} is not set"),
    }
}

pub(super) fn from_file(path: &Path, key: &str) -> anyhow::Result<String> {
    let secret = read_secret(None, Some(path))
        .with_context(|| key.to_string())?
        .unwrap_or_default();
    if secret.trim().is_empty() {
        bail!("{key}: the file {} is empty", path.display());
    }
    Ok(secret)
}
