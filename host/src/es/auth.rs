//! Credentials for Elasticsearch. They never appear in logs, errors or
//! metrics: `Debug` prints only which kind of credential is set.

use std::fmt;
use std::path::Path;

#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    /// An API key in its encoded form (`base64(id:key)`), as Kibana shows it.
    ApiKey(String),
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Basic { username, .. } => write!(
                f,
                "Auth::Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Auth::ApiKey(_) => f.write_str("Auth::ApiKey(<redacted>)"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<redacted>)"),
        }
    }
}

impl Auth {
    /// Add the credential to a request (marked sensitive, so reqwest never
    /// prints it either).
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::ApiKey(key) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("ApiKey {key}"))
                    .unwrap_or_else(|_| {
                        reqwest::header::HeaderValue::from_static("ApiKey invalid")
                    });
                value.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, value)
            }
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// A secret given either directly or as a file to read (Kubernetes mounts
/// secrets as files); a trailing newline in the file is not part of it.
pub fn read_secret(value: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the secret file {}: {e}", path.display())
            })?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(auth: &Auth) -> Option<String> {
        let request = auth
            .apply(reqwest::Client::new().get("http://localhost/"))
            .build()
            .unwrap();
        let value = request.headers().get(reqwest::header::AUTHORIZATION)?;
        assert!(value.is_sensitive());
        Some(value.to_str().unwrap().to_string())
    }

    #[test]
    fn headers_and_redaction() {
        let basic = Auth::Basic {
            username: "elastic".into(),
            password: "s3cret!".into(),
        };
        assert_eq!(authorization(&basic).unwrap(), "Basic ZWxhc3RpYzpzM2NyZXQh");
        assert!(!format!("{basic:?}").contains("s3cret"));
        assert_eq!(
            authorization(&Auth::ApiKey("abc==".into())).unwrap(),
            "ApiKey abc=="
        );
        assert_eq!(
            authorization(&Auth::Bearer("tok".into())).unwrap(),
            "Bearer tok"
        );
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
        assert_eq!(authorization(&Auth::None), None);
    }

    #[test]
    fn secrets_from_files_lose_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "hunter2\n").unwrap();
        assert_eq!(
            read_secret(None, Some(&file)).unwrap().as_deref(),
            Some("hunter2")
        );
        assert_eq!(
            read_secret(Some("x".into()), Some(&file))
                .unwrap()
                .as_deref(),
            Some("x")
        );
        let err = read_secret(None, Some(&dir.path().join("missing"))).unwrap_err();
        assert!(err.to_string().contains("cannot read the secret file"));
    }
}
