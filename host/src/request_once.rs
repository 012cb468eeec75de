//! Each request counted once, at the first stage that carries the API
//! server's decision.
//!
//! The API server logs one request up to four times, under one `auditID`:
//! `RequestReceived` (before any decision), `ResponseStarted` (only for
//! long-running requests: exec, attach, port-forward, proxy, watch, and for
//! a failed authentication), `ResponseComplete` and `Panic`. A long-running
//! request reaches `ResponseComplete` only when it ends: an interactive
//! shell is logged complete when the attacker logs out, and a log that ends
//! while it is open never completes it. So a request counts at the first
//! decided stage that arrives, `ResponseStarted` for a long-running one, and
//! its other stages are folded into it, counted, before they reach the
//! packs: every pack sees each request once, at the moment it was decided.
//!
//! The memory of requests already counted is bounded: an entry leaves when
//! the request's last stage is seen (which depends on the stages the audit
//! Policy omits, given by the operator), when its time is more than the
//! horizon behind the newest event, or, past a hard cap, oldest first. It
//! travels in the streaming checkpoint, so a request whose stages fall into
//! two windows, or around a restart (kill -9 included), still counts once.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rule_sdk::bindings::k8scop::rules::types::TextField;
use rule_sdk::wire::EventView;
use serde::{Deserialize, Serialize};

use crate::contract::EventKind;
use crate::decode::{DecodedDoc, DocFacts};

/// Requests remembered at most; past it the oldest are forgotten (counted).
const MAX_OPEN_REQUESTS: usize = 500_000;

/// The stages of `audit.k8s.io/v1`, as a Policy's `omitStages` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown audit stage {s:?}: use RequestReceived, ResponseStarted, ResponseComplete or Panic"
                )
            })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How requests are counted: the stages the audit Policy omits (the
/// shipped Policy omits `RequestReceived`) and how long a request whose
/// last stage never came is remembered.
#[derive(Debug, Clone)]
pub struct StagePolicy {
    pub omitted: Vec<Stage>,
    pub horizon: chrono::Duration,
}

impl Default for StagePolicy {
    fn default() -> Self {
        StagePolicy {
            omitted: vec![Stage::RequestReceived],
            horizon: chrono::Duration::hours(24),
        }
    }
}

impl StagePolicy {
    fn logs(&self, stage: Stage) -> bool {
        !self.omitted.contains(&stage)
    }

    /// `RequestReceived` decides only when the Policy logs nothing later.
    fn received_decides(&self) -> bool {
        [
            Stage::ResponseStarted,
            Stage::ResponseComplete,
            Stage::Panic,
        ]
        .into_iter()
        .all(|s| !self.logs(s))
    }
}

/// A request counted whose later stages may still come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    pub audit_id: String,
    /// The time of the stage it was counted at.
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub completed: bool,
    #[serde(default)]
    pub long_running: bool,
}

/// What the stage filter folded away, for the summary and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCounts {
    /// Events logged before the decision (`RequestReceived`).
    pub before_decision: u64,
    /// Later stages of a request already counted.
    pub repeated: u64,
    /// Requests forgotten before their last stage (horizon or cap).
    pub forgotten: u64,
}

impl StageCounts {
    pub fn add(&mut self, other: StageCounts) {
        self.before_decision += other.before_decision;
        self.repeated += other.repeated;
        self.forgotten += other.forgotten;
    }

    pub fn folded(&self) -> u64 {
        self.before_decision + self.repeated
    }
}

/// Counts each request once across batches, windows and restarts.
#[derive(Debug, Clone, Default)]
pub struct RequestOnce {
    policy: StagePolicy,
    open: HashMap<String, OpenRequest>,
    /// The newest event time seen: the horizon is measured in the log's own
    /// time, so a replay of last month forgets as a live run does.
    newest: Option<DateTime<Utc>>,
}

/// What happens to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Count,
    BeforeDecision,
    Repeated,
}

impl RequestOnce {
    pub fn new(policy: StagePolicy) -> Self {
        RequestOnce {
            policy,
            ..Default::default()
        }
    }

    /// Resume with the requests a checkpoint remembered.
    pub fn with_open(policy: StagePolicy, open: Vec<OpenRequest>) -> Self {
        let newest = open.iter().map(|r| r.time).max();
        RequestOnce {
            policy,
            open: open.into_iter().map(|r| (r.audit_id.clone(), r)).collect(),
            newest,
        }
    }

    /// The requests still waiting for a later stage, oldest first, for the
    /// checkpoint.
    pub fn open_requests(&self) -> Vec<OpenRequest> {
        let mut open: Vec<OpenRequest> = self.open.values().cloned().collect();
        open.sort_by(|a, b| (a.time, &a.audit_id).cmp(&(b.time, &b.audit_id)));
        open
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Keep, in order, the documents the packs should see: every document
    /// that is not an audit event, and each request at its deciding stage.
    pub fn retain(&mut self, docs: &mut Vec<DecodedDoc>) -> StageCounts {
        let mut counts = StageCounts::default();
        docs.retain(|doc| match self.verdict(doc.facts()) {
            Verdict::Count => true,
            Verdict::BeforeDecision => {
                counts.before_decision += 1;
                false
            }
            Verdict::Repeated => {
                counts.repeated += 1;
                false
            }
        });
        counts.forgotten = self.forget_old();
        counts
    }

    /// Whether the packs see this event, in the log's order; call
    /// [`RequestOnce::forget_old`] after each batch.
    pub fn verdict(&mut self, doc: DocFacts<'_>) -> Verdict {
        if doc.kind != EventKind::Audit {
            return Verdict::Count;
        }
        let time = doc.timestamp;
        if let Some(t) = time {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        let view = doc.view;
        let stage = view.text(TextField::Stage).parse::<Stage>().ok();
        if stage == Some(Stage::RequestReceived) && !self.policy.received_decides() {
            return Verdict::BeforeDecision;
        }
        // An event without an id, or without a stage (v1beta1 exports,
        // shippers that drop it), cannot be matched to its other stages:
        // it counts as it is.
        let audit_id = view.text(TextField::AuditId);
        if audit_id.is_empty() || stage.is_none() {
            return Verdict::Count;
        }
        let long_running = is_long_running(view);
        if let Some(open) = self.open.get_mut(audit_id) {
            mark(open, stage);
            if is_done(open, &self.policy) {
                self.open.remove(audit_id);
            }
            return Verdict::Repeated;
        }
        let mut open = OpenRequest {
            audit_id: audit_id.to_string(),
            time: time.or(self.newest).unwrap_or(DateTime::UNIX_EPOCH),
            started: false,
            completed: false,
            long_running,
        };
        mark(&mut open, stage);
        if !is_done(&open, &self.policy) {
            self.open.insert(audit_id.to_string(), open);
        }
        Verdict::Count
    }

    /// Forget requests older than the horizon, and the oldest past the cap.
    pub fn forget_old(&mut self) -> u64 {
        let before = self.open.len();
        if let Some(newest) = self.newest {
            let oldest_kept = newest - self.policy.horizon;
            self.open.retain(|_, r| r.time >= oldest_kept);
        }
        if self.open.len() > MAX_OPEN_REQUESTS {
            let mut times: Vec<DateTime<Utc>> = self.open.values().map(|r| r.time).collect();
            // Keep nine tenths of the cap, so this sort is rare.
            let drop = self.open.len() - MAX_OPEN_REQUESTS * 9 / 10;
            let (_, cut, _) = times.select_nth_unstable(drop);
            let cut = *cut;
            self.open.retain(|_, r| r.time > cut);
        }
        let forgotten = (before - self.open.len()) as u64;
        if forgotten > 0 {
            tracing::debug!(
                forgotten,
                open = self.open.len(),
                "requests forgotten before their last stage"
            );
        }
        forgotten
    }
}

fn mark(open: &mut OpenRequest, stage: Option<Stage>) {
    match stage {
        Some(Stage::ResponseStarted) => open.started = true,
        Some(Stage::ResponseComplete | Stage::Panic) => open.completed = true,
        _ => {}
    }
}

/// Whether no later stage of this request can still come.
fn is_done(open: &OpenRequest, policy: &StagePolicy) -> bool {
    let started_expected = open.long_running && policy.logs(Stage::ResponseStarted);
    let completed_expected = policy.logs(Stage::ResponseComplete) || policy.logs(Stage::Panic);
    let started_done = open.started || !started_expected;
    // A short request logged at `ResponseStarted` (a refused
    // authentication) may or may not be logged again: it is remembered
    // until the horizon.
    started_done && (open.completed || !completed_expected)
}

/// The API server's long-running requests (its default
/// `--long-running-request-regexp` and watches): the ones it logs at
/// `ResponseStarted` before they end.
fn is_long_running(event: EventView<'_>) -> bool {
    event.text(TextField::Verb) == "watch"
        || matches!(
            event.text(TextField::Subresource),
            "exec" | "attach" | "portforward" | "proxy" | "log"
        )
        || event.text(TextField::Resource) == "proxy"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, stage: &str, subresource: &str, second: u32) -> DecodedDoc {
        let verb = if subresource.is_empty() {
            "get"
        } else {
            "create"
        };
        let line = serde_json::json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1",
            "auditID": id, "stage": stage, "verb": verb,
            "objectRef": {"resource": "pods", "subresource": subresource},
            "stageTimestamp": format!("2024-03-01T10:00:{second:02}Z")});
        crate::decode::Decoder::default()
            .decode_line(line.to_string(), 1)
            .unwrap()
    }

    fn kept(once: &mut RequestOnce, docs: Vec<DecodedDoc>) -> (Vec<String>, StageCounts) {
        let mut docs = docs;
        let counts = once.retain(&mut docs);
        (
            docs.iter()
                .map(|d| format!("{}:{}", d.audit_id(), d.stage()))
                .collect(),
            counts,
        )
    }

    #[test]
    fn an_exec_counts_at_response_started_and_its_completion_is_folded() {
        let mut once = RequestOnce::new(StagePolicy::default());
        let (kept, counts) = kept(
            &mut once,
            vec![
                event("a", "RequestReceived", "exec", 0),
                event("a", "ResponseStarted", "exec", 1),
                event("b", "ResponseComplete", "", 2),
                event("a", "ResponseComplete", "exec", 9),
            ],
        );
        assert_eq!(kept, ["a:ResponseStarted", "b:ResponseComplete"]);
        assert_eq!(
            counts,
            StageCounts {
                before_decision: 1,
                repeated: 1,
                forgotten: 0
            }
        );
        assert_eq!(once.open_count(), 0, "both requests ended");
    }

    #[test]
    fn an_open_session_stays_remembered_across_batches_and_a_checkpoint() {
        let mut once = RequestOnce::new(StagePolicy::default());
        let (kept1, _) = kept(&mut once, vec![event("a", "ResponseStarted", "exec", 1)]);
        assert_eq!(kept1, ["a:ResponseStarted"]);
        assert_eq!(once.open_count(), 1);
        let saved = serde_json::to_string(&once.open_requests()).unwrap();
        let mut resumed = RequestOnce::with_open(
            StagePolicy::default(),
            serde_json::from_str(&saved).unwrap(),
        );
        let (kept2, counts) = kept(
            &mut resumed,
            vec![event("a", "ResponseComplete", "exec", 50)],
        );
        assert!(kept2.is_empty());
        assert_eq!(counts.repeated, 1);
        assert_eq!(resumed.open_count(), 0);
    }

    #[test]
    fn a_completion_read_before_its_start_still_counts_once() {
        let mut once = RequestOnce::new(StagePolicy::default());
        let (kept, _) = kept(
            &mut once,
            vec![
                event("a", "ResponseComplete", "exec", 9),
                event("a", "ResponseStarted", "exec", 1),
            ],
        );
        assert_eq!(kept, ["a:ResponseComplete"]);
        assert_eq!(once.open_count(), 0);
    }

    #[test]
    fn with_response_started_omitted_an_exec_counts_at_completion() {
        let policy = StagePolicy {
            omitted: vec![Stage::RequestReceived, Stage::ResponseStarted],
            ..Default::default()
        };
        let mut once = RequestOnce::new(policy);
        let (kept, _) = kept(&mut once, vec![event("a", "ResponseComplete", "exec", 9)]);
        assert_eq!(kept, ["a:ResponseComplete"]);
        assert_eq!(once.open_count(), 0, "nothing else is logged");
    }

    #[test]
    fn request_received_decides_only_when_nothing_later_is_logged() {
        let only_received = StagePolicy {
            omitted: vec![
                Stage::ResponseStarted,
                Stage::ResponseComplete,
                Stage::Panic,
            ],
            ..Default::default()
        };
        let mut once = RequestOnce::new(only_received);
        let (kept, _) = kept(&mut once, vec![event("a", "RequestReceived", "", 0)]);
        assert_eq!(kept, ["a:RequestReceived"]);
    }

    #[test]
    fn a_short_request_logged_at_response_started_counts_there_once() {
        let mut once = RequestOnce::new(StagePolicy::default());
        let (kept, _) = kept(
            &mut once,
            vec![
                event("a", "ResponseStarted", "", 0),
                event("a", "ResponseComplete", "", 1),
            ],
        );
        assert_eq!(kept, ["a:ResponseStarted"]);
        assert_eq!(once.open_count(), 0);
    }

    #[test]
    fn events_without_id_or_stage_and_other_documents_all_count() {
        let mut once = RequestOnce::new(StagePolicy::default());
        let mut other = event("", "", "", 0);
        other.kind = EventKind::Other;
        let (kept, counts) = kept(
            &mut once,
            vec![
                event("", "ResponseComplete", "", 0),
                event("", "ResponseComplete", "", 0),
                event("x", "", "", 0),
                event("x", "", "", 0),
                other,
            ],
        );
        assert_eq!(kept.len(), 5);
        assert_eq!(counts, StageCounts::default());
    }

    #[test]
    fn a_session_that_never_ends_is_forgotten_past_the_horizon() {
        let policy = StagePolicy {
            horizon: chrono::Duration::seconds(30),
            ..Default::default()
        };
        let mut once = RequestOnce::new(policy);
        kept(&mut once, vec![event("a", "ResponseStarted", "exec", 0)]);
        let (_, counts) = kept(&mut once, vec![event("b", "ResponseComplete", "", 45)]);
        assert_eq!(counts.forgotten, 1);
        assert_eq!(once.open_count(), 0);
    }

    #[test]
    fn stages_parse_as_a_policy_names_them() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        assert!("responsecomplete".parse::<Stage>().is_err());
    }
}
