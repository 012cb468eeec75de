//! A cluster's audit Policy checked against what the loaded rules need.
//!
//! A rule can only see what the API server logs: a pod spec needs the
//! `Request` level, an open exec session needs `ResponseStarted`. A Policy
//! that logs less leaves the rule silent forever, and nothing else would
//! say so. Each rule declares its needs (`rule-info.needs` in the WIT
//! contract); here the Policy's first matching rule is applied to every
//! verb and resource of the rule's interest, as the API server would for a
//! request by an ordinary authenticated user, and every shortfall is named.
//! Secret bodies must never be logged: a Policy that logs them above
//! `Metadata` is reported too.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::contract::{AuditLevel, EventKind, RuleInfo};

/// A Policy's `level`, ordered from least to most logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl From<AuditLevel> for Level {
    fn from(level: AuditLevel) -> Self {
        match level {
            AuditLevel::Metadata => Level::Metadata,
            AuditLevel::Request => Level::Request,
            AuditLevel::RequestResponse => Level::RequestResponse,
        }
    }
}

/// `audit.k8s.io/v1` `Policy`, the parts that decide what is logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub omit_stages: Vec<String>,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub level: Level,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    #[serde(default)]
    pub omit_stages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// A request as the Policy sees it.
#[derive(Debug, Clone)]
struct Request<'a> {
    user: &'a str,
    groups: &'a [&'a str],
    verb: &'a str,
    group: &'a str,
    /// `resource` or `resource/subresource`.
    resource: &'a str,
    namespace: &'a str,
}

/// One way a Policy leaves a rule (or the cluster's secrets) exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    pub rule: String,
    pub verb: String,
    pub resource: String,
    pub reason: String,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.rule, self.verb, self.resource, self.reason
        )
    }
}

/// The user every check is made for: an ordinary authenticated user, in a
/// namespace of its own (a rule matters whoever acts, wherever).
const USER: &str = "k8scop-policy-check";
const GROUPS: &[&str] = &["system:authenticated"];
const NAMESPACE: &str = "k8scop-policy-check";

/// Verbs checked for a rule interested in any verb.
const ANY_VERB: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
/// Resources checked for a rule interested in any resource.
const ANY_RESOURCE: &[&str] = &["pods", "secrets", "configmaps", "deployments", "roles"];

impl Policy {
    pub fn read(path: &Path) -> anyhow::Result<Policy> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the audit Policy {}", path.display()))?;
        Policy::parse(&text).with_context(|| format!("{} is not an audit Policy", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Policy> {
        #[derive(Deserialize)]
        struct Kind {
            kind: Option<String>,
        }
        let kind: Kind = serde_yaml_ng::from_str(text)?;
        anyhow::ensure!(
            kind.kind.as_deref() == Some("Policy"),
            "its kind is {:?}, not Policy (audit.k8s.io/v1)",
            kind.kind.unwrap_or_default()
        );
        Ok(serde_yaml_ng::from_str(text)?)
    }

    /// The level and omitted stages for a request: the first matching
    /// rule decides; no match logs nothing.
    fn decide(&self, request: &Request) -> (Level, Vec<&str>) {
        let global = self.omit_stages.iter().map(String::as_str);
        match self.rules.iter().find(|r| r.matches(request)) {
            Some(rule) => (
                rule.level,
                global
                    .chain(rule.omit_stages.iter().map(String::as_str))
                    .collect(),
            ),
            None => (Level::None, global.collect()),
        }
    }

    /// Every shortfall of this Policy for these rules, and every way it
    /// logs secret bodies.
    pub fn check<'a>(&self, rules: impl IntoIterator<Item = &'a RuleInfo>) -> Vec<Shortfall> {
        let mut found = Vec::new();
        for rule in rules {
            let interest = &rule.interest;
            if !interest.kinds.is_empty() && !interest.kinds.contains(&EventKind::Audit) {
                continue;
            }
            let verbs: Vec<&str> = match interest.verbs.is_empty() {
                true => ANY_VERB.to_vec(),
                false => interest.verbs.iter().map(String::as_str).collect(),
            };
            let resources: Vec<&str> = match interest.resources.is_empty() {
                true => ANY_RESOURCE.to_vec(),
                false => interest.resources.iter().map(String::as_str).collect(),
            };
            let needed = Level::from(rule.needs.level);
            for resource in &resources {
                for verb in &verbs {
                    let request = request(verb, resource);
                    let (level, omitted) = self.decide(&request);
                    let mut shortfall = |reason: String| {
                        found.push(Shortfall {
                            rule: rule.id.clone(),
                            verb: verb.to_string(),
                            resource: resource.to_string(),
                            reason,
                        })
                    };
                    if level < needed {
                        shortfall(format!(
                            "needs level {:?}, the Policy logs {level:?}",
                            needed
                        ));
                    } else if !rule.needs.stages.is_empty()
                        && rule
                            .needs
                            .stages
                            .iter()
                            .all(|s| omitted.contains(&s.as_str()))
                    {
                        let stages: Vec<&str> =
                            rule.needs.stages.iter().map(|s| s.as_str()).collect();
                        shortfall(format!(
                            "needs stage {} logged, the Policy omits it",
                            stages.join(" or ")
                        ));
                    }
                }
            }
        }
        for verb in ANY_VERB.iter().chain(&["deletecollection"]) {
            let (level, _) = self.decide(&request(verb, "secrets"));
            if level > Level::Metadata {
                found.push(Shortfall {
                    rule: "secrets".into(),
                    verb: verb.to_string(),
                    resource: "secrets".into(),
                    reason: format!("logs secret bodies (level {level:?}); use Metadata"),
                });
            }
        }
        found.sort_by(|a, b| (&a.rule, &a.resource, &a.verb).cmp(&(&b.rule, &b.resource, &b.verb)));
        found.dedup();
        found
    }
}

fn request<'a>(verb: &'a str, resource: &'a str) -> Request<'a> {
    let base = resource.split('/').next().unwrap_or(resource);
    Request {
        user: USER,
        groups: GROUPS,
        verb,
        group: api_group(base),
        resource,
        namespace: if is_cluster_scoped(base) {
            ""
        } else {
            NAMESPACE
        },
    }
}

impl PolicyRule {
    /// As the API server's policy checker matches a resource request.
    fn matches(&self, r: &Request) -> bool {
        let listed =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
        if !listed(&self.users, r.user) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !r
                .groups
                .iter()
                .any(|g| self.user_groups.iter().any(|x| x == g))
        {
            return false;
        }
        if !listed(&self.verbs, r.verb) || !listed(&self.namespaces, r.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            // A rule for non-resource URLs only says nothing of resources.
            return self.non_resource_urls.is_empty();
        }
        self.resources
            .iter()
            .any(|gr| gr.matches(r.group, r.resource))
    }
}

impl GroupResources {
    fn matches(&self, group: &str, resource: &str) -> bool {
        if self.group != group {
            return false;
        }
        // Named objects only: a rule's request is about any object.
        if !self.resource_names.is_empty() {
            return false;
        }
        let (base, sub) = match resource.split_once('/') {
            Some((base, sub)) => (base, Some(sub)),
            None => (resource, None),
        };
        self.resources.is_empty()
            || self.resources.iter().any(|x| match (x.as_str(), sub) {
                ("*", _) => true,
                (x, _) if x == resource => true,
                (x, Some(sub)) => x == format!("*/{sub}") || x == format!("{base}/*"),
                _ => false,
            })
    }
}

/// The API group of a resource the shipped rules name (interests name
/// resources without their group).
fn api_group(resource: &str) -> &'static str {
    match resource {
        "deployments" | "replicasets" | "daemonsets" | "statefulsets" | "controllerrevisions" => {
            "apps"
        }
        "jobs" | "cronjobs" => "batch",
        "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings" => {
            "rbac.authorization.k8s.io"
        }
        "mutatingwebhookconfigurations"
        | "validatingwebhookconfigurations"
        | "validatingadmissionpolicies"
        | "validatingadmissionpolicybindings" => "admissionregistration.k8s.io",
        "certificatesigningrequests" => "certificates.k8s.io",
        "ingresses" | "networkpolicies" | "ingressclasses" => "networking.k8s.io",
        "leases" => "coordination.k8s.io",
        "tokenreviews" => "authentication.k8s.io",
        "selfsubjectrulesreviews"
        | "selfsubjectaccessreviews"
        | "subjectaccessreviews"
        | "localsubjectaccessreviews" => "authorization.k8s.io",
        "customresourcedefinitions" => "apiextensions.k8s.io",
        "auditsinks" => "auditregistration.k8s.io",
        "endpointslices" => "discovery.k8s.io",
        "podsecuritypolicies" => "policy",
        _ => "",
    }
}

fn is_cluster_scoped(resource: &str) -> bool {
    matches!(
        resource,
        "nodes"
            | "namespaces"
            | "persistentvolumes"
            | "clusterroles"
            | "clusterrolebindings"
            | "certificatesigningrequests"
            | "mutatingwebhookconfigurations"
            | "validatingwebhookconfigurations"
            | "validatingadmissionpolicies"
            | "validatingadmissionpolicybindings"
            | "customresourcedefinitions"
            | "selfsubjectrulesreviews"
            | "selfsubjectaccessreviews"
            | "subjectaccessreviews"
            | "tokenreviews"
            | "auditsinks"
            | "ingressclasses"
            | "podsecuritypolicies"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::AuditStage;
    use crate::contract::{AuditNeeds, Interest, Severity};

    fn rule(id: &str, verbs: &[&str], resources: &[&str], needs: AuditNeeds) -> RuleInfo {
        RuleInfo {
            id: id.into(),
            title: String::new(),
            description: String::new(),
            severity: Severity::Low,
            tags: vec![],
            interest: Interest {
                kinds: vec![EventKind::Audit],
                verbs: verbs.iter().map(|s| s.to_string()).collect(),
                resources: resources.iter().map(|s| s.to_string()).collect(),
            },
            needs,
        }
    }

    fn request_level() -> AuditNeeds {
        AuditNeeds {
            level: AuditLevel::Request,
            ..AuditNeeds::metadata()
        }
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    resources: [{group: "", resources: ["events"]}]
  - level: None
    users: ["k8scop-policy-check"]
    resources: [{group: "", resources: ["nodes"]}]
  - level: Metadata
    resources: [{group: "", resources: ["secrets", "configmaps"]}]
  - level: RequestResponse
    omitStages: ["ResponseStarted"]
    resources: [{group: "", resources: ["pods/exec"]}]
  - level: Request
    verbs: ["create", "update", "patch"]
    resources: [{group: "apps"}, {group: "", resources: ["*/scale"]}]
  - level: Metadata
"#;

    #[test]
    fn the_first_matching_rule_decides_and_each_shortfall_is_named() {
        let policy = Policy::parse(POLICY).unwrap();
        let rules = [
            rule(
                "p/events-deleted",
                &["delete"],
                &["events"],
                AuditNeeds::metadata(),
            ),
            rule(
                "p/cm-credentials",
                &["create"],
                &["configmaps"],
                request_level(),
            ),
            rule(
                "p/privileged",
                &["create"],
                &["deployments"],
                request_level(),
            ),
            rule("p/pods", &["create"], &["pods"], request_level()),
            rule(
                "p/exec",
                &["create"],
                &["pods/exec"],
                AuditNeeds {
                    stages: vec![AuditStage::ResponseStarted],
                    ..AuditNeeds::metadata()
                },
            ),
            rule("p/nodes", &["create"], &["nodes"], AuditNeeds::metadata()),
        ];
        let found: Vec<String> = policy.check(&rules).iter().map(|s| s.to_string()).collect();
        assert_eq!(
            found,
            [
                "p/cm-credentials: create configmaps: needs level Request, the Policy logs Metadata",
                "p/events-deleted: delete events: needs level Metadata, the Policy logs None",
                "p/exec: create pods/exec: needs stage ResponseStarted logged, the Policy omits it",
                "p/nodes: create nodes: needs level Metadata, the Policy logs None",
                "p/pods: create pods: needs level Request, the Policy logs Metadata",
            ]
        );
    }

    #[test]
    fn a_policy_logging_secret_bodies_is_reported() {
        let policy = Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Request\n    verbs: [create]\n  - level: Metadata\n",
        )
        .unwrap();
        let found = policy.check(&[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].verb, "create");
        assert!(found[0].reason.contains("secret bodies"), "{}", found[0]);
    }

    #[test]
    fn subresource_wildcards_match_as_the_api_server_matches_them() {
        let gr = |resources: &[&str]| GroupResources {
            group: String::new(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            resource_names: vec![],
        };
        assert!(gr(&["pods/*"]).matches("", "pods/exec"));
        assert!(gr(&["*/exec"]).matches("", "pods/exec"));
        assert!(gr(&["*"]).matches("", "pods/exec"));
        assert!(!gr(&["pods"]).matches("", "pods/exec"));
        assert!(!gr(&["pods/*"]).matches("", "pods"));
        assert!(!gr(&["pods"]).matches("apps", "pods"));
    }

    #[test]
    fn a_file_that_is_not_a_policy_is_refused_with_the_reason() {
        let err = Policy::parse("apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(err.to_string().contains("not Policy"), "{err}");
        assert!(Policy::parse("kind: Policy\nrules: 3\n").is_err());
    }
}
