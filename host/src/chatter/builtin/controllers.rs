//! The controllers' steady state: status, endpoints, the root CA, the
//! node TTL.

use super::*;
use rule_sdk::control_plane::users;

pub(super) const RULES: &[Builtin] = &[
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
        who: &[Who::UsersOf(Role::Controllers, users::ENDPOINT_CONTROLLERS)],
        verbs: &["create", "update", "patch", "delete"],
        resources: &["endpoints", "endpointslices"],
        namespaces: NONE,
        names: NONE,
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "controller-root-ca",
        who: &[Who::UsersOf(Role::Controllers, &[users::ROOT_CA_PUBLISHER])],
        verbs: &["get", "create", "update"],
        resources: &["configmaps"],
        namespaces: NONE,
        names: &["kube-root-ca.crt"],
        paths: NONE,
        query: NONE,
    },
    Builtin {
        name: "controller-node-ttl",
        who: &[Who::UsersOf(Role::Controllers, &[users::TTL_CONTROLLER])],
        verbs: &["patch"],
        resources: &["nodes"],
        namespaces: &[""],
        names: NONE,
        paths: NONE,
        query: NONE,
    },
];
