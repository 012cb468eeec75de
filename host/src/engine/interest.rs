//! Which events a pack can possibly match, from its rules' interests. The
//! host skips a pack for any other event, so the pack never parses it.

use crate::contract::{EventKind, RuleInfo};

/// The facts about a document the interest filter looks at.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub kind: EventKind,
    pub verb: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
}

#[derive(Debug, Clone)]
struct RuleInterest {
    kinds: Vec<EventKind>,
    verbs: Vec<String>,
    resources: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PackInterest {
    rules: Vec<RuleInterest>,
    /// The kinds some rule takes whole (no verb or resource named): most
    /// packs have such a rule, and then every event of the kind is the
    /// pack's without comparing it to each rule's lists.
    whole_kinds: Vec<EventKind>,
}

impl PackInterest {
    pub fn new(rules: &[RuleInfo]) -> Self {
        let rules: Vec<RuleInterest> = rules
            .iter()
            .map(|r| RuleInterest {
                kinds: r.interest.kinds.clone(),
                verbs: r.interest.verbs.clone(),
                resources: r.interest.resources.clone(),
            })
            .collect();
        let whole_kinds = [EventKind::Audit, EventKind::Other]
            .into_iter()
            .filter(|&kind| {
                rules.iter().any(|r| {
                    (r.kinds.is_empty() || r.kinds.contains(&kind))
                        && (kind == EventKind::Other
                            || r.verbs.iter().all(|v| v == "*")
                                && r.resources.iter().all(|p| p == "*"))
                })
            })
            .collect();
        PackInterest { rules, whole_kinds }
    }

    /// True when at least one rule of the pack could match the event.
    pub fn matches(&self, e: &EventFacts<'_>) -> bool {
        self.whole_kinds.contains(&e.kind) || self.rules.iter().any(|r| r.matches(e))
    }
}

impl RuleInterest {
    fn matches(&self, e: &EventFacts<'_>) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&e.kind) {
            return false;
        }
        if e.kind == EventKind::Other {
            // Verbs and resources describe audit events only.
            return true;
        }
        (self.verbs.is_empty() || self.verbs.iter().any(|v| v == "*" || v == e.verb))
            && (self.resources.is_empty() || self.resources.iter().any(|r| resource_matches(r, e)))
    }
}

/// `pods` is the resource itself, `pods/exec` one subresource, `pods/*` the
/// resource with or without any subresource, `*` anything.
fn resource_matches(pattern: &str, e: &EventFacts<'_>) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('/') {
        None => pattern == e.resource && e.subresource.is_empty(),
        Some((resource, "*")) => resource == e.resource,
        Some((resource, sub)) => resource == e.resource && sub == e.subresource,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Interest, Severity};

    fn rule(kinds: Vec<EventKind>, verbs: &[&str], resources: &[&str]) -> RuleInfo {
        RuleInfo {
            id: "p/r".into(),
            title: String::new(),
            description: String::new(),
            severity: Severity::Low,
            tags: vec![],
            interest: Interest {
                kinds,
                verbs: verbs.iter().map(|s| s.to_string()).collect(),
                resources: resources.iter().map(|s| s.to_string()).collect(),
            },
            needs: crate::contract::AuditNeeds::metadata(),
        }
    }

    /// A document of another kind than audit.
    const OTHER: EventFacts<'static> = EventFacts {
        kind: EventKind::Other,
        verb: "",
        resource: "",
        subresource: "",
    };

    fn audit<'a>(verb: &'a str, resource: &'a str, subresource: &'a str) -> EventFacts<'a> {
        EventFacts {
            kind: EventKind::Audit,
            verb,
            resource,
            subresource,
        }
    }

    #[test]
    fn verbs_resources_and_subresources() {
        let p = PackInterest::new(&[
            rule(vec![EventKind::Audit], &["list"], &["secrets"]),
            rule(vec![EventKind::Audit], &["create"], &["pods/exec"]),
        ]);
        assert!(p.matches(&audit("list", "secrets", "")));
        assert!(!p.matches(&audit("get", "secrets", "")));
        assert!(p.matches(&audit("create", "pods", "exec")));
        assert!(!p.matches(&audit("create", "pods", "")));
        assert!(!p.matches(&audit("create", "pods", "log")));
        assert!(!p.matches(&OTHER));
    }

    #[test]
    fn wildcards_and_empty_lists() {
        let any_pod = PackInterest::new(&[rule(vec![], &[], &["pods/*"])]);
        assert!(any_pod.matches(&audit("get", "pods", "")));
        assert!(any_pod.matches(&audit("create", "pods", "attach")));
        assert!(!any_pod.matches(&audit("get", "nodes", "")));
        let everything = PackInterest::new(&[rule(vec![], &[], &[])]);
        assert!(everything.matches(&audit("watch", "leases", "")));
        let syslog = PackInterest::new(&[rule(vec![EventKind::Other], &[], &[])]);
        assert!(syslog.matches(&OTHER));
        assert!(!syslog.matches(&audit("get", "pods", "")));
    }

    #[test]
    fn a_rule_taking_every_audit_event_takes_them_all_but_not_other_kinds() {
        let p = PackInterest::new(&[
            rule(vec![EventKind::Audit], &["*"], &[]),
            rule(vec![EventKind::Audit], &["create"], &["pods/exec"]),
        ]);
        assert_eq!(p.whole_kinds, [EventKind::Audit]);
        assert!(p.matches(&audit("watch", "leases", "")));
        assert!(!p.matches(&OTHER));
        let narrow = PackInterest::new(&[rule(vec![], &["get", "*"], &["pods"])]);
        assert_eq!(narrow.whole_kinds, [EventKind::Other]);
        assert!(narrow.matches(&audit("delete", "pods", "")));
        assert!(!narrow.matches(&audit("delete", "nodes", "")));
    }
}
