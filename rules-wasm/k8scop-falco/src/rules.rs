//! The pack's rules. Severities follow Falco's priorities (ERROR -> high,
//! WARNING -> medium, NOTICE -> low, INFO -> info).

use rule_sdk::{Interest, Needs, Rule, Severity};

/// Resources whose objects carry a pod template (or are pods).
pub(crate) const WORKLOADS: &[&str] = &[
    "deployments",
    "daemonsets",
    "statefulsets",
    "replicasets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
];

const POD_SPEC_RESOURCES: &[&str] = &[
    "pods",
    "pods/ephemeralcontainers",
    "deployments",
    "daemonsets",
    "statefulsets",
    "replicasets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
];
const POD_TEMPLATE_RESOURCES: &[&str] = &[
    "pods",
    "deployments",
    "daemonsets",
    "statefulsets",
    "replicasets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
];
const MODIFY: &[&str] = &["create", "update", "patch"];
const ROLES: &[&str] = &["roles", "clusterroles"];

pub const DISALLOWED_USER: Rule = Rule {
    id: "k8scop-falco/disallowed-user",
    title: "Kubernetes request by a user outside the allowed users",
    description: "A user that is not on the operator's list of allowed users made a request to the API server. In a cluster where every human and automation identity is known, an unknown name is a stolen or newly minted credential.",
    severity: Severity::Medium,
    tags: &["attack.initial-access", "attack.t1078"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const DISALLOWED_IMAGE_POD: Rule = Rule {
    id: "k8scop-falco/disallowed-image-pod",
    title: "Workload started with an image outside the allowed images",
    description: "A pod or workload was created (or a workload changed, or an ephemeral container added) with a container image that matches none of the allowed images or registries. Unvetted images are how malicious code reaches a cluster. Off until `allowed_images` is set.",
    severity: Severity::Medium,
    tags: &["attack.execution", "attack.t1610", "attack.t1204.003"],
    interest: Interest::audit(MODIFY, POD_SPEC_RESOURCES),
    needs: Needs::REQUEST,
};

pub const PRIVILEGED_POD: Rule = Rule {
    id: "k8scop-falco/privileged-pod",
    title: "Privileged container started",
    description: "A pod or workload was created or changed (or an ephemeral container added) with a privileged container, which has every capability and the host's devices: escaping to the node is one command away.",
    severity: Severity::Medium,
    tags: &[
        "attack.privilege-escalation",
        "attack.t1611",
        "attack.t1610",
    ],
    interest: Interest::audit(MODIFY, POD_SPEC_RESOURCES),
    needs: Needs::REQUEST,
};

pub const SENSITIVE_MOUNT_POD: Rule = Rule {
    id: "k8scop-falco/sensitive-mount-pod",
    title: "Pod mounting a sensitive host path",
    description: "A pod or workload mounts a sensitive directory of the node (/, /etc, /proc, the container runtime's socket, the kubelet's credentials, ...) or a directory holding one. Write access to those is control of the node.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(MODIFY, POD_TEMPLATE_RESOURCES),
    needs: Needs::REQUEST,
};

pub const HOST_NETWORK_POD: Rule = Rule {
    id: "k8scop-falco/host-network-pod",
    title: "Pod using the host network",
    description: "A pod or workload shares the node's network namespace (hostNetwork): it can sniff the node's traffic, reach services bound to localhost and bypass network policies.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(MODIFY, POD_TEMPLATE_RESOURCES),
    needs: Needs::REQUEST,
};

pub const HOST_PID_POD: Rule = Rule {
    id: "k8scop-falco/host-pid-pod",
    title: "Pod using the host PID namespace",
    description: "A pod or workload shares the node's process namespace (hostPID): it sees every process of the node and, with enough privilege, can enter them.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(MODIFY, POD_TEMPLATE_RESOURCES),
    needs: Needs::REQUEST,
};

pub const HOST_IPC_POD: Rule = Rule {
    id: "k8scop-falco/host-ipc-pod",
    title: "Pod using the host IPC namespace",
    description: "A pod or workload shares the node's IPC namespace (hostIPC): it can read and write the shared memory of the node's processes.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(MODIFY, POD_TEMPLATE_RESOURCES),
    needs: Needs::REQUEST,
};

pub const NODEPORT_SERVICE: Rule = Rule {
    id: "k8scop-falco/nodeport-service",
    title: "NodePort service created",
    description: "A service was created (or changed) with type NodePort, opening its port on every node of the cluster, around ingress controllers and load balancers.",
    severity: Severity::Medium,
    tags: &[
        "attack.initial-access",
        "attack.persistence",
        "attack.t1133",
    ],
    interest: Interest::audit(MODIFY, &["services"]),
    needs: Needs::REQUEST,
};

pub const CONFIGMAP_CREDENTIALS: Rule = Rule {
    id: "k8scop-falco/configmap-private-credentials",
    title: "ConfigMap holding likely credentials",
    description: "A ConfigMap was created or changed whose data names or holds a credential (AWS access keys, passwords, passphrases). ConfigMaps are readable by far more identities than Secrets and are not encrypted at rest.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552"],
    interest: Interest::audit(MODIFY, &["configmaps"]),
    needs: Needs::REQUEST,
};

pub const ANONYMOUS_REQUEST_ALLOWED: Rule = Rule {
    id: "k8scop-falco/anonymous-request-allowed",
    title: "Anonymous request allowed",
    description: "The API server authorized a request by system:anonymous (other than the health endpoints). Anything anonymous can do, anyone who reaches the API server can do.",
    severity: Severity::Medium,
    tags: &["attack.initial-access", "attack.t1078.001"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const POD_EXEC_ATTACH: Rule = Rule {
    id: "k8scop-falco/pod-exec-attach",
    title: "Exec or attach into a pod",
    description: "A user ran a command in a pod's container (kubectl exec) or attached to its process (kubectl attach): interactive access to a workload and its credentials.",
    severity: Severity::Low,
    tags: &["attack.execution", "attack.t1609"],
    interest: Interest::audit(&["create", "get"], &["pods/exec", "pods/attach"]),
    needs: Needs::METADATA.while_open(),
};

pub const POD_PORT_FORWARD: Rule = Rule {
    id: "k8scop-falco/pod-port-forward",
    title: "Port forwarded to a pod",
    description: "A user opened a tunnel to a pod's port through the API server (kubectl port-forward), reaching the pod around services and network policies.",
    severity: Severity::Low,
    tags: &["attack.command-and-control", "attack.t1572"],
    interest: Interest::audit(&["create", "get"], &["pods/portforward"]),
    needs: Needs::METADATA.while_open(),
};

pub const EPHEMERAL_CONTAINER_CREATED: Rule = Rule {
    id: "k8scop-falco/ephemeral-container-created",
    title: "Ephemeral container added to a pod",
    description: "A user added an ephemeral container to a running pod (kubectl debug): a new process with its own image inside the pod's namespaces, which no workload manifest shows.",
    severity: Severity::Low,
    tags: &["attack.execution", "attack.t1609", "attack.t1610"],
    interest: Interest::audit(&["update", "patch"], &["pods/ephemeralcontainers"]),
    needs: Needs::METADATA,
};

pub const DISALLOWED_NAMESPACE_CREATED: Rule = Rule {
    id: "k8scop-falco/disallowed-namespace-created",
    title: "Namespace created outside the allowed namespaces",
    description: "A namespace was created whose name is not on the operator's list of namespaces; workloads in an unexpected namespace escape the policies and the eyes set on the known ones.",
    severity: Severity::Medium,
    tags: &["attack.defense-evasion", "attack.t1564"],
    interest: Interest::audit(&["create"], &["namespaces"]),
    needs: Needs::METADATA,
};

pub const POD_IN_KUBE_NAMESPACE: Rule = Rule {
    id: "k8scop-falco/pod-created-in-kube-namespace",
    title: "Pod created in a control-plane namespace",
    description: "A user created a pod or workload in a control-plane namespace with images outside the known system images. Attackers hide there among the cluster's own pods and borrow their service accounts.",
    severity: Severity::Medium,
    tags: &["attack.defense-evasion", "attack.t1036.005", "attack.t1610"],
    interest: Interest::audit(&["create"], POD_TEMPLATE_RESOURCES),
    needs: Needs::METADATA,
};

pub const SERVICE_ACCOUNT_IN_KUBE_NAMESPACE: Rule = Rule {
    id: "k8scop-falco/service-account-created-in-kube-namespace",
    title: "Service account created in a control-plane namespace",
    description: "A user created a service account in a control-plane namespace under a name that is not one of the cluster's own controllers: a place to hide a credential and to bind it to powerful roles.",
    severity: Severity::Medium,
    tags: &["attack.persistence", "attack.t1136", "attack.t1036.005"],
    interest: Interest::audit(&["create"], &["serviceaccounts"]),
    needs: Needs::METADATA,
};

pub const SYSTEM_ROLE_MODIFIED: Rule = Rule {
    id: "k8scop-falco/system-role-modified",
    title: "System ClusterRole or Role modified or deleted",
    description: "A user created, changed or deleted a Role or ClusterRole named `system:*`. The control plane relies on those; changing them grants hidden privileges or breaks components.",
    severity: Severity::Medium,
    tags: &[
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1098",
    ],
    interest: Interest::audit(&["create", "update", "patch", "delete"], ROLES),
    needs: Needs::METADATA,
};

pub const CLUSTER_ADMIN_BINDING: Rule = Rule {
    id: "k8scop-falco/cluster-admin-binding",
    title: "Binding to cluster-admin created",
    description: "A user bound a subject to the cluster-admin ClusterRole (cluster-wide, or in a namespace): full control for that user, group or service account.",
    severity: Severity::Medium,
    tags: &[
        "attack.privilege-escalation",
        "attack.persistence",
        "attack.t1098",
    ],
    interest: Interest::audit(&["create"], &["clusterrolebindings", "rolebindings"]),
    needs: Needs::REQUEST,
};

pub const ROLE_WITH_WILDCARD: Rule = Rule {
    id: "k8scop-falco/role-with-wildcard",
    title: "Role or ClusterRole with wildcard created",
    description: "A Role or ClusterRole was created or changed with a rule granting every verb or every resource (`*`), including resources and verbs added in later releases.",
    severity: Severity::Medium,
    tags: &[
        "attack.privilege-escalation",
        "attack.persistence",
        "attack.t1098",
    ],
    interest: Interest::audit(MODIFY, ROLES),
    needs: Needs::REQUEST,
};

pub const ROLE_WITH_WRITE_PRIVILEGES: Rule = Rule {
    id: "k8scop-falco/role-with-write-privileges",
    title: "Role or ClusterRole with write privileges created",
    description: "A Role or ClusterRole was created or changed with a rule granting a verb that changes objects (create, update, patch, delete, deletecollection, or `*`).",
    severity: Severity::Low,
    tags: &[
        "attack.privilege-escalation",
        "attack.persistence",
        "attack.t1098",
    ],
    interest: Interest::audit(MODIFY, ROLES),
    needs: Needs::REQUEST,
};

pub const ROLE_WITH_POD_EXEC: Rule = Rule {
    id: "k8scop-falco/role-with-pod-exec",
    title: "Role or ClusterRole allowing exec into pods created",
    description: "A Role or ClusterRole was created or changed with a rule letting its subjects exec into pods: any verb on pods/exec, pods/attach or pods/portforward, directly or through wildcards (a WebSocket exec is a GET, and get alone grants it before Kubernetes 1.31): command execution in any matching container.",
    severity: Severity::Medium,
    tags: &[
        "attack.privilege-escalation",
        "attack.execution",
        "attack.t1098",
        "attack.t1609",
    ],
    interest: Interest::audit(MODIFY, ROLES),
    needs: Needs::REQUEST,
};

macro_rules! activity_rule {
    ($name:ident, $id:literal, $title:literal, $description:literal, $verb:literal, $resource:literal, [$($tag:literal),*]) => {
        pub const $name: Rule = Rule {
            id: $id,
            title: $title,
            description: $description,
            severity: Severity::Info,
            tags: &[$($tag),*],
            interest: Interest::audit(&[$verb], &[$resource]),
            needs: Needs::METADATA,
        };
    };
}

activity_rule!(
    DEPLOYMENT_CREATED,
    "k8scop-falco/deployment-created",
    "Deployment created",
    "A user created a Deployment (answered 2xx): new code running in the cluster.",
    "create",
    "deployments",
    ["attack.execution", "attack.t1610"]
);
activity_rule!(
    DEPLOYMENT_DELETED,
    "k8scop-falco/deployment-deleted",
    "Deployment deleted",
    "A user deleted a Deployment (answered 2xx), stopping what it ran.",
    "delete",
    "deployments",
    ["attack.impact", "attack.t1489"]
);
activity_rule!(
    SERVICE_CREATED,
    "k8scop-falco/service-created",
    "Service created",
    "A user created a Service (answered 2xx), exposing pods under a new name or port.",
    "create",
    "services",
    ["attack.persistence", "attack.t1133"]
);
activity_rule!(
    SERVICE_DELETED,
    "k8scop-falco/service-deleted",
    "Service deleted",
    "A user deleted a Service (answered 2xx), cutting the traffic to its pods.",
    "delete",
    "services",
    ["attack.impact", "attack.t1489"]
);
activity_rule!(
    CONFIGMAP_CREATED,
    "k8scop-falco/configmap-created",
    "ConfigMap created",
    "A user created a ConfigMap (answered 2xx), configuration that pods will read.",
    "create",
    "configmaps",
    ["attack.persistence", "attack.t1543"]
);
activity_rule!(
    CONFIGMAP_DELETED,
    "k8scop-falco/configmap-deleted",
    "ConfigMap deleted",
    "A user deleted a ConfigMap (answered 2xx).",
    "delete",
    "configmaps",
    ["attack.impact", "attack.t1485"]
);
activity_rule!(
    NAMESPACE_CREATED,
    "k8scop-falco/namespace-created",
    "Namespace created",
    "A user created a namespace (answered 2xx).",
    "create",
    "namespaces",
    ["attack.defense-evasion", "attack.t1564"]
);
activity_rule!(
    NAMESPACE_DELETED,
    "k8scop-falco/namespace-deleted",
    "Namespace deleted",
    "A user deleted a namespace (answered 2xx), and with it everything it held.",
    "delete",
    "namespaces",
    ["attack.impact", "attack.t1485"]
);
activity_rule!(
    SERVICE_ACCOUNT_CREATED,
    "k8scop-falco/serviceaccount-created",
    "Service account created",
    "A user created a service account (answered 2xx): a new identity that can be given roles and tokens.",
    "create",
    "serviceaccounts",
    ["attack.persistence", "attack.t1136"]
);
activity_rule!(
    SERVICE_ACCOUNT_DELETED,
    "k8scop-falco/serviceaccount-deleted",
    "Service account deleted",
    "A user deleted a service account (answered 2xx), and the access of whatever used it.",
    "delete",
    "serviceaccounts",
    ["attack.impact", "attack.t1531"]
);
activity_rule!(
    ROLE_CREATED,
    "k8scop-falco/role-created",
    "Role created",
    "A user created a Role (answered 2xx); its rules are in the alert at RequestResponse level.",
    "create",
    "roles",
    ["attack.persistence", "attack.t1098"]
);
activity_rule!(
    ROLE_DELETED,
    "k8scop-falco/role-deleted",
    "Role deleted",
    "A user deleted a Role (answered 2xx), removing the access it granted.",
    "delete",
    "roles",
    ["attack.impact", "attack.t1531"]
);
activity_rule!(
    CLUSTER_ROLE_CREATED,
    "k8scop-falco/clusterrole-created",
    "ClusterRole created",
    "A user created a ClusterRole (answered 2xx); its rules are in the alert at RequestResponse level.",
    "create",
    "clusterroles",
    ["attack.persistence", "attack.t1098"]
);
activity_rule!(
    CLUSTER_ROLE_DELETED,
    "k8scop-falco/clusterrole-deleted",
    "ClusterRole deleted",
    "A user deleted a ClusterRole (answered 2xx), removing the access it granted.",
    "delete",
    "clusterroles",
    ["attack.impact", "attack.t1531"]
);
activity_rule!(
    ROLE_BINDING_CREATED,
    "k8scop-falco/rolebinding-created",
    "RoleBinding created",
    "A user created a RoleBinding (answered 2xx), granting a role to subjects in a namespace.",
    "create",
    "rolebindings",
    [
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1098"
    ]
);
activity_rule!(
    ROLE_BINDING_DELETED,
    "k8scop-falco/rolebinding-deleted",
    "RoleBinding deleted",
    "A user deleted a RoleBinding (answered 2xx), taking a role away from its subjects.",
    "delete",
    "rolebindings",
    ["attack.impact", "attack.t1531"]
);
activity_rule!(
    CLUSTER_ROLE_BINDING_CREATED,
    "k8scop-falco/clusterrolebinding-created",
    "ClusterRoleBinding created",
    "A user created a ClusterRoleBinding (answered 2xx), granting a role to subjects across the cluster.",
    "create",
    "clusterrolebindings",
    [
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1098"
    ]
);
activity_rule!(
    CLUSTER_ROLE_BINDING_DELETED,
    "k8scop-falco/clusterrolebinding-deleted",
    "ClusterRoleBinding deleted",
    "A user deleted a ClusterRoleBinding (answered 2xx), taking a role away from its subjects.",
    "delete",
    "clusterrolebindings",
    ["attack.impact", "attack.t1531"]
);
activity_rule!(
    SECRET_CREATED,
    "k8scop-falco/secret-created",
    "Secret created",
    "A user created a Secret (answered 2xx); service-account token secrets and secrets in kube-system are left out.",
    "create",
    "secrets",
    ["attack.persistence", "attack.t1098.001"]
);
activity_rule!(
    SECRET_DELETED,
    "k8scop-falco/secret-deleted",
    "Secret deleted",
    "A user deleted a Secret (answered 2xx); secrets in kube-system are left out.",
    "delete",
    "secrets",
    ["attack.impact", "attack.t1485"]
);

pub const SECRET_GET: Rule = Rule {
    id: "k8scop-falco/secret-get",
    title: "Secret read",
    description: "A user read a Secret and the API server answered it (2xx): credential access.",
    severity: Severity::High,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["get"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const SECRET_GET_FAILED: Rule = Rule {
    id: "k8scop-falco/secret-get-failed",
    title: "Secret read refused",
    description: "A user tried to read a Secret and the API server refused or failed it (not 2xx): someone is probing for credentials they do not have.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["get"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const FULL_ADMIN_ACCESS: Rule = Rule {
    id: "k8scop-falco/full-admin-access",
    title: "Request by a default administrator account",
    description: "A request was made by one of the administrator accounts clusters are created with (kubernetes-admin, admin, minikube-user, ...). Those credentials should be kept in a safe, not used day to day; their use is worth a look.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1078"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const INGRESS_WITHOUT_TLS: Rule = Rule {
    id: "k8scop-falco/ingress-without-tls",
    title: "Ingress without TLS created",
    description: "A user created an Ingress with no `tls` section: its hosts are served over plain HTTP, where credentials and session cookies can be sniffed.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1040"],
    interest: Interest::audit(&["create"], &["ingresses"]),
    needs: Needs::REQUEST,
};

pub const UNTRUSTED_NODE_JOINED: Rule = Rule {
    id: "k8scop-falco/untrusted-node-joined",
    title: "Untrusted node joined the cluster",
    description: "A Node object was created (answered 2xx) whose name is not on the operator's list of nodes: a machine the operator does not know now runs pods and receives their secrets. Off until `allowed_nodes` is set.",
    severity: Severity::High,
    tags: &["attack.persistence", "attack.t1078"],
    interest: Interest::audit(&["create"], &["nodes"]),
    needs: Needs::METADATA,
};

pub const UNTRUSTED_NODE_JOIN_FAILED: Rule = Rule {
    id: "k8scop-falco/untrusted-node-join-failed",
    title: "Untrusted node tried to join the cluster",
    description: "A Node object outside the operator's list of nodes was refused or failed (not 2xx): someone tried to register a machine. Off until `allowed_nodes` is set.",
    severity: Severity::Medium,
    tags: &["attack.persistence", "attack.t1078"],
    interest: Interest::audit(&["create"], &["nodes"]),
    needs: Needs::METADATA,
};

/// Every rule of the pack, in the order [`crate::Falco`] declares them.
pub const ALL: &[&Rule] = &[
    &DISALLOWED_USER,
    &DISALLOWED_IMAGE_POD,
    &PRIVILEGED_POD,
    &SENSITIVE_MOUNT_POD,
    &HOST_NETWORK_POD,
    &HOST_PID_POD,
    &HOST_IPC_POD,
    &NODEPORT_SERVICE,
    &CONFIGMAP_CREDENTIALS,
    &ANONYMOUS_REQUEST_ALLOWED,
    &POD_EXEC_ATTACH,
    &POD_PORT_FORWARD,
    &EPHEMERAL_CONTAINER_CREATED,
    &DISALLOWED_NAMESPACE_CREATED,
    &POD_IN_KUBE_NAMESPACE,
    &SERVICE_ACCOUNT_IN_KUBE_NAMESPACE,
    &SYSTEM_ROLE_MODIFIED,
    &CLUSTER_ADMIN_BINDING,
    &ROLE_WITH_WILDCARD,
    &ROLE_WITH_WRITE_PRIVILEGES,
    &ROLE_WITH_POD_EXEC,
    &DEPLOYMENT_CREATED,
    &DEPLOYMENT_DELETED,
    &SERVICE_CREATED,
    &SERVICE_DELETED,
    &CONFIGMAP_CREATED,
    &CONFIGMAP_DELETED,
    &NAMESPACE_CREATED,
    &NAMESPACE_DELETED,
    &SERVICE_ACCOUNT_CREATED,
    &SERVICE_ACCOUNT_DELETED,
    &ROLE_CREATED,
    &ROLE_DELETED,
    &CLUSTER_ROLE_CREATED,
    &CLUSTER_ROLE_DELETED,
    &ROLE_BINDING_CREATED,
    &ROLE_BINDING_DELETED,
    &CLUSTER_ROLE_BINDING_CREATED,
    &CLUSTER_ROLE_BINDING_DELETED,
    &SECRET_CREATED,
    &SECRET_DELETED,
    &SECRET_GET,
    &SECRET_GET_FAILED,
    &FULL_ADMIN_ACCESS,
    &INGRESS_WITHOUT_TLS,
    &UNTRUSTED_NODE_JOINED,
    &UNTRUSTED_NODE_JOIN_FAILED,
];
