//! Rule 1: one identity reading many distinct secrets within a short
//! window, as a stolen credential sweeping a cluster for more credentials
//! does.

use std::collections::{BTreeSet, VecDeque};

use rule_sdk::time::format_rfc3339;
use rule_sdk::{Alerts, Event};

use crate::identity::in_cluster;
use crate::text::{SAMPLE, sample, seconds};
use crate::windows::{IdentityWindows, Windowed};

pub struct SecretBurst {
    threshold: usize,
    pub(crate) by_user: IdentityWindows<Reads>,
}

/// One identity's distinct secret reads within the window, oldest first.
/// Never more than `threshold - 1` entries: reaching the threshold raises
/// the alert and starts counting afresh.
#[derive(Default)]
pub(crate) struct Reads {
    reads: VecDeque<Read>,
}

pub(crate) struct Read {
    at: i64,
    /// `namespace/name`, or `namespace/*` for a list or watch of a whole
    /// namespace (`*/*` across namespaces).
    target: String,
    namespace: String,
}

impl Windowed for Reads {
    fn newest(&self) -> Option<i64> {
        self.reads.back().map(|r| r.at)
    }
}

impl SecretBurst {
    pub fn new(threshold: usize, window_ms: i64, max_identities: usize) -> Self {
        SecretBurst {
            threshold,
            by_user: IdentityWindows::new(window_ms, max_identities),
        }
    }

    /// Look at one final-stage event of a non-ignored identity at `at`;
    /// `now` is the latest event time seen.
    pub fn observe(&mut self, e: &Event, at: i64, now: i64, out: &mut Alerts) {
        let window = self.by_user.advance_to(now);
        if !is_secret_read(e) {
            return;
        }
        let target = match (e.namespace(), e.name()) {
            ("", "") => "*/*".to_string(),
            (ns, "") => format!("{ns}/*"),
            (ns, name) => format!("{ns}/{name}"),
        };
        let reads = self
            .by_user
            .entry(&in_cluster(e, e.username()), Reads::default);
        while reads.reads.front().is_some_and(|r| r.at < at - window) {
            reads.reads.pop_front();
        }
        // Distinct secrets: a second read of one moves it to now.
        reads.reads.retain(|r| r.target != target);
        reads.reads.push_back(Read {
            at,
            target,
            namespace: e.namespace().to_string(),
        });
        if reads.reads.len() < self.threshold {
            return;
        }
        let burst = std::mem::take(&mut reads.reads);
        let first = burst.front().map_or(at, |r| r.at);
        let namespaces: BTreeSet<&str> = burst
            .iter()
            .map(|r| {
                if r.namespace.is_empty() {
                    "*"
                } else {
                    r.namespace.as_str()
                }
            })
            .collect();
        out.raise(&crate::SECRET_READ_BURST)
            .title(format!(
                "{} secrets read by {} within {} s",
                burst.len(),
                e.username(),
                seconds(window)
            ))
            .group(&[e.username()])
            .audit_context()
            .field("secret_count", burst.len().to_string())
            .field("window_seconds", seconds(window))
            .field("burst_seconds", seconds(at - first))
            .field("first_read_at", format_rfc3339(first))
            .field(
                "namespaces",
                sample(namespaces.iter().take(SAMPLE), namespaces.len(), ", "),
            )
            .field(
                "secrets",
                sample(burst.iter().map(|r| r.target.as_str()), burst.len(), ", "),
            );
    }
}

/// A successful get, list or watch of core `secrets` (not a subresource,
/// not another API group's `secrets`).
fn is_secret_read(e: &Event) -> bool {
    matches!(e.verb.as_ref(), "get" | "list" | "watch")
        && e.resource() == "secrets"
        && e.subresource().is_empty()
        && e.api_group().is_empty()
        && e.succeeded()
}
