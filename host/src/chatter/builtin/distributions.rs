//! Distributions' supervisors (k3s, RKE2) and add-ons (storage
//! provisioners, Calico).

use super::*;
use rule_sdk::control_plane::users;

pub(super) const RULES: &[Builtin] = &[
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
            &[users::K3S_CONTROLLER, users::RKE2_CONTROLLER],
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
            &[users::K3S_SUPERVISOR, users::RKE2_SUPERVISOR],
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
