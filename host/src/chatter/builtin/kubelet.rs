//! Kubelets' routine (their node, the pods they run, tokens, events) and
//! the components' delegated authentication of their own endpoints.

use super::*;

pub(super) const RULES: &[Builtin] = &[
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
];
