//! A generic webhook: the alert document itself (the one written to
//! Elasticsearch: ECS fields plus `k8scop.*`) as a JSON POST, with the
//! operator's extra headers and, with a token, `Authorization: Bearer`.

use reqwest::header::HeaderValue;
use serde_json::Value;

use super::Notification;

pub fn body(n: &Notification) -> Value {
    n.doc().clone()
}

/// `Authorization: Bearer <token>`, marked sensitive so it is never printed.
pub fn authorization(token: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the token holds characters a header cannot carry".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_is_sensitive() {
        let v = authorization("abc").unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer abc");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("abc"));
        assert!(authorization("bad\ntoken").is_err());
    }
}
