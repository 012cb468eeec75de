//! Control-plane chatter: the audit events the cluster's own components
//! produce all the time (leader-election and node leases, informer watches,
//! node and pod status, projected-token refreshes, health probes), which make
//! up most of an audit log and say nothing about what people do.
//!
//! The reduction rules follow the control-plane rules of K8NTEXT ("Sharpening
//! Kubernetes Audit Logs with Context Awareness", Franzil et al., 2025): an
//! event is chatter when a control-plane identity performs one of the verbs
//! that component uses on the resources it maintains. They are tightened
//! here, because an attacker holding a component's credentials must still
//! reach the rules:
//! - the identity is the user name *and* the component's user agent (an
//!   attacker with a stolen token and kubectl stays visible);
//! - names are pinned where the component only touches its own object
//!   (a kubelet's node and node lease, the leader-election leases);
//! - informer lists are recognised by their `resourceVersion` parameter, so
//!   an ad-hoc `list` stays visible;
//! - some events are never chatter, whatever the rules say: anything
//!   touching `secrets`, a request denied (401, 403 or `forbid`), and
//!   impersonated requests.
//!
//! Who the components are (their user names, user agents and, where known,
//! source addresses, per distribution: upstream, MicroK8s' `kubelite`, k3s,
//! RKE2, OpenShift, EKS) is the table of `rule_sdk::control_plane`, which the
//! detection packs use too: what the chatter filter drops as a component's
//! routine is exactly what the packs' `ignore_users` would ignore, and a
//! component's identity from another client is neither.
//!
//! Operators add rules of their own in a TOML file (`--chatter-rules`):
//! `[[rule]]` tables (an identity, its verbs and targets), and
//! `[[control-plane]]` tables that add a component's identity to the
//! built-in rules of its role, as the table's rows do:
//!
//! ```toml
//! [[control-plane]]
//! role = "controllers"          # apiserver, controller-manager, controllers,
//!                               # scheduler, kubelet, kube-proxy, dns, addon
//! users = ["system:serviceaccount:kube-system:*"]
//! user-agents = ["my-distro/*"]
//! sources = []                  # optional; any when empty
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use rule_sdk::bindings::k8scop::rules::types::{ListField, TextField};
use rule_sdk::control_plane::{ControlPlane, Role};
use rule_sdk::wire::{EventView, has};

use crate::contract::EventKind;
#[cfg(test)]
use crate::decode::DecodedDoc;
use crate::decode::DocFacts;

mod builtin;
mod counts;
mod file;
mod filter;
#[cfg(test)]
mod tests;

pub use builtin::builtin_rules;
use builtin::{ROLE_NAMES, role_named};
pub use counts::ChatterCounts;
use file::add_component;
pub use file::{ChatterFile, ComponentRow, ComponentSpec, parse_file, parse_rules};
pub use filter::{ChatterFate, ChatterFilter, Reduced};

/// The annotation `label` mode adds to a chatter event, naming the rule.
pub const CHATTER_ANNOTATION: &str = "k8scop.io/chatter";

/// What happens to chatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ChatterMode {
    /// Every event reaches the packs, unchanged.
    #[default]
    Off,
    /// Chatter is counted and does not reach the packs.
    Drop,
    /// Chatter reaches the packs with the annotation `k8scop.io/chatter`
    /// naming the reduction rule.
    Label,
}

impl ChatterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatterMode::Off => "off",
            ChatterMode::Drop => "drop",
            ChatterMode::Label => "label",
        }
    }
}

impl fmt::Display for ChatterMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `exact`, or `prefix*`; `*` alone matches anything, `""` only an absent
/// value (a cluster-scoped object, a collection).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
    /// The node of a `system:node:<node>` user (names only).
    OwnNode,
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        match text {
            "$node" => Pattern::OwnNode,
            _ => match text.strip_suffix('*') {
                Some(prefix) => Pattern::Prefix(prefix.to_string()),
                None => Pattern::Exact(text.to_string()),
            },
        }
    }

    fn matches(&self, value: &str, node: Option<&str>) -> bool {
        match self {
            Pattern::Exact(exact) => value == exact,
            Pattern::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Pattern::OwnNode => node.is_some_and(|n| n == value),
        }
    }
}

/// An empty list matches anything.
fn any_matches(patterns: &[Pattern], value: &str, node: Option<&str>) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(value, node))
}

/// Who a component is: its user names, the user agents it sends and, where
/// known, the addresses it sends them from (any when empty).
#[derive(Debug, Clone)]
struct Identity {
    users: Vec<Pattern>,
    agents: Vec<Pattern>,
    sources: Vec<String>,
}

impl Identity {
    fn of(users: &[&str], agents: &[&str], sources: &[&str]) -> Identity {
        Identity {
            users: users.iter().map(|u| Pattern::parse(u)).collect(),
            agents: agents.iter().map(|a| Pattern::parse(a)).collect(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn matches(&self, user: &str, agent: &str, source: &str) -> bool {
        any_matches(&self.users, user, None)
            && any_matches(&self.agents, agent, None)
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == source))
    }
}

/// What the rule covers: API objects, or non-resource paths.
#[derive(Debug, Clone)]
enum Target {
    Resources {
        /// `resource` or `resource/subresource`.
        resources: Vec<Pattern>,
        namespaces: Vec<Pattern>,
        names: Vec<Pattern>,
    },
    Paths(Vec<Pattern>),
}

/// One reduction rule: identity × verbs × target.
#[derive(Debug, Clone)]
pub struct ChatterRule {
    name: String,
    identities: Vec<Identity>,
    /// The control-plane roles its identities come from, so that an
    /// operator's `[[control-plane]]` row of that role joins them.
    roles: Vec<Role>,
    verbs: Vec<String>,
    target: Target,
    /// Substrings the request URI's query must all contain.
    query: Vec<String>,
}

/// A rule as written in the operator's TOML file (and as the built-ins are
/// declared): lists of patterns, empty meaning "any" except `users` and
/// `verbs`, which are required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSpec {
    pub name: String,
    pub users: Vec<String>,
    #[serde(default)]
    pub user_agents: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub query: Vec<String>,
}

impl RuleSpec {
    fn compile(&self) -> anyhow::Result<ChatterRule> {
        let name = self.name.trim();
        anyhow::ensure!(!name.is_empty(), "a chatter rule needs a `name`");
        anyhow::ensure!(
            !self.users.is_empty(),
            "chatter rule {name}: `users` is empty; name the component's user (e.g. \"system:serviceaccount:argocd:*\")"
        );
        anyhow::ensure!(
            !self.verbs.is_empty(),
            "chatter rule {name}: `verbs` is empty; list the verbs the component uses (get, list, watch, ...)"
        );
        let patterns = |list: &[String]| list.iter().map(|s| Pattern::parse(s)).collect::<Vec<_>>();
        let target = match (self.resources.is_empty(), self.paths.is_empty()) {
            (false, true) => Target::Resources {
                resources: patterns(&self.resources),
                namespaces: patterns(&self.namespaces),
                names: patterns(&self.names),
            },
            (true, false) => {
                anyhow::ensure!(
                    self.namespaces.is_empty() && self.names.is_empty(),
                    "chatter rule {name}: `namespaces` and `names` apply to resources, not to `paths`"
                );
                Target::Paths(patterns(&self.paths))
            }
            _ => anyhow::bail!(
                "chatter rule {name}: give either `resources` (API objects) or `paths` (non-resource URLs such as /healthz), not both or neither"
            ),
        };
        let reserved = self.resources.iter().find(|r| {
            r.split('/').next().is_some_and(|r| r == "secrets") || r.as_str() == "secrets*"
        });
        if let Some(r) = reserved {
            anyhow::bail!(
                "chatter rule {name}: `{r}`: events on secrets are never dropped as chatter"
            );
        }
        Ok(ChatterRule {
            name: name.to_string(),
            identities: vec![Identity {
                users: patterns(&self.users),
                agents: patterns(&self.user_agents),
                sources: Vec::new(),
            }],
            roles: Vec::new(),
            verbs: self.verbs.clone(),
            target,
            query: self.query.clone(),
        })
    }
}

/// The fields of an audit event the rules look at, read from the event's
/// layout (decoded once, in the decode stage): no parse here.
struct Probe<'a> {
    verb: &'a str,
    request_uri: &'a str,
    username: &'a str,
    user_agent: &'a str,
    source_ip: &'a str,
    impersonated: bool,
    object_ref: Option<ProbeRef<'a>>,
    response_code: Option<i32>,
    decision: Option<&'a str>,
}

struct ProbeRef<'a> {
    resource: &'a str,
    subresource: &'a str,
    namespace: &'a str,
    name: &'a str,
}

impl<'a> Probe<'a> {
    fn of(event: EventView<'a>) -> Self {
        let text = |field| event.text(field);
        Probe {
            verb: text(TextField::Verb),
            request_uri: text(TextField::RequestUri),
            username: text(TextField::Username),
            user_agent: text(TextField::UserAgent),
            source_ip: event.list(ListField::SourceIps).next().unwrap_or(""),
            impersonated: event.has(has::IMPERSONATED_USER),
            object_ref: event.has(has::OBJECT_REF).then(|| ProbeRef {
                resource: text(TextField::Resource),
                subresource: text(TextField::Subresource),
                namespace: text(TextField::Namespace),
                name: text(TextField::Name),
            }),
            response_code: event.response_code(),
            decision: event.value_of(ListField::Annotations, "authorization.k8s.io/decision"),
        }
    }

    /// Events that must reach the rules whatever the reduction rules say.
    fn never_chatter(&self) -> bool {
        let denied =
            matches!(self.response_code, Some(401 | 403)) || self.decision == Some("forbid");
        let secrets = self
            .object_ref
            .as_ref()
            .is_some_and(|r| r.resource == "secrets");
        denied || secrets || self.impersonated
    }
}

impl ChatterRule {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn matches(&self, event: &Probe) -> bool {
        let user = event.username;
        let node = user.strip_prefix("system:node:");
        let identified = self
            .identities
            .iter()
            .any(|id| id.matches(user, event.user_agent, event.source_ip));
        if !identified || !self.verbs.iter().any(|v| v == event.verb) {
            return false;
        }
        let query = event.request_uri.split_once('?').map_or("", |(_, q)| q);
        if !self.query.iter().all(|q| query.contains(q.as_str())) {
            return false;
        }
        match (&self.target, &event.object_ref) {
            (
                Target::Resources {
                    resources,
                    namespaces,
                    names,
                },
                Some(r),
            ) => {
                let resource = if r.subresource.is_empty() {
                    Cow::Borrowed(r.resource)
                } else {
                    Cow::Owned(format!("{}/{}", r.resource, r.subresource))
                };
                any_matches(resources, &resource, node)
                    && any_matches(namespaces, r.namespace, node)
                    && any_matches(names, r.name, node)
            }
            (Target::Paths(paths), None) => {
                let path = event
                    .request_uri
                    .split_once('?')
                    .map_or(event.request_uri, |(p, _)| p);
                any_matches(paths, path, node)
            }
            _ => false,
        }
    }
}
