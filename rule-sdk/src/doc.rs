//! One document as a rule sees it: a typed audit event or plain JSON.

use serde_json::Value;

use crate::Event;

pub enum Doc<'a> {
    Audit(&'a Event<'a>),
    Other(&'a Value),
}

impl<'a> Doc<'a> {
    pub fn audit(&self) -> Option<&'a Event<'a>> {
        match self {
            Doc::Audit(e) => Some(e),
            Doc::Other(_) => None,
        }
    }

    pub fn other(&self) -> Option<&'a Value> {
        match self {
            Doc::Other(v) => Some(v),
            Doc::Audit(_) => None,
        }
    }

    /// The text of a non-audit log line: `message`, else `log`, else
    /// `event.original`, the fields syslog and auth-log shippers use.
    pub fn message(&self) -> Option<&'a str> {
        let v = self.other()?;
        ["message", "log"]
            .iter()
            .find_map(|k| v.get(k)?.as_str())
            .or_else(|| v.get("event")?.get("original")?.as_str())
    }

    /// A string field of a non-audit document by dotted path (`host.name`),
    /// found either nested or as a literal dotted key.
    pub fn str_field(&self, path: &str) -> Option<&'a str> {
        let v = self.other()?;
        if let Some(s) = v.get(path).and_then(Value::as_str) {
            return Some(s);
        }
        path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
    }

    /// The document's time as the shipper recorded it.
    pub fn time(&self) -> &'a str {
        match self {
            Doc::Audit(e) => e.time(),
            Doc::Other(v) => ["@timestamp", "timestamp", "time"]
                .iter()
                .find_map(|k| v.get(k)?.as_str())
                .unwrap_or(""),
        }
    }
}
