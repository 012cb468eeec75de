//! The built-in reduction rules: what each control-plane component does
//! all day, by role; the identities of each role come from rule-sdk's
//! control-plane table.

use super::*;

mod controllers;
mod distributions;
mod informers;
mod kubelet;
mod leases;
mod requests;

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
pub(super) const ROLE_NAMES: [(&str, Role); 8] = [
    ("apiserver", Role::Apiserver),
    ("controller-manager", Role::ControllerManager),
    ("controllers", Role::Controllers),
    ("scheduler", Role::Scheduler),
    ("kubelet", Role::Kubelet),
    ("kube-proxy", Role::KubeProxy),
    ("dns", Role::Dns),
    ("addon", Role::Addon),
];

pub(super) fn role_named(name: &str) -> Option<Role> {
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

/// The built-in rules, one table per kind of routine.
const BUILTIN: &[&[Builtin]] = &[
    leases::RULES,
    informers::RULES,
    kubelet::RULES,
    controllers::RULES,
    requests::RULES,
    distributions::RULES,
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The built-in reduction rules, compiled.
pub fn builtin_rules() -> Vec<ChatterRule> {
    BUILTIN
        .iter()
        .flat_map(|table| table.iter())
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
