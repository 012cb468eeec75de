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
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use rule_sdk::control_plane::{ControlPlane, Role};

use crate::contract::EventKind;
use crate::decode::DecodedDoc;

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

/// The fields of an audit event the rules look at, read without building a
/// tree.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Probe<'a> {
    #[serde(borrow)]
    verb: Cow<'a, str>,
    #[serde(borrow, rename = "requestURI")]
    request_uri: Cow<'a, str>,
    #[serde(borrow)]
    user: ProbeUser<'a>,
    #[serde(borrow)]
    user_agent: Cow<'a, str>,
    #[serde(borrow, rename = "sourceIPs")]
    source_ips: Vec<Cow<'a, str>>,
    impersonated_user: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    object_ref: Option<ProbeRef<'a>>,
    response_status: Option<ProbeStatus>,
    #[serde(borrow)]
    annotations: HashMap<Cow<'a, str>, Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProbeUser<'a> {
    #[serde(borrow)]
    username: Cow<'a, str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProbeRef<'a> {
    #[serde(borrow)]
    resource: Cow<'a, str>,
    #[serde(borrow)]
    subresource: Cow<'a, str>,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProbeStatus {
    code: i64,
}

impl Probe<'_> {
    /// Events that must reach the rules whatever the reduction rules say.
    fn never_chatter(&self) -> bool {
        let denied = self
            .response_status
            .as_ref()
            .is_some_and(|s| s.code == 401 || s.code == 403)
            || self
                .annotations
                .get("authorization.k8s.io/decision")
                .is_some_and(|d| d == "forbid");
        let secrets = self
            .object_ref
            .as_ref()
            .is_some_and(|r| r.resource == "secrets");
        denied || secrets || self.impersonated_user.is_some()
    }
}

impl ChatterRule {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn matches(&self, event: &Probe) -> bool {
        let user = event.user.username.as_ref();
        let node = user.strip_prefix("system:node:");
        let source = event.source_ips.first().map_or("", |s| s.as_ref());
        let identified = self
            .identities
            .iter()
            .any(|id| id.matches(user, &event.user_agent, source));
        if !identified || !self.verbs.iter().any(|v| v == &event.verb) {
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
                    Cow::Borrowed(r.resource.as_ref())
                } else {
                    Cow::Owned(format!("{}/{}", r.resource, r.subresource))
                };
                any_matches(resources, &resource, node)
                    && any_matches(namespaces, &r.namespace, node)
                    && any_matches(names, &r.name, node)
            }
            (Target::Paths(paths), None) => {
                let path = event
                    .request_uri
                    .split_once('?')
                    .map_or(event.request_uri.as_ref(), |(p, _)| p);
                any_matches(paths, path, node)
            }
            _ => false,
        }
    }
}

/// The reduction rules and what to do with what they match.
#[derive(Debug, Clone, Default)]
pub struct ChatterFilter {
    mode: ChatterMode,
    rules: Vec<ChatterRule>,
}

/// What the filter did to one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reduced {
    /// Chatter events dropped (drop) or labelled (label), by rule.
    pub by_rule: BTreeMap<String, u64>,
}

impl Reduced {
    pub fn total(&self) -> u64 {
        self.by_rule.values().sum()
    }
}

impl ChatterFilter {
    /// The built-in rules, plus the operator's from `extra` (a TOML file of
    /// `[[rule]]` tables), in `mode`.
    pub fn new(mode: ChatterMode, extra: Option<&Path>) -> anyhow::Result<Self> {
        let mut rules = builtin_rules();
        if let Some(path) = extra {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the chatter rules {}", path.display()))?;
            let file = parse_file(&text)
                .with_context(|| format!("in the chatter rules {}", path.display()))?;
            for row in &file.control_plane {
                add_component(&mut rules, row);
            }
            rules.extend(file.rules);
        }
        if mode != ChatterMode::Off {
            tracing::info!(%mode, rules = rules.len(), "control-plane chatter filter on");
        }
        Ok(ChatterFilter { mode, rules })
    }

    pub fn mode(&self) -> ChatterMode {
        self.mode
    }

    pub fn rules(&self) -> &[ChatterRule] {
        &self.rules
    }

    /// The rule an event matches, if it is chatter. Documents that are not
    /// audit events are never chatter.
    pub fn classify(&self, doc: &DecodedDoc) -> Option<&str> {
        if doc.kind != EventKind::Audit {
            return None;
        }
        self.classify_json(&doc.json)
    }

    /// As [`classify`](Self::classify), on an audit event's JSON.
    pub fn classify_json(&self, json: &str) -> Option<&str> {
        let event: Probe = serde_json::from_str(json).ok()?;
        if event.never_chatter() {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.matches(&event))
            .map(ChatterRule::name)
    }

    /// Apply the mode to a batch: drop chatter, or label it. Off does
    /// nothing and reads nothing.
    pub fn apply(&self, docs: &mut Vec<DecodedDoc>) -> Reduced {
        let mut reduced = Reduced::default();
        match self.mode {
            ChatterMode::Off => {}
            ChatterMode::Drop => docs.retain(|doc| match self.classify(doc) {
                Some(rule) => {
                    *reduced.by_rule.entry(rule.to_string()).or_default() += 1;
                    false
                }
                None => true,
            }),
            ChatterMode::Label => {
                for doc in docs.iter_mut() {
                    let Some(rule) = self.classify(doc) else {
                        continue;
                    };
                    if let Some(json) = with_annotation(&doc.json, rule) {
                        doc.json = json;
                        *reduced.by_rule.entry(rule.to_string()).or_default() += 1;
                    }
                }
            }
        }
        reduced
    }
}

/// The event with `k8scop.io/chatter: <rule>` among its annotations.
fn with_annotation(json: &str, rule: &str) -> Option<String> {
    let mut event: serde_json::Value = serde_json::from_str(json).ok()?;
    let object = event.as_object_mut()?;
    let annotations = object
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !annotations.is_object() {
        *annotations = serde_json::Value::Object(Default::default());
    }
    annotations
        .as_object_mut()?
        .insert(CHATTER_ANNOTATION.to_string(), rule.into());
    serde_json::to_string(&event).ok()
}

/// An operator's control-plane row: a component's identity, added to the
/// built-in rules of its role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComponentSpec {
    pub role: String,
    pub users: Vec<String>,
    pub user_agents: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A compiled `[[control-plane]]` row.
#[derive(Debug, Clone)]
pub struct ComponentRow {
    role: Role,
    identity: Identity,
}

impl ComponentSpec {
    fn compile(&self) -> anyhow::Result<ComponentRow> {
        let role = role_named(&self.role).with_context(|| {
            format!(
                "control-plane row {:?}: `role` must be one of {}",
                self.users,
                ROLE_NAMES.map(|(n, _)| n).join(", ")
            )
        })?;
        anyhow::ensure!(
            !self.users.is_empty() && !self.user_agents.is_empty(),
            "control-plane row of role {}: `users` and `user-agents` are required (a component is its identity AND its agent)",
            self.role
        );
        let users: Vec<&str> = self.users.iter().map(String::as_str).collect();
        let agents: Vec<&str> = self.user_agents.iter().map(String::as_str).collect();
        let sources: Vec<&str> = self.sources.iter().map(String::as_str).collect();
        Ok(ComponentRow {
            role,
            identity: Identity::of(&users, &agents, &sources),
        })
    }
}

/// An operator's chatter file.
#[derive(Debug, Default)]
pub struct ChatterFile {
    pub rules: Vec<ChatterRule>,
    pub control_plane: Vec<ComponentRow>,
}

/// Operator rules: `[[rule]]` tables of [`RuleSpec`] and `[[control-plane]]`
/// tables of [`ComponentSpec`].
pub fn parse_file(text: &str) -> anyhow::Result<ChatterFile> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        rule: Vec<RuleSpec>,
        #[serde(default, rename = "control-plane")]
        control_plane: Vec<ComponentSpec>,
    }
    let file: File = toml::from_str(text)?;
    Ok(ChatterFile {
        rules: file
            .rule
            .iter()
            .map(RuleSpec::compile)
            .collect::<anyhow::Result<_>>()?,
        control_plane: file
            .control_plane
            .iter()
            .map(ComponentSpec::compile)
            .collect::<anyhow::Result<_>>()?,
    })
}

/// Operator rules: `[[rule]]` tables of [`RuleSpec`].
pub fn parse_rules(text: &str) -> anyhow::Result<Vec<ChatterRule>> {
    Ok(parse_file(text)?.rules)
}

/// Add an operator's component to every built-in rule of its role.
fn add_component(rules: &mut [ChatterRule], row: &ComponentRow) {
    for rule in rules.iter_mut().filter(|r| r.roles.contains(&row.role)) {
        rule.identities.push(row.identity.clone());
    }
}

/// Counted over a run, for the summary.
#[derive(Debug, Clone, Default)]
pub struct ChatterCounts {
    pub mode: ChatterMode,
    pub by_rule: BTreeMap<String, u64>,
}

impl ChatterCounts {
    pub fn add(&mut self, reduced: &Reduced) {
        for (rule, n) in &reduced.by_rule {
            *self.by_rule.entry(rule.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.by_rule.values().sum()
    }

    /// The summary's lines: how much was dropped (or labelled) of what was
    /// decoded, and by which rule.
    /// `folded`: stages of requests counted at another stage, which are
    /// not evaluated either.
    pub fn write_summary(
        &self,
        f: &mut fmt::Formatter<'_>,
        decoded: u64,
        folded: u64,
    ) -> fmt::Result {
        let n = self.total();
        let ratio = if decoded == 0 {
            0.0
        } else {
            100.0 * n as f64 / decoded as f64
        };
        match self.mode {
            ChatterMode::Off => return Ok(()),
            ChatterMode::Drop => writeln!(
                f,
                "  chatter      {n} dropped of {decoded} decoded ({ratio:.1}% reduction), {} evaluated",
                decoded.saturating_sub(n + folded)
            )?,
            ChatterMode::Label => writeln!(
                f,
                "  chatter      {n} labelled of {decoded} decoded ({ratio:.1}%), all evaluated"
            )?,
        }
        let width = self.by_rule.keys().map(String::len).max().unwrap_or(0);
        for (rule, n) in &self.by_rule {
            writeln!(f, "    {rule:<width$}  {n}")?;
        }
        Ok(())
    }
}

// ---- the built-in rules ------------------------------------------------

/// Whose routine a built-in rule describes: the components of a role in
/// `rule_sdk::control_plane`'s table (every distribution's), some users of
/// a role (a controller's own service account, with its role's agents), or
/// the kubelet's probes.
enum Who {
    Role(Role),
    UsersOf(Role, &'static [&'static str]),
    Component(&'static str),
    Probes,
}

const APISERVER: Who = Who::Role(Role::Apiserver);
const CONTROLLER_MANAGER: Who = Who::Role(Role::ControllerManager);
/// The controller-manager's controllers, each with its own service account
/// (`--use-service-account-credentials`), and other distributions'
/// controllers (k3s' supervisor, OpenShift's).
const CONTROLLERS: Who = Who::Role(Role::Controllers);
const SCHEDULER: Who = Who::Role(Role::Scheduler);
const KUBELET: Who = Who::Role(Role::Kubelet);
/// kube-proxy: its own user (kube-up, the hard way, MicroK8s, k3s) or its
/// service account (kubeadm).
const KUBE_PROXY: Who = Who::Role(Role::KubeProxy);
const COREDNS: Who = Who::Role(Role::Dns);
/// The add-ons distributions install (Calico, storage provisioners, ...).
const ADDONS: Who = Who::Role(Role::Addon);
/// The kubelet's HTTP probes of the static control-plane pods.
const PROBES: Who = Who::Probes;

/// `--chatter-rules`' names of the roles.
const ROLE_NAMES: [(&str, Role); 8] = [
    ("apiserver", Role::Apiserver),
    ("controller-manager", Role::ControllerManager),
    ("controllers", Role::Controllers),
    ("scheduler", Role::Scheduler),
    ("kubelet", Role::Kubelet),
    ("kube-proxy", Role::KubeProxy),
    ("dns", Role::Dns),
    ("addon", Role::Addon),
];

fn role_named(name: &str) -> Option<Role> {
    ROLE_NAMES
        .iter()
        .find(|(n, _)| *n == name.trim())
        .map(|(_, r)| *r)
}

impl Who {
    /// The identities, and the role operators' rows of which join them.
    fn identities(&self) -> (Vec<Identity>, Option<Role>) {
        let rows = |role: Role| ControlPlane::identities(role);
        match self {
            Who::Role(role) => (
                rows(*role)
                    .map(|c| Identity::of(c.users, c.agents, c.sources))
                    .collect(),
                Some(*role),
            ),
            Who::UsersOf(role, users) => (
                rows(*role)
                    .map(|c| Identity::of(users, c.agents, c.sources))
                    .collect(),
                None,
            ),
            Who::Component(name) => (
                rule_sdk::control_plane::COMPONENTS
                    .iter()
                    .filter(|c| c.name == *name)
                    .map(|c| Identity::of(c.users, c.agents, c.sources))
                    .collect(),
                None,
            ),
            Who::Probes => (vec![Identity::of(&["*"], &["kube-probe/*"], &[])], None),
        }
    }
}

struct Builtin {
    name: &'static str,
    who: &'static [Who],
    verbs: &'static [&'static str],
    resources: &'static [&'static str],
    namespaces: &'static [&'static str],
    names: &'static [&'static str],
    paths: &'static [&'static str],
    query: &'static [&'static str],
}

const NONE: &[&str] = &[];
/// Informer relists carry the resource version they list from; ad-hoc
/// lists (kubectl) do not.
const INFORMER_LIST: &[&str] = &["resourceVersion="];
const HEALTH_PATHS: &[&str] = &[
    "/healthz",
    "/healthz/*",
    "/livez",
    "/livez/*",
    "/readyz",
    "/readyz/*",
];

const BUILTIN: &[Builtin] = &[
    // Leader election: get and renew the component's own lease every 2 s.
    Builtin {
        name: "leader-election-lease",
        who: &[CONTROLLER_MANAGER],
        verbs: &["get", "update", "patch"],
        resources: &["leases"],
        namespaces: &["kube-system"],
        names: &[
            "kube-controller-manager",
            "cloud-controller-manager",
            "k3s-cloud-controller-manager",
        ],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "leader-election-lease",
        who: &[SCHEDULER],
        verbs: &["get", "update", "patch"],
        resources: &["leases"],
        namespaces: &["kube-system"],
        names: &["kube-scheduler"],
        paths: NONE,
        query: NONE,
    },
    // Each API server keeps an identity lease, and garbage-collects those
    // of API servers gone.
    Builtin {
        name: "apiserver-identity-lease",
        who: &[APISERVER],
        verbs: &["get", "create", "update", "patch", "delete"],
        resources: &["leases"],
        namespaces: &["kube-system"],
        names: &["apiserver-*"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "apiserver-identity-lease",
        who: &[APISERVER],
        verbs: &["list"],
        resources: &["leases"],
        namespaces: &["kube-system"],
        names: &[""],
        paths: NONE,
        query: &["labelSelector=apiserver.kubernetes.io"],
    },
    // The reconciler of the `kubernetes` service, its endpoints and the
    // system namespaces.
    Builtin {
        name: "apiserver-reconcilers",
        who: &[APISERVER],
        verbs: &["get", "create", "update"],
        resources: &["services", "endpoints", "endpointslices"],
        namespaces: &["default"],
        names: &["kubernetes"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "apiserver-reconcilers",
        who: &[APISERVER],
        verbs: &["get", "create"],
        resources: &["namespaces"],
        namespaces: &[""],
        names: &["default", "kube-system", "kube-public", "kube-node-lease"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "apiserver-reconcilers",
        who: &[APISERVER],
        verbs: &["get", "update"],
        resources: &["configmaps"],
        namespaces: &["kube-system"],
        names: &["extension-apiserver-authentication"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "apiserver-reconcilers",
        who: &[APISERVER],
        verbs: &["get"],
        resources: &["priorityclasses"],
        namespaces: &[""],
        names: &["system-node-critical", "system-cluster-critical"],
        paths: NONE,
        query: NONE,
    },
    // Shared informers: every component watches (and now and then relists)
    // the collections it caches.
    Builtin {
        name: "informer-watch",
        who: &[
            APISERVER,
            CONTROLLER_MANAGER,
            CONTROLLERS,
            SCHEDULER,
            ADDONS,
        ],
        verbs: &["watch"],
        resources: &["*"],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "informer-list",
        who: &[
            APISERVER,
            CONTROLLER_MANAGER,
            CONTROLLERS,
            SCHEDULER,
            ADDONS,
        ],
        verbs: &["list"],
        resources: &["*"],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: INFORMER_LIST,
    },
    Builtin {
        name: "informer-watch",
        who: &[KUBELET],
        verbs: &["watch"],
        resources: &[
            "pods",
            "nodes",
            "services",
            "configmaps",
            "runtimeclasses",
            "csidrivers",
        ],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "informer-list",
        who: &[KUBELET],
        verbs: &["list"],
        resources: &[
            "pods",
            "nodes",
            "services",
            "configmaps",
            "runtimeclasses",
            "csidrivers",
        ],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: INFORMER_LIST,
    },
    Builtin {
        name: "informer-watch",
        who: &[KUBE_PROXY],
        verbs: &["watch"],
        resources: &["services", "endpoints", "endpointslices", "nodes"],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "informer-list",
        who: &[KUBE_PROXY],
        verbs: &["list"],
        resources: &["services", "endpoints", "endpointslices", "nodes"],
        namespaces: NONE,
        names: &[""],
        paths: NONE,
        query: INFORMER_LIST,
    },
    Builtin {
        name: "informer-watch",
        who: &[COREDNS],
        verbs: &["watch"],
        resources: &["services", "endpoints", "endpointslices", "namespaces"],
        namespaces: &[""],
        names: &[""],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "informer-list",
        who: &[COREDNS],
        verbs: &["list"],
        resources: &["services", "endpoints", "endpointslices", "namespaces"],
        namespaces: &[""],
        names: &[""],
        paths: NONE,
        query: INFORMER_LIST,
    },
    // Kubelets: their own node lease, node object and status.
    Builtin {
        name: "kubelet-node-lease",
        who: &[KUBELET],
        verbs: &["get", "create", "update", "patch"],
        resources: &["leases"],
        namespaces: &["kube-node-lease"],
        names: &["$node"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "kubelet-node-status",
        who: &[KUBELET],
        verbs: &["get", "update", "patch"],
        resources: &["nodes", "nodes/status", "csinodes"],
        namespaces: &[""],
        names: &["$node"],
        paths: NONE,
        query: NONE,
    },
    // Kubelets: the status of the pods they run (the node authorizer keeps
    // them to their own pods), and events about them.
    Builtin {
        name: "kubelet-pod-status",
        who: &[KUBELET],
        verbs: &["patch", "update"],
        resources: &["pods/status"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "kubelet-pod-status",
        who: &[KUBELET],
        verbs: &["get"],
        resources: &["pods"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "component-events",
        who: &[KUBELET, KUBE_PROXY, SCHEDULER, CONTROLLERS, COREDNS, ADDONS],
        verbs: &["create", "update", "patch"],
        resources: &["events"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // Kubelets refresh the projected service-account tokens of their pods
    // at 80% of their life.
    Builtin {
        name: "kubelet-token-refresh",
        who: &[KUBELET],
        verbs: &["create"],
        resources: &["serviceaccounts/token"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // Delegated authentication and authorization of requests to the
    // components' own HTTPS endpoints (kubelet API, metrics).
    Builtin {
        name: "delegated-auth-review",
        who: &[KUBELET, CONTROLLER_MANAGER, SCHEDULER, ADDONS],
        verbs: &["create"],
        resources: &["tokenreviews", "subjectaccessreviews"],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // The controllers' steady state: status of the workloads they own,
    // endpoints following readiness, the root CA in every namespace, the
    // node TTL annotation.
    Builtin {
        name: "controller-status",
        who: &[CONTROLLERS],
        verbs: &["update", "patch"],
        resources: &[
            "deployments/status",
            "replicasets/status",
            "daemonsets/status",
            "statefulsets/status",
            "replicationcontrollers/status",
            "jobs/status",
            "cronjobs/status",
            "horizontalpodautoscalers/status",
            "resourcequotas/status",
            "persistentvolumeclaims/status",
            "persistentvolumes/status",
        ],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "controller-endpoints",
        who: &[Who::UsersOf(
            Role::Controllers,
            &[
                "system:serviceaccount:kube-system:endpoint-controller",
                "system:serviceaccount:kube-system:endpointslice-controller",
                "system:serviceaccount:kube-system:endpointslicemirroring-controller",
            ],
        )],
        verbs: &["create", "update", "patch", "delete"],
        resources: &["endpoints", "endpointslices"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "controller-root-ca",
        who: &[Who::UsersOf(
            Role::Controllers,
            &["system:serviceaccount:kube-system:root-ca-cert-publisher"],
        )],
        verbs: &["get", "create", "update"],
        resources: &["configmaps"],
        namespaces: NONE,
        names: &["kube-root-ca.crt"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "controller-node-ttl",
        who: &[Who::UsersOf(
            Role::Controllers,
            &["system:serviceaccount:kube-system:ttl-controller"],
        )],
        verbs: &["patch"],
        resources: &["nodes"],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // API discovery (the garbage collector, quota and namespace
    // controllers rediscover every 30 s) and version checks.
    Builtin {
        name: "discovery",
        who: &[APISERVER, CONTROLLER_MANAGER, CONTROLLERS, SCHEDULER],
        verbs: &["get"],
        resources: NONE,
        namespaces: NONE,
        names: NONE,
        paths: &[
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/version",
            "/openapi/*",
        ],
        query: NONE,
    },
    // Health checks: the kubelet's probes of the static pods, and the
    // components' own checks of the API server.
    Builtin {
        name: "health-check",
        who: &[PROBES, APISERVER, CONTROLLER_MANAGER, SCHEDULER, KUBELET],
        verbs: &["get"],
        resources: NONE,
        namespaces: NONE,
        names: NONE,
        paths: HEALTH_PATHS,
        query: NONE,
    },
    // Distributions' supervisors: k3s' and RKE2's leader leases, k3s'
    // node annotations (flannel) and its add-on and Helm chart objects.
    Builtin {
        name: "leader-election-lease",
        who: &[CONTROLLERS],
        verbs: &["get", "update", "patch"],
        resources: &["leases"],
        namespaces: &["kube-system"],
        names: &["k3s", "k3s-etcd", "rke2", "rke2-etcd"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "supervisor-nodes",
        who: &[Who::UsersOf(
            Role::Controllers,
            &["system:k3s-controller", "system:rke2-controller"],
        )],
        verbs: &["get", "update", "patch"],
        resources: &["nodes", "nodes/status"],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "supervisor-addons",
        who: &[Who::UsersOf(
            Role::Controllers,
            &["system:k3s-supervisor", "system:rke2-supervisor"],
        )],
        verbs: &["get", "create", "update", "patch"],
        resources: &[
            "addons",
            "addons/status",
            "helmcharts",
            "helmcharts/status",
            "helmchartconfigs",
        ],
        namespaces: &["kube-system"],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // Add-ons' leader election (storage provisioners lock a lease or an
    // Endpoints object in kube-system).
    Builtin {
        name: "leader-election-lease",
        who: &[ADDONS],
        verbs: &["get", "update", "patch"],
        resources: &["leases", "endpoints"],
        namespaces: &["kube-system"],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    // Calico: its IPAM and configuration objects, the nodes' network
    // condition, and the CNI plugin's token.
    Builtin {
        name: "cni-state",
        who: &[Who::Component("calico")],
        verbs: &["get", "list", "create", "update", "patch", "delete"],
        resources: &[
            "ipamblocks",
            "blockaffinities",
            "ipamhandles",
            "ipamconfigs",
            "ippools",
            "felixconfigurations",
            "clusterinformations",
            "bgpconfigurations",
            "kubecontrollersconfigurations",
            "kubecontrollersconfigurations/status",
            "hostendpoints",
        ],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "cni-state",
        who: &[Who::Component("calico")],
        verbs: &["get", "patch", "update"],
        resources: &["nodes", "nodes/status"],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "cni-state",
        who: &[Who::Component("calico")],
        verbs: &["create"],
        resources: &["serviceaccounts/token"],
        namespaces: &["kube-system"],
        names: &["calico-node", "calico-cni-plugin"],
        paths: NONE,
        query: NONE,
    },
    // Add-ons' API discovery and version checks.
    Builtin {
        name: "discovery",
        who: &[COREDNS, ADDONS, KUBELET, KUBE_PROXY],
        verbs: &["get"],
        resources: NONE,
        namespaces: NONE,
        names: NONE,
        paths: &["/api", "/api/*", "/apis", "/apis/*", "/version"],
        query: NONE,
    },
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The built-in reduction rules, compiled.
pub fn builtin_rules() -> Vec<ChatterRule> {
    BUILTIN
        .iter()
        .map(|b| {
            let spec = RuleSpec {
                name: b.name.to_string(),
                // Replaced below by one identity per component.
                users: vec!["*".into()],
                user_agents: Vec::new(),
                verbs: strings(b.verbs),
                resources: strings(b.resources),
                namespaces: strings(b.namespaces),
                names: strings(b.names),
                paths: strings(b.paths),
                query: strings(b.query),
            };
            let mut rule = spec
                .compile()
                .unwrap_or_else(|e| panic!("built-in chatter rule {}: {e:#}", b.name));
            rule.identities.clear();
            for who in b.who {
                let (identities, role) = who.identities();
                rule.identities.extend(identities);
                rule.roles.extend(role);
            }
            rule
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn event(user: &str, agent: &str, verb: &str, uri: &str, object_ref: Value) -> Value {
        let mut e = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": "a", "stage": "ResponseComplete", "verb": verb, "requestURI": uri,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "userAgent": agent, "sourceIPs": ["172.18.0.3"],
            "responseStatus": {"metadata": {}, "code": 200},
            "annotations": {"authorization.k8s.io/decision": "allow"}
        });
        if !object_ref.is_null() {
            e["objectRef"] = object_ref;
        }
        e
    }

    fn builtin() -> ChatterFilter {
        ChatterFilter::new(ChatterMode::Drop, None).unwrap()
    }

    fn rule_of(filter: &ChatterFilter, e: &Value) -> Option<String> {
        filter.classify_json(&e.to_string()).map(String::from)
    }

    const KUBELET_AGENT: &str = "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819";
    const PROXY_AGENT: &str = "kube-proxy/v1.29.2 (linux/amd64) kubernetes/4b8e819";
    const KUBECTL: &str = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819";
    const PROXY_SA: &str = "system:serviceaccount:kube-system:kube-proxy";

    #[test]
    fn the_built_in_rules_compile() {
        assert!(builtin_rules().len() >= 20);
    }

    #[test]
    fn lease_renewals_and_watches_are_chatter() {
        let f = builtin();
        let renew = event(
            "system:kube-controller-manager",
            "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/leader-election",
            "update",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s",
            json!({"resource": "leases", "namespace": "kube-system", "name": "kube-controller-manager", "apiGroup": "coordination.k8s.io"}),
        );
        assert_eq!(
            rule_of(&f, &renew).as_deref(),
            Some("leader-election-lease")
        );
        let watch = event(
            PROXY_SA,
            PROXY_AGENT,
            "watch",
            "/apis/discovery.k8s.io/v1/endpointslices?allowWatchBookmarks=true&watch=true",
            json!({"resource": "endpointslices", "apiGroup": "discovery.k8s.io"}),
        );
        assert_eq!(rule_of(&f, &watch).as_deref(), Some("informer-watch"));
        let probe = event(
            "system:anonymous",
            "kube-probe/1.29",
            "get",
            "/livez",
            Value::Null,
        );
        assert_eq!(rule_of(&f, &probe).as_deref(), Some("health-check"));
    }

    #[test]
    fn a_stolen_kube_proxy_token_reading_secrets_is_not_chatter() {
        let f = builtin();
        for agent in [PROXY_AGENT, KUBECTL] {
            for (verb, uri, object_ref) in [
                (
                    "get",
                    "/api/v1/namespaces/kube-system/secrets/admin-token",
                    json!({"resource": "secrets", "namespace": "kube-system", "name": "admin-token"}),
                ),
                (
                    "list",
                    "/api/v1/secrets?limit=500&resourceVersion=0",
                    json!({"resource": "secrets"}),
                ),
                (
                    "watch",
                    "/api/v1/secrets?watch=true",
                    json!({"resource": "secrets"}),
                ),
            ] {
                let e = event(PROXY_SA, agent, verb, uri, object_ref);
                assert_eq!(rule_of(&f, &e), None, "{agent} {verb} {uri}");
            }
        }
    }

    #[test]
    fn a_chatter_request_from_another_client_is_not_chatter() {
        let f = builtin();
        // The kube-proxy's own watch, but sent by kubectl with its token.
        let e = event(
            PROXY_SA,
            KUBECTL,
            "watch",
            "/api/v1/services?watch=true",
            json!({"resource": "services"}),
        );
        assert_eq!(rule_of(&f, &e), None);
        // kube-proxy does not touch pods.
        let e = event(
            PROXY_SA,
            PROXY_AGENT,
            "watch",
            "/api/v1/pods?watch=true",
            json!({"resource": "pods"}),
        );
        assert_eq!(rule_of(&f, &e), None);
    }

    #[test]
    fn a_kubelet_only_renews_its_own_node() {
        let f = builtin();
        let lease = |user: &str, name: &str| {
            event(
                user,
                KUBELET_AGENT,
                "update",
                &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
                json!({"resource": "leases", "namespace": "kube-node-lease", "name": name}),
            )
        };
        assert_eq!(
            rule_of(&f, &lease("system:node:worker-1", "worker-1")).as_deref(),
            Some("kubelet-node-lease")
        );
        assert_eq!(
            rule_of(&f, &lease("system:node:worker-1", "worker-2")),
            None
        );
        let status = |name: &str| {
            event(
                "system:node:worker-1",
                KUBELET_AGENT,
                "patch",
                &format!("/api/v1/nodes/{name}/status?timeout=10s"),
                json!({"resource": "nodes", "name": name, "subresource": "status"}),
            )
        };
        assert_eq!(
            rule_of(&f, &status("worker-1")).as_deref(),
            Some("kubelet-node-status")
        );
        assert_eq!(rule_of(&f, &status("worker-2")), None);
    }

    #[test]
    fn ad_hoc_lists_are_not_informer_relists() {
        let f = builtin();
        let list = |uri: &str| {
            event(
                "system:kube-controller-manager",
                "kube-controller-manager/v1.29.2",
                "list",
                uri,
                json!({"resource": "pods"}),
            )
        };
        assert_eq!(
            rule_of(&f, &list("/api/v1/pods?limit=500&resourceVersion=0")).as_deref(),
            Some("informer-list")
        );
        assert_eq!(rule_of(&f, &list("/api/v1/pods?limit=500")), None);
    }

    #[test]
    fn denied_and_impersonated_requests_are_never_chatter() {
        let f = builtin();
        let mut e = event(
            "system:node:worker-1",
            KUBELET_AGENT,
            "watch",
            "/api/v1/pods?watch=true",
            json!({"resource": "pods"}),
        );
        assert_eq!(rule_of(&f, &e).as_deref(), Some("informer-watch"));
        e["responseStatus"]["code"] = json!(403);
        assert_eq!(rule_of(&f, &e), None);
        e["responseStatus"]["code"] = json!(200);
        e["annotations"]["authorization.k8s.io/decision"] = json!("forbid");
        assert_eq!(rule_of(&f, &e), None);
        e["annotations"]["authorization.k8s.io/decision"] = json!("allow");
        e["impersonatedUser"] = json!({"username": "system:admin"});
        assert_eq!(rule_of(&f, &e), None);
    }

    #[test]
    fn anonymous_requests_other_than_probes_are_not_chatter() {
        let f = builtin();
        let e = event(
            "system:anonymous",
            "curl/8.5.0",
            "get",
            "/healthz",
            Value::Null,
        );
        assert_eq!(rule_of(&f, &e), None);
        let e = event(
            "system:anonymous",
            "kube-probe/1.29",
            "get",
            "/api/v1/namespaces",
            json!({"resource": "namespaces"}),
        );
        assert_eq!(rule_of(&f, &e), None);
    }

    #[test]
    fn operator_rules_extend_the_built_ins_and_are_checked() {
        let rules = parse_rules(
            r#"
            [[rule]]
            name = "argocd-watches"
            users = ["system:serviceaccount:argocd:argocd-application-controller"]
            user-agents = ["argocd-application-controller/*"]
            verbs = ["watch"]
            resources = ["*"]
            "#,
        )
        .unwrap();
        assert_eq!(rules.len(), 1);
        let f = ChatterFilter {
            mode: ChatterMode::Drop,
            rules,
        };
        let e = event(
            "system:serviceaccount:argocd:argocd-application-controller",
            "argocd-application-controller/v2.10.0",
            "watch",
            "/apis/apps/v1/deployments?watch=true",
            json!({"resource": "deployments", "apiGroup": "apps"}),
        );
        assert_eq!(rule_of(&f, &e).as_deref(), Some("argocd-watches"));

        let err = |text: &str| format!("{:#}", parse_rules(text).unwrap_err());
        assert!(
            err("[[rule]]\nname = \"x\"\nusers = []\nverbs = [\"get\"]\nresources = [\"pods\"]")
                .contains("`users` is empty")
        );
        assert!(
            err("[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]")
                .contains("either `resources`")
        );
        assert!(err("[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]\nresources = [\"secrets\"]").contains("never dropped"));
        assert!(err("[[rule]]\nname = \"x\"\nusers = [\"a\"]\nverbs = [\"get\"]\nresources = [\"pods\"]\ncolour = 1").contains("colour"));
    }

    /// MicroK8s' kubelite and k3s send one agent for every component: the
    /// same routine is chatter under it, and kubectl with the same
    /// identity is not.
    #[test]
    fn microk8s_and_k3s_components_are_known_by_their_agents() {
        let filter = builtin();
        let lease = |user: &str, agent: &str, name: &str| {
            event(
                user,
                agent,
                "update",
                &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
                json!({"resource": "leases", "namespace": "kube-node-lease", "name": name,
                       "apiGroup": "coordination.k8s.io"}),
            )
        };
        for agent in [
            "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119",
            "k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6",
            KUBELET_AGENT,
        ] {
            let e = lease("system:node:mk8s-1", agent, "mk8s-1");
            assert_eq!(
                rule_of(&filter, &e).as_deref(),
                Some("kubelet-node-lease"),
                "{agent}"
            );
        }
        let e = lease("system:node:mk8s-1", KUBECTL, "mk8s-1");
        assert_eq!(rule_of(&filter, &e), None);
        // The controller-manager's controllers, with their suffix.
        let status = |agent: &str| {
            event(
                "system:serviceaccount:kube-system:replicaset-controller",
                agent,
                "update",
                "/apis/apps/v1/namespaces/kube-system/replicasets/coredns-d489fb88/status",
                json!({"resource": "replicasets", "subresource": "status",
                       "namespace": "kube-system", "name": "coredns-d489fb88", "apiGroup": "apps"}),
            )
        };
        let kubelite = "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119/system:serviceaccount:kube-system:replicaset-controller";
        assert_eq!(
            rule_of(&filter, &status(kubelite)).as_deref(),
            Some("controller-status")
        );
        assert_eq!(rule_of(&filter, &status(KUBECTL)), None);
        // The API server's own requests come over loopback.
        let identity = |ip: &str| {
            let mut e = event(
                "system:apiserver",
                "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119",
                "update",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/apiserver-x",
                json!({"resource": "leases", "namespace": "kube-system", "name": "apiserver-x",
                       "apiGroup": "coordination.k8s.io"}),
            );
            e["sourceIPs"] = json!([ip]);
            e
        };
        assert_eq!(
            rule_of(&filter, &identity("127.0.0.1")).as_deref(),
            Some("apiserver-identity-lease")
        );
        assert_eq!(rule_of(&filter, &identity("203.0.113.9")), None);
    }

    #[test]
    fn operators_add_components_to_the_rules_of_their_role() {
        let agent = "my-distro/v1.0 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:replicaset-controller";
        let e = event(
            "system:serviceaccount:kube-system:replicaset-controller",
            agent,
            "update",
            "/apis/apps/v1/namespaces/shop/replicasets/web-1/status",
            json!({"resource": "replicasets", "subresource": "status", "namespace": "shop",
                   "name": "web-1", "apiGroup": "apps"}),
        );
        assert_eq!(rule_of(&builtin(), &e), None);
        let file = parse_file(
            r#"
            [[control-plane]]
            role = "controllers"
            users = ["system:serviceaccount:kube-system:*"]
            user-agents = ["my-distro/*"]
            "#,
        )
        .unwrap();
        let mut filter = builtin();
        for row in &file.control_plane {
            add_component(&mut filter.rules, row);
        }
        assert_eq!(rule_of(&filter, &e).as_deref(), Some("controller-status"));
        let err = |text: &str| format!("{:#}", parse_file(text).unwrap_err());
        assert!(
            err("[[control-plane]]\nrole = \"x\"\nusers = [\"a\"]\nuser-agents = [\"b\"]")
                .contains("role")
        );
        assert!(
            err("[[control-plane]]\nrole = \"kubelet\"\nusers = [\"a\"]\nuser-agents = []")
                .contains("AND its agent")
        );
    }

    fn doc(e: &Value) -> DecodedDoc {
        crate::decode::Decoder::default()
            .decode_line(e.to_string(), 1)
            .unwrap()
    }

    #[test]
    fn modes_drop_label_or_leave_the_batch() {
        let chatter = event(
            "system:node:worker-1",
            KUBELET_AGENT,
            "watch",
            "/api/v1/pods?watch=true",
            json!({"resource": "pods"}),
        );
        let attack = event(
            PROXY_SA,
            KUBECTL,
            "get",
            "/api/v1/namespaces/kube-system/secrets/admin-token",
            json!({"resource": "secrets", "namespace": "kube-system", "name": "admin-token"}),
        );
        let batch = vec![doc(&chatter), doc(&attack)];

        let mut docs = batch.clone();
        let off = ChatterFilter::new(ChatterMode::Off, None).unwrap();
        assert_eq!(off.apply(&mut docs).total(), 0);
        assert_eq!(docs.len(), 2);

        let mut docs = batch.clone();
        let drop = ChatterFilter::new(ChatterMode::Drop, None).unwrap();
        let reduced = drop.apply(&mut docs);
        assert_eq!(
            reduced.by_rule,
            BTreeMap::from([("informer-watch".to_string(), 1)])
        );
        assert_eq!(docs.len(), 1);
        assert!(docs[0].json.contains("admin-token"));

        let mut docs = batch.clone();
        let label = ChatterFilter::new(ChatterMode::Label, None).unwrap();
        assert_eq!(label.apply(&mut docs).total(), 1);
        assert_eq!(docs.len(), 2);
        let labelled: Value = serde_json::from_str(&docs[0].json).unwrap();
        assert_eq!(
            labelled["annotations"][CHATTER_ANNOTATION],
            "informer-watch"
        );
        assert_eq!(
            labelled["annotations"]["authorization.k8s.io/decision"],
            "allow"
        );
        assert!(!docs[1].json.contains(CHATTER_ANNOTATION));
    }
}
