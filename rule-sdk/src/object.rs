//! Reading any field of an audit event's request or response object.
//!
//! The objects are only logged at `Request` / `RequestResponse` level; at
//! `Metadata` level every accessor answers `None`. Paths are JSON pointers
//! (RFC 6901): `/spec/type`, `/data`, `/spec/ports/0/nodePort`.

use serde_json::Value;

use crate::Event;

impl Event<'_> {
    /// The value at `pointer` in the request object, if logged and present.
    pub fn request_at(&self, pointer: &str) -> Option<&Value> {
        self.request_object()?.pointer(pointer)
    }

    /// The value at `pointer` in the response object, if logged and present.
    pub fn response_at(&self, pointer: &str) -> Option<&Value> {
        self.response_object()?.pointer(pointer)
    }

    /// The string at `pointer` in the request object.
    pub fn request_str(&self, pointer: &str) -> Option<&str> {
        self.request_at(pointer)?.as_str()
    }

    /// The string at `pointer` in the response object.
    pub fn response_str(&self, pointer: &str) -> Option<&str> {
        self.response_at(pointer)?.as_str()
    }

    /// True when the request body was logged (`Request` or
    /// `RequestResponse` level, and the request had a body).
    pub fn has_request_object(&self) -> bool {
        self.request_body.is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::Event;

    #[test]
    fn pointers_into_request_and_response() {
        let e = Event::from_json(
            r#"{"kind":"Event","level":"RequestResponse","verb":"create",
            "requestObject":{"kind":"Service","spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}},
            "responseObject":{"kind":"Service","metadata":{"name":"web","uid":"u1"}}}"#,
        )
        .unwrap();
        assert!(e.has_request_object());
        assert_eq!(e.request_str("/spec/type"), Some("NodePort"));
        assert_eq!(
            e.request_at("/spec/ports/0/nodePort")
                .and_then(|v| v.as_u64()),
            Some(30080)
        );
        assert_eq!(e.response_str("/metadata/uid"), Some("u1"));
        assert_eq!(e.request_str("/spec/ports"), None);
        assert_eq!(e.request_at("/spec/missing"), None);

        let meta =
            Event::from_json(r#"{"kind":"Event","level":"Metadata","verb":"create"}"#).unwrap();
        assert!(!meta.has_request_object());
        assert_eq!(meta.request_at("/spec"), None);
        assert_eq!(meta.response_str("/metadata/name"), None);
    }
}
