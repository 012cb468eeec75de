//! Query parameters of an audit event's `requestURI`.
//!
//! `kubectl exec` puts the container and every word of the command in the
//! query (`?command=sh&command=-c&container=app`), percent-encoded.

use crate::bytes;

/// Every value of `key` in the query of `uri`, in order, percent-decoded.
pub fn query_values(uri: &str, key: &str) -> Vec<String> {
    raw_values(uri, key).map(percent_decode).collect()
}

/// `key` is in the query of `uri` (with or without a value), found
/// without decoding or allocating: several rules ask it of every event
/// (`dryRun`).
pub fn has_query_key(uri: &str, key: &str) -> bool {
    raw_values(uri, key).next().is_some()
}

/// Every value of `key` in the query of `uri`, in order, as sent.
fn raw_values<'u>(uri: &'u str, key: &'u str) -> impl Iterator<Item = &'u str> {
    let query = bytes::split_once(uri, b'?').map_or("", |(_, q)| q);
    bytes::split(query, b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| bytes::split_once(pair, b'=').unwrap_or((pair, "")))
        .filter(move |(k, _)| key_is(k, key))
        .map(|(_, v)| v)
}

/// A raw query key, decoded, is `key`: decoded only when it has an escape,
/// since every event's URI is asked for `dryRun` by several rules.
fn key_is(raw: &str, key: &str) -> bool {
    match raw.bytes().any(|b| b == b'%' || b == b'+') {
        true => percent_decode(raw) == key,
        false => raw == key,
    }
}

/// The path of `uri`, without its query.
pub fn path(uri: &str) -> &str {
    bytes::split_once(uri, b'?').map_or(uri, |(p, _)| p)
}

/// Decode `%XX` escapes and `+` (as a space). Invalid escapes stay as they
/// are, and invalid UTF-8 becomes U+FFFD: a rule should see what was sent.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match *b? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_encoded_values() {
        let uri = "/api/v1/namespaces/ns/pods/p/exec?command=%2Fbin%2Fsh&command=-c&command=cat+%2Fetc%2Fshadow&container=app&stdout=true";
        assert_eq!(
            query_values(uri, "command"),
            ["/bin/sh", "-c", "cat /etc/shadow"]
        );
        assert_eq!(query_values(uri, "container"), ["app"]);
        assert!(query_values(uri, "missing").is_empty());
        assert!(query_values("/api/v1/pods", "command").is_empty());
        assert_eq!(path(uri), "/api/v1/namespaces/ns/pods/p/exec");
    }

    #[test]
    fn a_key_is_there_with_or_without_a_value() {
        assert!(has_query_key("/api/v1/pods?dryRun=All", "dryRun"));
        assert!(has_query_key("/api/v1/pods?watch=1&dryRun", "dryRun"));
        assert!(has_query_key("/api/v1/pods?dry%52un=All", "dryRun"));
        assert!(!has_query_key(
            "/api/v1/pods?dryRunX=All&x=dryRun",
            "dryRun"
        ));
        assert!(!has_query_key("/api/v1/pods", "dryRun"));
        assert!(!has_query_key("/api/v1/pods?", ""));
    }

    #[test]
    fn an_escaped_key_is_its_decoded_name() {
        let uri = "/api/v1/pods?dry%52un=All&field+sel=a";
        assert_eq!(query_values(uri, "dryRun"), ["All"]);
        assert_eq!(query_values(uri, "field sel"), ["a"]);
        assert!(query_values(uri, "dry%52un").is_empty());
    }

    #[test]
    fn broken_escapes_survive() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%42"), "AB");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
