//! Leases and the API server's own objects: leader election, the API
//! servers' identity leases, and the reconcilers of the `kubernetes`
//! service and the system namespaces.

use super::*;

pub(super) const RULES: &[Builtin] = &[
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
];
