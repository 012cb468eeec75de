//! Rule 4: repeated refusals, then a request that gets through. Many 401s
//! from one source IP then an authenticated request from it is a password
//! or token guess that worked; many 403s for one identity then an allowed
//! request is permission probing that found something (or was granted it).
//!
//! A 401 has no user (authentication failed), so 401s are counted per
//! source IP; 403s per identity.

use std::collections::VecDeque;

use rule_sdk::time::format_rfc3339;
use rule_sdk::{Alerts, Event, Severity};

use crate::lru::Lru;
use crate::text::{SAMPLE, sample, seconds};

/// Failure times remembered per key; the threshold cannot exceed it, so
/// "at least N within W" is exact. A count at the cap is reported as `128+`.
pub const MAX_FAILURE_TIMES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    SourceIp(String),
    User(String),
}

pub struct AuthFailures {
    threshold: usize,
    window_ms: i64,
    /// By cluster (a fleet's logs may share an index) and key.
    keys: Lru<(String, Key), Failures>,
}

#[derive(Default)]
struct Failures {
    /// When each failure happened, oldest first.
    times: VecDeque<i64>,
    /// The latest failed requests, oldest first, for the alert.
    recent: VecDeque<FailedRequest>,
}

struct FailedRequest {
    audit_id: String,
    description: String,
}

impl Failures {
    fn prune(&mut self, at: i64, window: i64) {
        while self.times.front().is_some_and(|&t| t < at - window) {
            self.times.pop_front();
        }
        // Keep the sample no longer than what is still counted.
        while self.recent.len() > self.times.len() {
            self.recent.pop_front();
        }
    }

    fn count(&self) -> String {
        if self.times.len() >= MAX_FAILURE_TIMES {
            format!("{MAX_FAILURE_TIMES}+")
        } else {
            self.times.len().to_string()
        }
    }
}

impl AuthFailures {
    pub fn new(threshold: usize, window_ms: i64, max_keys: usize) -> Self {
        AuthFailures {
            threshold: threshold.min(MAX_FAILURE_TIMES),
            window_ms,
            keys: Lru::new(max_keys),
        }
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// Look at one event counted once (final stage, or the only stage a
    /// failed authentication is logged at). `ignored`: the user is one the
    /// pack ignores; its refusals and successes count for nothing.
    pub fn observe(&mut self, e: &Event, at: i64, now: i64, ignored: bool, out: &mut Alerts) {
        let window = self.window_ms;
        self.keys
            .expire(|f| f.times.back().is_none_or(|&last| last < now - window));
        let user = e.username();
        match e.response_code() {
            Some(401) if !e.source_ip().is_empty() => {
                self.record(Key::SourceIp(e.source_ip().to_string()), e, at);
            }
            Some(403) if !user.is_empty() && !ignored => {
                self.record(Key::User(user.to_string()), e, at);
            }
            _ if e.was_allowed() && !user.is_empty() && !ignored => {
                // A request anonymous may make proves no guess right.
                if user != "system:anonymous" && !e.source_ip().is_empty() {
                    self.check(Key::SourceIp(e.source_ip().to_string()), e, at, out);
                }
                if is_resource_request(e) {
                    self.check(Key::User(user.to_string()), e, at, out);
                }
            }
            _ => {}
        }
    }

    fn record(&mut self, key: Key, e: &Event, at: i64) {
        let window = self.window_ms;
        let key = (e.cluster().to_string(), key);
        let failures = self.keys.entry(&key, Failures::default);
        // One request may be logged at two stages; count it once.
        if !e.audit_id.is_empty() && failures.recent.iter().any(|r| r.audit_id == e.audit_id) {
            return;
        }
        failures.prune(at, window);
        if failures.times.len() >= MAX_FAILURE_TIMES {
            failures.times.pop_front();
        }
        failures.times.push_back(at);
        if failures.recent.len() >= SAMPLE {
            failures.recent.pop_front();
        }
        failures.recent.push_back(FailedRequest {
            audit_id: e.audit_id.to_string(),
            description: describe(e),
        });
    }

    fn check(&mut self, key: Key, e: &Event, at: i64, out: &mut Alerts) {
        let window = self.window_ms;
        let key = (e.cluster().to_string(), key);
        let Some(failures) = self.keys.get_mut(&key) else {
            return;
        };
        failures.prune(at, window);
        if failures.times.len() < self.threshold {
            return;
        }
        let first = failures.times.front().copied().unwrap_or(at);
        let count = failures.count();
        let failed = sample(
            failures.recent.iter().rev().map(|r| r.description.as_str()),
            failures.times.len(),
            "; ",
        );
        let user = e.username();
        let (key_kind, key_value, title, severity) = match &key.1 {
            Key::SourceIp(ip) => (
                "source_ip",
                ip.as_str(),
                format!("{count} failed authentications from {ip}, then {user} authenticated"),
                Severity::High,
            ),
            Key::User(u) => (
                "user",
                u.as_str(),
                format!("{count} forbidden requests by {u}, then an allowed one"),
                crate::AUTH_FAILURES_THEN_SUCCESS.severity,
            ),
        };
        out.raise(&crate::AUTH_FAILURES_THEN_SUCCESS)
            .title(title)
            .severity(severity)
            .group(&[key_kind, key_value])
            .audit_context()
            .field("failure_key", key_kind)
            .field("failure_count", count)
            .field("window_seconds", seconds(window))
            .field("first_failure_at", format_rfc3339(first))
            .field("failures_seconds", seconds(at - first))
            .field("failed_requests", failed);
        // The alert consumed these failures; the next one needs new ones.
        self.keys.remove(&key);
    }
}

/// `403 list secrets in kube-system`, `403 get pods prod/web`: one failed
/// request in the alert's sample.
fn describe(e: &Event) -> String {
    let code = e.response_code().unwrap_or_default();
    let what = if e.resource().is_empty() {
        e.request_uri.split('?').next().unwrap_or("").to_string()
    } else {
        match (e.namespace(), e.name()) {
            ("", "") => e.resource_path(),
            ("", name) => format!("{} {name}", e.resource_path()),
            (ns, "") => format!("{} in {ns}", e.resource_path()),
            (ns, name) => format!("{} {ns}/{name}", e.resource_path()),
        }
    };
    crate::text::clip(&format!("{code} {} {what}", e.verb), 200).to_string()
}

/// A request on an API object, not discovery (`/api`, `/version`) and not
/// the self-reviews every authenticated user may make.
fn is_resource_request(e: &Event) -> bool {
    !e.resource().is_empty()
        && !matches!(
            e.resource(),
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews" | "selfsubjectreviews"
        )
}
