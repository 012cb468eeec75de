//! Who the control plane is: one table of its components, per
//! distribution, that the detection packs and the host's chatter filter
//! (`--chatter-filter`) share.
//!
//! A component is known by its identity (user name) AND the user agent its
//! binary sends (AND its source address, where the table knows it). A
//! control-plane identity used from another client is not the component:
//! the controller-manager's token used from `kubectl` or `curl` is an
//! attacker holding it. So:
//! - the packs' `ignore_users` ignore a control-plane identity only when its
//!   agent (and source) are the component's ([`IgnoreList`]);
//! - `k8scop-correlation/control-plane-unexpected-client` reports a
//!   control-plane identity used from any other client ([`Verdict::Unexpected`]);
//! - the chatter filter recognises a component's routine traffic by the same
//!   identity and agent pairs.
//!
//! # Table, not baseline
//! The expected agents come from this table, not from a baseline learned per
//! identity. A baseline learns whatever the identity does during its window,
//! an attacker already holding a token included, and says nothing until the
//! window has passed; the table alerts from the first event, and a restart
//! (a pack's state is not checkpointed) forgets nothing. The price is that a
//! distribution or an add-on missing from the table shows up as
//! "unexpected client" alerts (one per identity and agent, aggregated) until
//! the operator adds it (`control_plane_agents`, below): loud and fixable,
//! where a baseline's miss is silent.
//!
//! # Matching
//! Users and agents are [`Patterns`]: exact, or a prefix when they end with
//! `*`. Agents are matched on their product token (`kube-controller-manager/`,
//! `kubelite/`, `k3s/`): client-go's agent is `<binary>/<version> (<os>/<arch>)
//! kubernetes/<commit>`, and the controller-manager, the scheduler and
//! MicroK8s' kubelite append the controller (`/system:serviceaccount:kube-system:<name>`,
//! `/leader-election`, `/scheduler`), which says nothing more about who
//! sent it. A user agent is written by the client: a careful attacker can
//! send the component's own, which no audit-log rule can tell apart; the
//! sources, where the table knows them, narrow that (the API server's own
//! requests come over loopback).
//!
//! # Operators
//! Every pack that ignores the control plane reads two settings:
//! - `control_plane_distributions`: the distributions whose rows apply
//!   (default all of them: `upstream, microk8s, k3s, rke2, openshift, eks`);
//! - `control_plane_agents`: rows of the operator's own, comma-separated,
//!   each `user=agent` or `user=agent@source|source` (patterns as above), e.g.
//!   `system:serviceaccount:argocd:*=argocd-application-controller/*`.
//!
//! The host's chatter filter takes the same rows as `[[control-plane]]`
//! tables in its `--chatter-rules` file.
//!
//! # Sources of the table
//! Identities and agents were taken from public audit and API-server logs
//! and from the distributions' sources; where an agent is derived from the
//! binary's name (client-go's default agent) rather than seen in a log, the
//! row says so. GKE's and AKS' own system identities (`system:gcp-controller-manager`,
//! `system:addon-manager`, `aksService`, `masterclient`, ...) are not in the
//! table: their agents are not publicly documented, and a wrong guess would
//! either hide them or flood. Their control planes run the upstream
//! components, which the upstream rows cover; add their own identities with
//! `control_plane_agents` once seen in your log.

use crate::{Config, Event, Patterns};

mod user_index;
use user_index::UserIndex;

/// What a component does, which the chatter filter's rules key on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The API server's own loopback requests.
    Apiserver,
    /// The controller-manager under its own user.
    ControllerManager,
    /// The controller-manager's controllers, each under its own service
    /// account (`--use-service-account-credentials`), and other
    /// distributions' controllers (k3s' supervisor, OpenShift's).
    Controllers,
    Scheduler,
    /// Kubelets (`system:node:<node>`).
    Kubelet,
    KubeProxy,
    /// Cluster DNS.
    Dns,
    /// Add-ons a distribution installs (CNI, storage, metrics, ingress).
    Addon,
}

/// One row of the table: a component of a distribution.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    pub distribution: &'static str,
    pub name: &'static str,
    pub role: Role,
    /// Its user names, as [`Patterns`].
    pub users: &'static [&'static str],
    /// The user agents it sends, as [`Patterns`].
    pub agents: &'static [&'static str],
    /// Its source addresses; empty when any (it runs on every node, or the
    /// address is the cluster's).
    pub sources: &'static [&'static str],
}

/// The distributions of the built-in table.
pub const DISTRIBUTIONS: &[&str] = &["upstream", "microk8s", "k3s", "rke2", "openshift", "eks"];

const LOOPBACK: &[&str] = &["127.0.0.1", "::1"];
const ANY: &[&str] = &[];
const KUBE_SYSTEM_SA: &[&str] = &["system:serviceaccount:kube-system:*"];

/// Identities named one by one where a rule is about one controller's
/// work (the table matches them with its rows' patterns).
pub mod users {
    /// The k3s and RKE2 supervisors' controllers (their nodes' state).
    pub const K3S_CONTROLLER: &str = "system:k3s-controller";
    pub const RKE2_CONTROLLER: &str = "system:rke2-controller";
    /// The k3s and RKE2 supervisors (their add-on and Helm chart objects).
    pub const K3S_SUPERVISOR: &str = "system:k3s-supervisor";
    pub const RKE2_SUPERVISOR: &str = "system:rke2-supervisor";
    /// Upstream controllers' own service accounts
    /// (`--use-service-account-credentials`).
    pub const ENDPOINT_CONTROLLERS: &[&str] = &[
        "system:serviceaccount:kube-system:endpoint-controller",
        "system:serviceaccount:kube-system:endpointslice-controller",
        "system:serviceaccount:kube-system:endpointslicemirroring-controller",
    ];
    pub const ROOT_CA_PUBLISHER: &str = "system:serviceaccount:kube-system:root-ca-cert-publisher";
    pub const TTL_CONTROLLER: &str = "system:serviceaccount:kube-system:ttl-controller";
}

const fn row(
    distribution: &'static str,
    name: &'static str,
    role: Role,
    users: &'static [&'static str],
    agents: &'static [&'static str],
    sources: &'static [&'static str],
) -> Component {
    Component {
        distribution,
        name,
        role,
        users,
        agents,
        sources,
    }
}

/// The built-in table.
///
/// - upstream (kubeadm, kind, kube-up, and the managed clouds' upstream
///   components): each component is its own binary; agents as in a kubeadm
///   cluster's audit log (`kube-controller-manager/v1.29.2 (linux/amd64)
///   kubernetes/4b8e819/system:serviceaccount:kube-system:replicaset-controller`).
/// - microk8s: the API server, controller-manager, scheduler, kubelet and
///   kube-proxy run in one `kubelite` binary; every one of them sends
///   `kubelite/v1.26.5 (linux/amd64) kubernetes/890a139`, with the
///   controller appended (`.../kube-controller-manager`, `.../scheduler`,
///   `.../leader-election`, `.../system:serviceaccount:kube-system:<name>`).
///   Calico and CoreDNS run in kube-system.
/// - k3s: one `k3s` binary (`k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/<sha>`)
///   runs the components, and its supervisor's controllers act as
///   `system:k3s-controller` and `system:k3s-supervisor` (k3s ADR "Use a
///   dedicated user for K3s core controllers"); the cloud controller is
///   `k3s-cloud-controller-manager`. Its add-ons: CoreDNS, local-path
///   provisioner, metrics-server, Traefik.
/// - rke2: the upstream binaries as static pods (the upstream rows), and the
///   supervisor as `system:rke2-controller` / `system:rke2-supervisor` with
///   `rke2/...`.
/// - openshift: the OpenShift controller-manager's controllers, service
///   accounts in `openshift-infra`, with `openshift-controller-manager/...`
///   (and the other `openshift-*` binaries).
/// - eks: `eks:certificate-controller` with `eks-certificates-controller/v0.0.0
///   (linux/amd64) kubernetes/$Format` (seen in EKS audit logs).
pub const COMPONENTS: &[Component] = &[
    // ---- upstream ----
    row(
        "upstream",
        "kube-apiserver",
        Role::Apiserver,
        &["system:apiserver"],
        &["kube-apiserver/*"],
        LOOPBACK,
    ),
    row(
        "upstream",
        "kube-controller-manager",
        Role::ControllerManager,
        &["system:kube-controller-manager"],
        &["kube-controller-manager/*"],
        ANY,
    ),
    row(
        "upstream",
        "kube-controller-manager controllers",
        Role::Controllers,
        KUBE_SYSTEM_SA,
        &["kube-controller-manager/*"],
        ANY,
    ),
    row(
        "upstream",
        "cloud-controller-manager",
        Role::ControllerManager,
        &[
            "system:cloud-controller-manager",
            "system:serviceaccount:kube-system:cloud-controller-manager",
        ],
        &["cloud-controller-manager/*"],
        ANY,
    ),
    row(
        "upstream",
        "kube-scheduler",
        Role::Scheduler,
        &["system:kube-scheduler"],
        &["kube-scheduler/*"],
        ANY,
    ),
    row(
        "upstream",
        "kubelet",
        Role::Kubelet,
        &["system:node:*"],
        &["kubelet/*"],
        ANY,
    ),
    row(
        "upstream",
        "kube-proxy",
        Role::KubeProxy,
        &[
            "system:kube-proxy",
            "system:serviceaccount:kube-system:kube-proxy",
        ],
        &["kube-proxy/*"],
        ANY,
    ),
    row(
        "upstream",
        "coredns",
        Role::Dns,
        &["system:serviceaccount:kube-system:coredns"],
        &["coredns/*"],
        ANY,
    ),
    // kind's CNI (agent derived from its binary, kindnetd).
    row(
        "upstream",
        "kindnet",
        Role::Addon,
        &["system:serviceaccount:kube-system:kindnet"],
        &["kindnetd/*"],
        ANY,
    ),
    // ---- MicroK8s ----
    row(
        "microk8s",
        "kubelite apiserver",
        Role::Apiserver,
        &["system:apiserver"],
        &["kubelite/*"],
        LOOPBACK,
    ),
    row(
        "microk8s",
        "kubelite controller-manager",
        Role::ControllerManager,
        &["system:kube-controller-manager"],
        &["kubelite/*"],
        ANY,
    ),
    row(
        "microk8s",
        "kubelite controllers",
        Role::Controllers,
        KUBE_SYSTEM_SA,
        &["kubelite/*"],
        ANY,
    ),
    row(
        "microk8s",
        "kubelite scheduler",
        Role::Scheduler,
        &["system:kube-scheduler"],
        &["kubelite/*"],
        ANY,
    ),
    row(
        "microk8s",
        "kubelite kubelet",
        Role::Kubelet,
        &["system:node:*"],
        &["kubelite/*"],
        ANY,
    ),
    row(
        "microk8s",
        "kubelite kube-proxy",
        Role::KubeProxy,
        &["system:kube-proxy"],
        &["kubelite/*"],
        ANY,
    ),
    // Calico's node agent, CNI plugin and controllers (agents derived from
    // their binaries: calico-node, calico, kube-controllers).
    row(
        "microk8s",
        "calico",
        Role::Addon,
        &[
            "system:serviceaccount:kube-system:calico-node",
            "system:serviceaccount:kube-system:calico-cni-plugin",
            "system:serviceaccount:kube-system:calico-kube-controllers",
        ],
        &["calico-node/*", "calico/*", "kube-controllers/*"],
        ANY,
    ),
    row(
        "microk8s",
        "hostpath-provisioner",
        Role::Addon,
        &["system:serviceaccount:kube-system:microk8s-hostpath"],
        &["hostpath-provisioner/*"],
        ANY,
    ),
    // ---- k3s ----
    row(
        "k3s",
        "k3s apiserver",
        Role::Apiserver,
        &["system:apiserver"],
        &["k3s/*"],
        LOOPBACK,
    ),
    row(
        "k3s",
        "k3s controller-manager",
        Role::ControllerManager,
        &[
            "system:kube-controller-manager",
            "k3s-cloud-controller-manager",
        ],
        &["k3s/*"],
        ANY,
    ),
    row(
        "k3s",
        "k3s controllers",
        Role::Controllers,
        &[
            "system:serviceaccount:kube-system:*",
            users::K3S_CONTROLLER,
            users::K3S_SUPERVISOR,
        ],
        &["k3s/*"],
        ANY,
    ),
    row(
        "k3s",
        "k3s scheduler",
        Role::Scheduler,
        &["system:kube-scheduler"],
        &["k3s/*"],
        ANY,
    ),
    row(
        "k3s",
        "k3s kubelet",
        Role::Kubelet,
        &["system:node:*"],
        &["k3s/*"],
        ANY,
    ),
    row(
        "k3s",
        "k3s kube-proxy",
        Role::KubeProxy,
        &["system:kube-proxy"],
        &["k3s/*"],
        ANY,
    ),
    row(
        "k3s",
        "k3s add-ons",
        Role::Addon,
        &[
            "system:serviceaccount:kube-system:local-path-provisioner-service-account",
            "system:serviceaccount:kube-system:metrics-server",
            "system:serviceaccount:kube-system:traefik",
        ],
        &["local-path-provisioner/*", "metrics-server/*", "traefik/*"],
        ANY,
    ),
    // ---- RKE2 (the upstream binaries run as static pods) ----
    row(
        "rke2",
        "rke2 supervisor",
        Role::Controllers,
        &[users::RKE2_CONTROLLER, users::RKE2_SUPERVISOR],
        &["rke2/*"],
        ANY,
    ),
    // ---- OpenShift ----
    row(
        "openshift",
        "openshift-controller-manager",
        Role::Controllers,
        &[
            "system:serviceaccount:openshift-infra:*",
            "system:serviceaccount:openshift-controller-manager:*",
        ],
        &["openshift-controller-manager/*", "openshift-*"],
        ANY,
    ),
    // ---- EKS ----
    row(
        "eks",
        "eks-certificates-controller",
        Role::Controllers,
        &["eks:certificate-controller"],
        &["eks-certificates-controller/*"],
        ANY,
    ),
];

/// One compiled row (its users are in the table's `UserIndex`).
#[derive(Debug, Clone)]
struct Row {
    component: String,
    agents: Patterns,
    sources: Vec<String>,
}

impl Row {
    fn of(c: &Component) -> Row {
        Row {
            component: format!("{} {}", c.distribution, c.name),
            agents: Patterns::new(c.agents),
            sources: c.sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn source_ok(&self, ip: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|s| s == ip)
    }
}

/// [`Verdict`] by row, before the owners are named.
enum Judged {
    NotControlPlane,
    Expected(usize),
    Unexpected,
}

/// What the table says of a request's identity, agent and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'t> {
    /// The identity is no control-plane component's.
    NotControlPlane,
    /// The component at work: the identity, its agent (and its source)
    /// agree. Names the component.
    Expected(&'t str),
    /// A control-plane identity from a client the component does not use
    /// (or from elsewhere). Names the components the identity belongs to.
    Unexpected(String),
}

/// The table, compiled for the distributions in use, with the operator's
/// rows.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    rows: Vec<Row>,
    users: UserIndex,
}

impl Default for ControlPlane {
    fn default() -> Self {
        ControlPlane::builtin()
    }
}

impl ControlPlane {
    /// Every distribution's rows.
    pub fn builtin() -> Self {
        ControlPlane::for_distributions(DISTRIBUTIONS)
    }

    /// The rows of these distributions only.
    pub fn for_distributions<S: AsRef<str>>(distributions: &[S]) -> Self {
        let rows = COMPONENTS
            .iter()
            .filter(|c| distributions.iter().any(|d| d.as_ref() == c.distribution))
            .map(Row::of)
            .collect();
        let mut table = ControlPlane {
            rows,
            users: UserIndex::default(),
        };
        for (i, c) in COMPONENTS
            .iter()
            .filter(|c| distributions.iter().any(|d| d.as_ref() == c.distribution))
            .enumerate()
        {
            table.users.add(i, c.users);
        }
        table
    }

    /// The pack's `control_plane_distributions` and `control_plane_agents`
    /// settings (see the module's documentation). A malformed row is
    /// logged and skipped.
    pub fn from_config(config: &Config) -> Self {
        let distributions = config.list("control_plane_distributions", DISTRIBUTIONS);
        for d in &distributions {
            if !DISTRIBUTIONS.contains(&d.as_str()) {
                crate::log::warn(&format!(
                    "control_plane_distributions: unknown distribution {d:?} (known: {})",
                    DISTRIBUTIONS.join(", ")
                ));
            }
        }
        let mut table = ControlPlane::for_distributions(&distributions);
        for entry in config.list("control_plane_agents", &[]) {
            if let Err(e) = table.add_entry(&entry) {
                crate::log::warn(&format!("control_plane_agents: {e}"));
            }
        }
        table
    }

    /// Add an operator row, written `user=agent` or `user=agent@source|source`.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), String> {
        let (user, rest) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?} is not `user=agent`"))?;
        let (agent, sources) = match rest.rsplit_once('@') {
            Some((agent, sources)) => (agent, sources.split('|').collect::<Vec<_>>()),
            None => (rest, Vec::new()),
        };
        let (user, agent) = (user.trim(), agent.trim());
        if user.is_empty() || agent.is_empty() {
            return Err(format!("{entry:?}: the user and the agent are required"));
        }
        self.add(user, agent, &sources);
        Ok(())
    }

    /// Add a row: `user` (a pattern) is a control-plane identity whose
    /// expected agent is `agent` (a pattern), from `sources` (any if empty).
    pub fn add<S: AsRef<str>>(&mut self, user: &str, agent: &str, sources: &[S]) {
        self.users.add(self.rows.len(), &[user]);
        self.rows.push(Row {
            component: format!("operator {user}"),
            agents: Patterns::new(&[agent]),
            sources: sources
                .iter()
                .map(|s| s.as_ref().trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        });
    }

    /// True when `user` belongs to some component of the table.
    pub fn is_control_plane(&self, user: &str) -> bool {
        self.users.rows(user).next().is_some()
    }

    /// Who `user` sending `agent` from `source_ip` is.
    pub fn verdict(&self, user: &str, agent: &str, source_ip: &str) -> Verdict<'_> {
        match self.judge(user, agent, source_ip) {
            Judged::NotControlPlane => Verdict::NotControlPlane,
            Judged::Expected(row) => Verdict::Expected(&self.rows[row].component),
            Judged::Unexpected => Verdict::Unexpected(
                self.rows_of(user)
                    .map(|row| row.component.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// The verdict without naming the owners of an unexpected request: the
    /// ignore-list asks this of every event and needs no names.
    fn judge(&self, user: &str, agent: &str, source_ip: &str) -> Judged {
        let mut named = false;
        for i in self.users.rows(user) {
            let row = &self.rows[i];
            if row.agents.matches(agent) && row.source_ok(source_ip) {
                return Judged::Expected(i);
            }
            named = true;
        }
        match named {
            true => Judged::Unexpected,
            false => Judged::NotControlPlane,
        }
    }

    fn rows_of<'t>(&'t self, user: &'t str) -> impl Iterator<Item = &'t Row> {
        self.users.rows(user).map(|i| &self.rows[i])
    }

    /// [`verdict`](Self::verdict) of an audit event's user, agent and first
    /// source IP.
    pub fn verdict_of(&self, e: &Event) -> Verdict<'_> {
        self.verdict(e.username(), &e.user_agent, e.source_ip())
    }

    /// True when the event is a control-plane component at work.
    pub fn is_expected(&self, e: &Event) -> bool {
        matches!(self.verdict_of(e), Verdict::Expected(_))
    }

    /// The built-in rows of `role`, every distribution's, for the host's
    /// chatter rules (which add the operator's own `[[control-plane]]` rows).
    pub fn identities(role: Role) -> impl Iterator<Item = &'static Component> {
        COMPONENTS.iter().filter(move |c| c.role == role)
    }

    /// Every user pattern of the built-in table: the default of the packs'
    /// `ignore_users`.
    pub fn users() -> Vec<&'static str> {
        let mut users: Vec<&'static str> = Vec::new();
        for c in COMPONENTS {
            for u in c.users {
                if !users.contains(u) {
                    users.push(u);
                }
            }
        }
        users
    }
}

/// The packs' `ignore_users`: identities no rule looks at, each only while
/// it is what it claims to be. A name on the list that belongs to the
/// control plane is ignored only when its agent (and source) are its
/// component's; a name the table does not know (`ci-bot`) is ignored by
/// name. The default list is every identity of the table.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    users: Patterns,
    control_plane: ControlPlane,
}

impl IgnoreList {
    /// `ignore_users` (default: the table's identities), with the table of
    /// [`ControlPlane::from_config`].
    pub fn from_config(config: &Config) -> Self {
        IgnoreList::from_config_with(config, &[])
    }

    /// As [`from_config`](Self::from_config), the default list holding
    /// `extra` identities too (ignored by name: the table does not know them).
    pub fn from_config_with(config: &Config, extra: &[&str]) -> Self {
        let mut defaults = ControlPlane::users();
        defaults.extend_from_slice(extra);
        IgnoreList::new(
            config.patterns("ignore_users", &defaults),
            ControlPlane::from_config(config),
        )
    }

    pub fn new(users: Patterns, control_plane: ControlPlane) -> Self {
        IgnoreList {
            users,
            control_plane,
        }
    }

    /// The table this list checks identities against.
    pub fn control_plane(&self) -> &ControlPlane {
        &self.control_plane
    }

    /// True when the event's identity is on the list and, if it is a
    /// control-plane identity, its agent and source are its component's.
    pub fn ignores(&self, e: &Event) -> bool {
        self.ignores_request(e.username(), &e.user_agent, e.source_ip())
    }

    /// [`ignores`](Self::ignores) on the parts of a request.
    pub fn ignores_request(&self, user: &str, agent: &str, source_ip: &str) -> bool {
        if !self.users.matches(user) {
            return false;
        }
        !matches!(
            self.control_plane.judge(user, agent, source_ip),
            Judged::Unexpected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KCM: &str = "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount:kube-system:replicaset-controller";
    const KUBELITE: &str = "kubelite/v1.25.6 (linux/amd64) kubernetes/1a2b3c4/system:serviceaccount:kube-system:replicaset-controller";
    const K3S: &str = "k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6";
    const KUBECTL: &str = "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f";
    const RS: &str = "system:serviceaccount:kube-system:replicaset-controller";

    #[test]
    fn a_component_is_its_identity_and_its_agent() {
        let t = ControlPlane::builtin();
        for agent in [KCM, KUBELITE, K3S] {
            assert!(
                matches!(t.verdict(RS, agent, "10.0.0.1"), Verdict::Expected(_)),
                "{agent}"
            );
        }
        for agent in [KUBECTL, "curl/8.5.0", "python-requests/2.31.0", ""] {
            assert!(
                matches!(t.verdict(RS, agent, "10.0.0.1"), Verdict::Unexpected(_)),
                "{agent}"
            );
        }
        assert_eq!(
            t.verdict("alice", KUBECTL, "10.0.0.1"),
            Verdict::NotControlPlane
        );
        assert!(matches!(
            t.verdict(
                "system:node:w1",
                "kubelite/v1.25.6 (linux/amd64) kubernetes/1a2b3c4",
                "10.0.0.2"
            ),
            Verdict::Expected(_)
        ));
        assert!(matches!(
            t.verdict("system:node:w1", KUBECTL, "10.0.0.2"),
            Verdict::Unexpected(_)
        ));
        assert!(matches!(
            t.verdict("system:k3s-controller", K3S, "10.0.0.2"),
            Verdict::Expected(_)
        ));
        assert!(matches!(
            t.verdict(
                "eks:certificate-controller",
                "eks-certificates-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
                "10.0.113.236"
            ),
            Verdict::Expected(_)
        ));
    }

    #[test]
    fn the_apiserver_talks_to_itself_over_loopback() {
        let t = ControlPlane::builtin();
        let agent = "kube-apiserver/v1.29.2 (linux/amd64) kubernetes/4b8e819";
        assert!(matches!(
            t.verdict("system:apiserver", agent, "::1"),
            Verdict::Expected(_)
        ));
        assert!(matches!(
            t.verdict("system:apiserver", agent, "203.0.113.9"),
            Verdict::Unexpected(_)
        ));
    }

    #[test]
    fn distributions_narrow_and_operators_extend_the_table() {
        let upstream = ControlPlane::for_distributions(&["upstream"]);
        assert!(matches!(
            upstream.verdict(RS, KUBELITE, "10.0.0.1"),
            Verdict::Unexpected(_)
        ));
        let mut t = ControlPlane::for_distributions(&["upstream"]);
        assert_eq!(
            t.verdict("system:serviceaccount:argocd:argocd-server", "argocd/1", ""),
            Verdict::NotControlPlane
        );
        t.add_entry("system:serviceaccount:argocd:*=argocd-*")
            .unwrap();
        t.add_entry("ci-bot=ci/*@10.1.0.5|10.1.0.6").unwrap();
        assert!(t.add_entry("no-agent").is_err());
        assert!(t.add_entry("=x").is_err());
        assert!(matches!(
            t.verdict(
                "system:serviceaccount:argocd:argocd-server",
                "argocd-server/v2.9",
                ""
            ),
            Verdict::Expected(_)
        ));
        assert!(matches!(
            t.verdict("system:serviceaccount:argocd:argocd-server", KUBECTL, ""),
            Verdict::Unexpected(_)
        ));
        assert!(matches!(
            t.verdict("ci-bot", "ci/1", "10.1.0.6"),
            Verdict::Expected(_)
        ));
        assert!(matches!(
            t.verdict("ci-bot", "ci/1", "10.9.9.9"),
            Verdict::Unexpected(_)
        ));
    }

    #[test]
    fn ignore_users_holds_only_for_the_component_itself() {
        let ignore = IgnoreList::new(
            Patterns::new(&ControlPlane::users()),
            ControlPlane::builtin(),
        );
        assert!(ignore.ignores_request(RS, KCM, "172.18.0.2"));
        assert!(!ignore.ignores_request(RS, KUBECTL, "172.18.0.2"));
        assert!(!ignore.ignores_request("alice", KUBECTL, "172.18.0.2"));
        // A name the table does not know is ignored by name.
        let ci = IgnoreList::new(Patterns::new(&["ci-bot"]), ControlPlane::builtin());
        assert!(ci.ignores_request("ci-bot", "anything", ""));
        // Cleared: nothing is ignored.
        let none = IgnoreList::new(Patterns::new::<&str>(&[]), ControlPlane::builtin());
        assert!(!none.ignores_request(RS, KCM, "172.18.0.2"));
    }

    #[test]
    fn every_row_is_well_formed() {
        for c in COMPONENTS {
            assert!(DISTRIBUTIONS.contains(&c.distribution), "{}", c.name);
            assert!(!c.users.is_empty() && !c.agents.is_empty(), "{}", c.name);
            for a in c.agents {
                // Agents are matched on their product token.
                assert!(a.ends_with('*') && !a.starts_with('*'), "{a}");
            }
        }
    }
}
