//! Correlation rules: detections no single audit event can make, kept as
//! state inside the pack instance across batches.
//!
//! - `secret-read-burst`: one identity reads many distinct secrets within a
//!   short window (a list or watch of a namespace counts as one read of
//!   `namespace/*`: at Metadata level the log does not say how many secrets
//!   it returned).
//! - `rbac-change-then-workload-change`: one identity changes a Role,
//!   ClusterRole or binding, then creates or changes a workload.
//! - `new-user-agent` / `new-source-ip`: an identity past its learning
//!   period uses a user agent or a source IP it never used before.
//! - `auth-failures-then-success`: repeated 401s from one source IP, or 403s
//!   for one identity, then a request that gets through.
//! - `control-plane-unexpected-client`: a control-plane identity (a
//!   kube-system controller's service account, the controller-manager, the
//!   scheduler, a node, ...) used from a client its component does not use
//!   (kubectl, curl, python-requests, an unknown agent), per the table of
//!   [`rule_sdk::control_plane`]: a stolen token. One alert per identity and
//!   agent, aggregated.
//!
//! # Time
//!
//! The pack's clock is its events: each event's `stageTimestamp` (else
//! `requestReceivedTimestamp`, else the v1beta1 `timestamp`), never a wall
//! clock (the sandbox has none). "Now" is the latest event time seen; state
//! older than a rule's window is forgotten as it advances, whatever the batch
//! boundaries. Each request counts once: the host hands it over at the
//! first stage that carries the API server's decision (`ResponseStarted`
//! for exec, attach, port-forward, watch and a failed authentication).
//! Events without a valid timestamp are skipped (logged once).
//!
//! # Configuration (all optional)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `ignore_users` | control plane, nodes, kube-system service accounts | identities no rule looks at, each only while it sends its component's user agent |
//! | `control_plane_distributions` | all | distributions whose rows of the control-plane table apply |
//! | `control_plane_agents` | none | more rows: `user=agent` or `user=agent@source\|source` |
//! | `max_identities` | 5000 | identities (or source IPs) each rule tracks at most |
//! | `secret_burst_threshold` | 10 | distinct secrets read (2..=1000) |
//! | `secret_burst_window_seconds` | 60 | within this many seconds |
//! | `rbac_workload_window_seconds` | 600 | longest gap from the RBAC change to the workload change |
//! | `first_seen_learn_events` | 20 | events of an identity before its new values are reported... |
//! | `first_seen_learn_seconds` | 3600 | ...and seconds since it was first seen (0 disables either) |
//! | `first_seen_max_values` | 8 | user agents and source IPs remembered per identity (1..=64) |
//! | `first_seen_forget_seconds` | 2592000 | an identity unseen this long is forgotten (30 days) |
//! | `user_agent_match` | `family` | `family` (product and platform, versions ignored) or `exact` |
//! | `new_source_ip_ignore_users` | `system:serviceaccount:*` | identities whose source IP is not profiled (pod IPs change on every reschedule) |
//! | `ignore_source_ips` | none | source IPs never reported as new (NAT, VPN pools; `*` suffix for a prefix) |
//! | `auth_failure_threshold` | 5 | refused requests (1..=128) |
//! | `auth_failure_window_seconds` | 300 | within this many seconds before the success |
//!
//! Windows are 1 second to 30 days. A value out of range is clamped (logged).
//!
//! # Memory
//!
//! Every table is bounded: each rule tracks at most `max_identities` keys
//! (identities; source IPs too for failed logins), forgets the least
//! recently active one first when full, and drops a key once its window has
//! passed (first-seen profiles after `first_seen_forget_seconds` idle). Per
//! key it keeps at most `secret_burst_threshold` reads, 8 RBAC changes,
//! `first_seen_max_values` user agents and source IPs (each cut to 256
//! bytes), 128 failure times and the last 10 failed requests. Measured
//! (`tests/memory.rs`, natively, 64-bit) with every table full of
//! worst-case keys (longest names, every per-key cap reached): 16 KiB per
//! identity, so about 80 MiB for the default 5000, inside the default
//! 256 MiB pack memory cap; a real cluster's keys take a fraction of that.
//! A flood of new identities evicts old ones instead of growing the heap.
//! As WebAssembly in k8scop, a replay of 6000 such identities (every table
//! full, then flooded) ran within `--pack-memory-mib 80` but not 72, and
//! 20 000 within 96: the default 256 leaves room.
//! Memory grows with `secret_burst_threshold` (up to 0.6 KiB per remembered
//! read): lower `max_identities` when raising it far.
//! An evicted or forgotten identity starts a new learning period, so the
//! first-seen rules stay quiet rather than noisy about it.
//!
//! # Restarts
//!
//! State lives only in the pack instance. A new instance (k8scop restarted,
//! the pack's file replaced, or a batch that trapped retried on a fresh
//! instance) starts empty: a burst or a sequence that straddles the restart
//! is only seen if it completes, in full, after it; RBAC changes and failures
//! before it are forgotten; and every identity's profile learns again, so a
//! new user agent or IP during that learning period goes unreported. A
//! restart never raises an alert by itself: it can only miss one.

mod auth_failures;
mod first_seen;
mod identity;
mod lru;
mod rbac_workload;
mod secret_burst;
mod text;
mod windows;

pub use first_seen::{AgentMatch, user_agent_family};

use rule_sdk::{
    Alerts, Config, Doc, Event, IgnoreList, Interest, Needs, Pack, Rule, Severity, Verdict,
    export_pack,
};

use auth_failures::AuthFailures;
use first_seen::FirstSeen;
use rbac_workload::RbacThenWorkload;
use secret_burst::SecretBurst;

const PACK: &str = "k8scop-correlation";

pub const SECRET_READ_BURST: Rule = Rule {
    id: "k8scop-correlation/secret-read-burst",
    title: "Burst of secret reads by one identity",
    description: "One identity read many distinct secrets within a short window: a stolen credential sweeping the cluster for more credentials, or a tool dumping them.",
    severity: Severity::High,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["get", "list", "watch"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const RBAC_THEN_WORKLOAD: Rule = Rule {
    id: "k8scop-correlation/rbac-change-then-workload-change",
    title: "RBAC change followed by a workload change",
    description: "One identity changed a Role, ClusterRole or binding and soon after created or changed a workload (pod, deployment, daemonset, statefulset, replicaset, job, cronjob): granting rights and then running something that uses them.",
    severity: Severity::High,
    tags: &[
        "attack.privilege-escalation",
        "attack.persistence",
        "attack.t1098.006",
        "attack.execution",
        "attack.t1610",
    ],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &[
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings",
            "pods",
            "pods/ephemeralcontainers",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "jobs",
            "cronjobs",
        ],
    ),
    needs: Needs::METADATA,
};

pub const NEW_USER_AGENT: Rule = Rule {
    id: "k8scop-correlation/new-user-agent",
    title: "Identity used a new user agent",
    description: "An identity past its learning period made a request with a user agent (product and platform) it never used before: its credentials may be used by someone else, from another tool or machine.",
    severity: Severity::Medium,
    tags: &[
        "attack.initial-access",
        "attack.t1078",
        "attack.defense-evasion",
        "attack.t1550.001",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const NEW_SOURCE_IP: Rule = Rule {
    id: "k8scop-correlation/new-source-ip",
    title: "Identity connected from a new source IP",
    description: "An identity past its learning period made a request from a source IP it never used before: its credentials may be used from somewhere else.",
    severity: Severity::Low,
    tags: &[
        "attack.initial-access",
        "attack.t1078",
        "attack.defense-evasion",
        "attack.t1550.001",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const AUTH_FAILURES_THEN_SUCCESS: Rule = Rule {
    id: "k8scop-correlation/auth-failures-then-success",
    title: "Repeated refusals followed by success",
    description: "Repeated 401s from one source IP followed by an authenticated request from it (a guessed credential; high; an expired token followed by a fresh login looks the same), or repeated 403s for one identity followed by an allowed request on an object (permission probing that found a way, or was granted it; medium).",
    severity: Severity::Medium,
    tags: &[
        "attack.credential-access",
        "attack.t1110",
        "attack.discovery",
        "attack.t1069",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const CONTROL_PLANE_UNEXPECTED_CLIENT: Rule = Rule {
    id: "k8scop-correlation/control-plane-unexpected-client",
    title: "Control-plane identity used from an unexpected client",
    description: "A control-plane identity (a kube-system controller's service account, the controller-manager, the scheduler, a node, the API server) made a request with a user agent (or from a source) its component never uses, such as kubectl, curl or python-requests: its token or certificate is in someone else's hands.",
    severity: Severity::High,
    tags: &[
        "attack.defense-evasion",
        "attack.lateral-movement",
        "attack.t1550.001",
        "attack.privilege-escalation",
        "attack.t1078",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;

pub struct Correlation {
    ignored_users: IgnoreList,
    /// The latest event time seen (ms since the epoch): the pack's clock.
    now: i64,
    warned_untimed: bool,
    secret_burst: SecretBurst,
    rbac_workload: RbacThenWorkload,
    first_seen: FirstSeen,
    auth_failures: AuthFailures,
}

impl Pack for Correlation {
    const NAME: &'static str = PACK;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const RULES: &'static [&'static Rule] = &[
        &SECRET_READ_BURST,
        &RBAC_THEN_WORKLOAD,
        &NEW_USER_AGENT,
        &NEW_SOURCE_IP,
        &AUTH_FAILURES_THEN_SUCCESS,
        &CONTROL_PLANE_UNEXPECTED_CLIENT,
    ];

    fn new(config: &Config) -> Self {
        let max_identities = setting(config, "max_identities", 5000, 1, 1_000_000) as usize;
        let window =
            |key, default| setting(config, key, default, 1, MAX_WINDOW_SECONDS) as i64 * 1000;
        let agent_match = match config.get("user_agent_match").as_deref().map(str::trim) {
            None | Some("family") => AgentMatch::Family,
            Some("exact") => AgentMatch::Exact,
            Some(other) => {
                rule_sdk::log::warn(&format!(
                    "config user_agent_match={other:?} is neither \"family\" nor \"exact\"; using family"
                ));
                AgentMatch::Family
            }
        };
        Correlation {
            ignored_users: IgnoreList::from_config(config),
            now: i64::MIN,
            warned_untimed: false,
            secret_burst: SecretBurst::new(
                setting(config, "secret_burst_threshold", 10, 2, 1000) as usize,
                window("secret_burst_window_seconds", 60),
                max_identities,
            ),
            rbac_workload: RbacThenWorkload::new(
                window("rbac_workload_window_seconds", 600),
                max_identities,
            ),
            first_seen: FirstSeen::new(
                first_seen::Settings {
                    learn_events: config.u64("first_seen_learn_events", 20),
                    learn_ms: setting(
                        config,
                        "first_seen_learn_seconds",
                        3600,
                        0,
                        MAX_WINDOW_SECONDS,
                    ) as i64
                        * 1000,
                    forget_ms: window("first_seen_forget_seconds", MAX_WINDOW_SECONDS),
                    max_values: setting(config, "first_seen_max_values", 8, 1, 64) as usize,
                    agent_match,
                    ip_ignored_users: config
                        .patterns("new_source_ip_ignore_users", &["system:serviceaccount:*"]),
                    ignored_ips: config.patterns("ignore_source_ips", &[]),
                },
                max_identities,
            ),
            auth_failures: AuthFailures::new(
                setting(
                    config,
                    "auth_failure_threshold",
                    5,
                    1,
                    auth_failures::MAX_FAILURE_TIMES as u64,
                ) as usize,
                window("auth_failure_window_seconds", 300),
                max_identities,
            ),
        }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        if let Some(e) = doc.audit() {
            self.on_audit(e, out);
        }
    }
}

impl Correlation {
    fn on_audit(&mut self, e: &Event, out: &mut Alerts) {
        if !counted_here(e) {
            return;
        }
        let Some(at) = e.unix_millis() else {
            if !self.warned_untimed {
                self.warned_untimed = true;
                rule_sdk::log::warn(&format!(
                    "audit event {:?} has no valid RFC 3339 time ({:?}); events without one are skipped by the correlation rules",
                    e.audit_id,
                    e.time()
                ));
            }
            return;
        };
        self.now = self.now.max(at);
        let now = self.now;
        let user = e.username();
        self.control_plane_client(e, out);
        let ignored = self.ignored_users.ignores(e);
        // Failed authentications have no user: this rule sees them first.
        self.auth_failures.observe(e, at, now, ignored, out);
        if user.is_empty() || ignored {
            return;
        }
        self.secret_burst.observe(e, at, now, out);
        self.rbac_workload.observe(e, at, now, out);
        self.first_seen.observe(e, at, now, out);
    }
}

impl Correlation {
    /// `control-plane-unexpected-client`: the table knows the identity, and
    /// not this client of it.
    fn control_plane_client(&self, e: &Event, out: &mut Alerts) {
        let Verdict::Unexpected(components) = self.ignored_users.control_plane().verdict_of(e)
        else {
            return;
        };
        let agent = if e.user_agent.is_empty() {
            "(none)"
        } else {
            e.user_agent.as_ref()
        };
        out.raise(&CONTROL_PLANE_UNEXPECTED_CLIENT)
            .title(format!("{} used from {agent}", e.username()))
            .group(&[e.username(), &e.user_agent])
            .audit_context()
            .user_groups()
            .field("expected_components", components)
            .field("request_uri", e.request_uri.as_ref());
    }
}

/// True for the stage at which a request is counted: the host hands over
/// each request once, at the first stage that carries the decision
/// (`ResponseStarted` for exec and for a failed authentication).
fn counted_here(e: &Event) -> bool {
    e.carries_decision()
}

/// A number from the config within `min..=max`; out-of-range values are
/// clamped and logged so the operator sees what was used.
fn setting(config: &Config, key: &str, default: u64, min: u64, max: u64) -> u64 {
    let value = config.u64(key, default);
    let clamped = value.clamp(min, max);
    if clamped != value {
        rule_sdk::log::warn(&format!(
            "config {key}={value} is outside {min}..={max}; using {clamped}"
        ));
    }
    clamped
}

export_pack!(Correlation);

#[cfg(test)]
mod tests;
