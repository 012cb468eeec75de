//! The built-in reduction rules: what each control-plane component does
//! all day, by role; the identities of each role come from rule-sdk's
//! control-plane table.

use super::*;

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
