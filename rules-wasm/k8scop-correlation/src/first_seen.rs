//! Rule 3: an identity seen long enough to know its habits suddenly uses a
//! user agent, or comes from a source IP, it never used before: its
//! credentials may be in someone else's hands.
//!
//! Each identity gets a profile: when it was first seen, how many events,
//! and the last few user agents and source IPs it used. While the profile
//! is learning (fewer than `learn_events` events, or less than
//! `learn_seconds` since first seen) new values are recorded silently.

use std::collections::VecDeque;

use rule_sdk::time::format_rfc3339;
use rule_sdk::{Alerts, Event, Patterns};

use crate::identity::in_cluster;
use crate::lru::Lru;
use crate::text::{MAX_VALUE_BYTES, clip, sample};

/// How user agents are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMatch {
    /// The product and its platform comment (`kubectl (linux/amd64)`):
    /// upgrading kubectl is not new, kubectl from another OS is.
    Family,
    /// The whole string.
    Exact,
}

pub struct Settings {
    pub learn_events: u64,
    pub learn_ms: i64,
    pub forget_ms: i64,
    pub max_values: usize,
    pub agent_match: AgentMatch,
    /// Identities whose source IPs are not profiled (pods' service accounts
    /// get a new IP on every reschedule).
    pub ip_ignored_users: Patterns,
    /// Source IPs never reported as new (NAT gateways, VPN pools).
    pub ignored_ips: Patterns,
}

pub struct FirstSeen {
    settings: Settings,
    profiles: Lru<String, Profile>,
}

struct Profile {
    first_at: i64,
    last_at: i64,
    events: u64,
    agents: Recent,
    ips: Recent,
}

/// The last values seen, least recently seen first.
struct Recent(VecDeque<String>);

impl Recent {
    fn contains(&self, v: &str) -> bool {
        self.0.iter().any(|x| x == v)
    }

    /// Record `v` as just seen, forgetting the least recently seen value
    /// beyond `cap`.
    fn note(&mut self, v: &str, cap: usize) {
        if let Some(i) = self.0.iter().position(|x| x == v) {
            let v = self.0.remove(i).expect("found");
            self.0.push_back(v);
            return;
        }
        if self.0.len() >= cap {
            self.0.pop_front();
        }
        self.0.push_back(v.to_string());
    }

    /// Most recently seen first.
    fn listed(&self, sep: &str) -> String {
        sample(self.0.iter().rev(), self.0.len(), sep)
    }
}

impl FirstSeen {
    pub fn new(settings: Settings, max_identities: usize) -> Self {
        FirstSeen {
            settings,
            profiles: Lru::new(max_identities),
        }
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.profiles.len()
    }

    pub fn observe(&mut self, e: &Event, at: i64, now: i64, out: &mut Alerts) {
        let s = &self.settings;
        let forget = s.forget_ms;
        self.profiles.expire(|p| p.last_at < now - forget);
        let user = e.username();
        // Anonymous is everyone: there is no habit to learn.
        if user == "system:anonymous" {
            return;
        }
        let profile = self.profiles.entry(&in_cluster(e, user), || Profile {
            first_at: at,
            last_at: at,
            events: 0,
            agents: Recent(VecDeque::new()),
            ips: Recent(VecDeque::new()),
        });
        // A first event has nothing to compare with, whatever the settings.
        let learned =
            profile.events >= s.learn_events.max(1) && at - profile.first_at >= s.learn_ms;
        profile.events = profile.events.saturating_add(1);
        profile.last_at = profile.last_at.max(at);

        let agent = match s.agent_match {
            AgentMatch::Family => user_agent_family(&e.user_agent),
            AgentMatch::Exact => e.user_agent.to_string(),
        };
        let agent = clip(&agent, MAX_VALUE_BYTES);
        if !agent.is_empty() {
            if learned && !profile.agents.contains(agent) {
                out.raise(&crate::NEW_USER_AGENT)
                    .title(format!("{user} used a new user agent: {agent}"))
                    .group(&[user, agent])
                    .audit_context()
                    .field(
                        "user_agent_family",
                        if s.agent_match == AgentMatch::Family {
                            agent
                        } else {
                            ""
                        },
                    )
                    .field("previous_user_agents", profile.agents.listed(" | "))
                    .field("known_since", format_rfc3339(profile.first_at))
                    .field("events_seen", profile.events.to_string());
            }
            profile.agents.note(agent, s.max_values);
        }

        let ip = clip(e.source_ip(), MAX_VALUE_BYTES);
        if ip.is_empty() || s.ip_ignored_users.matches(user) || s.ignored_ips.matches(ip) {
            return;
        }
        if learned && !profile.ips.contains(ip) {
            out.raise(&crate::NEW_SOURCE_IP)
                .title(format!("{user} connected from a new source IP: {ip}"))
                .group(&[user, ip])
                .audit_context()
                .field("previous_source_ips", profile.ips.listed(", "))
                .field("known_since", format_rfc3339(profile.first_at))
                .field("events_seen", profile.events.to_string());
        }
        profile.ips.note(ip, s.max_values);
    }
}

/// The product name and its first parenthesised comment, versions left
/// out: `kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819` is
/// `kubectl (linux/amd64)`, `Go-http-client/2.0` is `Go-http-client`.
pub fn user_agent_family(ua: &str) -> String {
    let ua = ua.trim();
    let product = ua
        .split(|c: char| c == '/' || c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let comment = ua
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(c, _)| c.trim());
    match comment {
        Some(c) if !c.is_empty() && !product.is_empty() => format!("{product} ({c})"),
        Some(c) if !c.is_empty() => format!("({c})"),
        _ => product.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_families() {
        for (ua, family) in [
            (
                "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                "kubectl (linux/amd64)",
            ),
            (
                "kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b",
                "kubectl (linux/amd64)",
            ),
            (
                "kubectl/v1.29.2 (darwin/arm64) kubernetes/4b8e819",
                "kubectl (darwin/arm64)",
            ),
            ("Go-http-client/2.0", "Go-http-client"),
            ("python-requests/2.31.0", "python-requests"),
            ("curl/8.5.0", "curl"),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                "Mozilla (X11; Linux x86_64)",
            ),
            ("(weird)", "(weird)"),
            ("  ", ""),
        ] {
            assert_eq!(user_agent_family(ua), family, "{ua}");
        }
    }

    #[test]
    fn recent_values_are_capped_least_recently_seen_first_out() {
        let mut r = Recent(VecDeque::new());
        for v in ["a", "b", "c"] {
            r.note(v, 2);
        }
        assert!(!r.contains("a"));
        r.note("b", 2);
        r.note("d", 2);
        // "b" was seen again, so "c" went.
        assert!(r.contains("b") && r.contains("d") && !r.contains("c"));
        assert_eq!(r.listed(", "), "d, b");
    }
}
