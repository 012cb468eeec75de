//! Non-resource requests: API discovery, version and health checks.

use super::*;

pub(super) const RULES: &[Builtin] = &[
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
];
