//! The pack's rules: what each one means, its severity, ATT&CK tags and
//! the audit events it can match.

use rule_sdk::{Interest, Needs, Rule, Severity};

/// Workload kinds whose pod templates run containers.
const WORKLOADS: &[&str] = &[
    "deployments",
    "daemonsets",
    "statefulsets",
    "replicasets",
    "jobs",
    "cronjobs",
];

pub const ADMISSION_WEBHOOK_CHANGED: Rule = Rule {
    id: "k8scop-sigma-elastic/admission-webhook-changed",
    title: "Admission webhook created, changed or deleted",
    description: "A mutating or validating webhook configuration was created, changed or deleted. A webhook sees (and a mutating one rewrites) every matching API request: an attacker uses one to inject containers into every new pod, to copy pod specs and secrets out, or to block security tooling.",
    severity: Severity::Medium,
    tags: &[
        "attack.persistence",
        "attack.t1546",
        "attack.defense-evasion",
        "attack.t1562",
    ],
    interest: Interest::audit(
        &["create", "update", "patch", "delete", "deletecollection"],
        &[
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
        ],
    ),
    needs: Needs::METADATA,
};

pub const CSR_CREATED: Rule = Rule {
    id: "k8scop-sigma-elastic/csr-created",
    title: "Certificate signing request created",
    description: "A user created a CertificateSigningRequest. Once approved and signed, a client certificate authenticates as its subject until it expires, surviving token revocation and RBAC clean-up: a durable backdoor.",
    severity: Severity::Medium,
    tags: &[
        "attack.persistence",
        "attack.t1098",
        "attack.credential-access",
        "attack.t1649",
    ],
    interest: Interest::audit(&["create"], &["certificatesigningrequests"]),
    needs: Needs::METADATA,
};

pub const CSR_APPROVED: Rule = Rule {
    id: "k8scop-sigma-elastic/csr-approved",
    title: "Certificate signing request approved",
    description: "A user (not the controller that approves node certificates) approved a CertificateSigningRequest, so a client certificate for its subject will be issued. Creating and approving one's own CSR is how an attacker mints a long-lived credential.",
    severity: Severity::High,
    tags: &[
        "attack.persistence",
        "attack.t1098",
        "attack.credential-access",
        "attack.t1649",
    ],
    interest: Interest::audit(
        &["update", "patch"],
        &["certificatesigningrequests/approval"],
    ),
    needs: Needs::METADATA,
};

pub const CSR_PRIVILEGED_IDENTITY: Rule = Rule {
    id: "k8scop-sigma-elastic/csr-privileged-identity",
    title: "Certificate requested or approved for a privileged identity",
    description: "A CertificateSigningRequest whose subject is a privileged identity (organization system:masters, or a control-plane user such as system:kube-controller-manager) was created or approved. Its certificate would be a cluster-admin credential that RBAC cannot revoke.",
    severity: Severity::Critical,
    tags: &[
        "attack.privilege-escalation",
        "attack.persistence",
        "attack.t1098",
        "attack.credential-access",
        "attack.t1649",
    ],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &[
            "certificatesigningrequests",
            "certificatesigningrequests/approval",
        ],
    ),
    needs: Needs::REQUEST,
};

pub const PRIVILEGED_IMPERSONATION: Rule = Rule {
    id: "k8scop-sigma-elastic/privileged-impersonation",
    title: "Request impersonating a privileged identity",
    description: "A user made an allowed API request while impersonating a privileged identity: a control-plane user, a node, a kube-system service account, or a member of system:masters. Impersonation rights are as good as that identity's rights.",
    severity: Severity::High,
    tags: &[
        "attack.privilege-escalation",
        "attack.defense-evasion",
        "attack.t1134",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const NODE_PROXY: Rule = Rule {
    id: "k8scop-sigma-elastic/node-proxy",
    title: "Request proxied to a kubelet",
    description: "A user went through the API server's nodes/proxy to a node's kubelet API: it lists every pod spec on the node (with environment secrets), reads logs and configuration, and can run commands in any container there, bypassing the audit trail of pods/exec.",
    severity: Severity::Medium,
    tags: &[
        "attack.lateral-movement",
        "attack.t1550.001",
        "attack.discovery",
        "attack.t1613",
        "attack.execution",
        "attack.t1609",
    ],
    interest: Interest::audit(&[], &["nodes/proxy"]),
    needs: Needs::METADATA,
};

pub const EXCESSIVE_CAPABILITIES: Rule = Rule {
    id: "k8scop-sigma-elastic/excessive-capabilities",
    title: "Container with dangerous Linux capabilities",
    description: "A pod or workload was deployed with a container (regular, init or ephemeral) that adds Linux capabilities used in container escapes (SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN, BPF, ...).",
    severity: Severity::Medium,
    tags: &[
        "attack.privilege-escalation",
        "attack.t1611",
        "attack.execution",
        "attack.t1610",
    ],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &[
            "pods",
            "pods/ephemeralcontainers",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "jobs",
            "cronjobs",
        ],
    ),
    needs: Needs::REQUEST,
};

pub const EVENTS_DELETED: Rule = Rule {
    id: "k8scop-sigma-elastic/events-deleted",
    title: "Kubernetes events deleted",
    description: "A user deleted Kubernetes events, which record what happened to pods and nodes: a way to hide an attack's traces.",
    severity: Severity::Medium,
    tags: &["attack.defense-evasion", "attack.t1070"],
    interest: Interest::audit(&["delete", "deletecollection"], &["events"]),
    needs: Needs::METADATA,
};

pub const CRONJOB_CHANGED: Rule = Rule {
    id: "k8scop-sigma-elastic/cronjob-changed",
    title: "CronJob created or changed, or Job created",
    description: "A user created or changed a CronJob, or created a Job. A CronJob runs its containers again on every schedule tick, so malicious code outlives pod deletion: persistence.",
    severity: Severity::Medium,
    tags: &["attack.persistence", "attack.execution", "attack.t1053.007"],
    interest: Interest::audit(&["create", "update", "patch"], &["cronjobs", "jobs"]),
    needs: Needs::METADATA,
};

pub const SIDECAR_INJECTED: Rule = Rule {
    id: "k8scop-sigma-elastic/sidecar-injected",
    title: "Container added to an existing workload",
    description: "A patch or an update added a container to an existing Deployment, DaemonSet, StatefulSet or ReplicaSet. An injected sidecar runs with the workload's service account, volumes and network, hidden among legitimate pods.",
    severity: Severity::Medium,
    tags: &[
        "attack.execution",
        "attack.t1609",
        "attack.persistence",
        "attack.defense-evasion",
    ],
    interest: Interest::audit(
        &["create", "update", "patch", "delete"],
        &["deployments", "daemonsets", "statefulsets", "replicasets"],
    ),
    needs: Needs::REQUEST,
};

pub const RBAC_PERMISSIONS_ENUMERATED: Rule = Rule {
    id: "k8scop-sigma-elastic/rbac-permissions-enumerated",
    title: "Own RBAC permissions enumerated",
    description: "An identity listed its own permissions (kubectl auth can-i --list, a SelfSubjectRulesReview), or a service account or node checked one (a SelfSubjectAccessReview): what an attacker does first with stolen credentials.",
    severity: Severity::Low,
    tags: &[
        "attack.discovery",
        "attack.t1069.003",
        "attack.t1087.004",
        "attack.t1613",
    ],
    interest: Interest::audit(
        &["create"],
        &["selfsubjectrulesreviews", "selfsubjectaccessreviews"],
    ),
    needs: Needs::METADATA,
};

pub const SECRETS_ENUMERATED: Rule = Rule {
    id: "k8scop-sigma-elastic/secrets-enumerated",
    title: "Secrets enumerated",
    description: "A user listed or watched secrets, which returns their values: credential harvesting. Cluster-wide or in a system namespace it is high.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["list", "watch"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const REQUEST_FORBIDDEN: Rule = Rule {
    id: "k8scop-sigma-elastic/request-forbidden",
    title: "API request forbidden",
    description: "The API server refused a request for lack of authorization (403): someone probing what stolen credentials allow, or a broken RBAC setup. From a service account, whose behaviour is predictable, it is medium.",
    severity: Severity::Low,
    tags: &["attack.discovery", "attack.t1613", "attack.t1078"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const REQUEST_UNAUTHENTICATED: Rule = Rule {
    id: "k8scop-sigma-elastic/request-unauthenticated",
    title: "API request with failed authentication",
    description: "The API server refused a request because its credentials did not authenticate (401): an expired or forged token or certificate, or guessing.",
    severity: Severity::Low,
    tags: &["attack.credential-access", "attack.t1110", "attack.t1078"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const SYSTEM_POD_MASQUERADE: Rule = Rule {
    id: "k8scop-sigma-elastic/system-pod-masquerade",
    title: "Pod in a system namespace posing as a system pod",
    description: "A user (not a controller) created a pod in kube-system named like a controller-made system pod (kube-proxy-x7k2p, coredns-...) or running under a controller's service account (*controller): a backdoor hiding among the cluster's own pods, or borrowing a controller's powerful rights.",
    severity: Severity::High,
    tags: &[
        "attack.defense-evasion",
        "attack.t1036.005",
        "attack.privilege-escalation",
        "attack.t1078.001",
    ],
    interest: Interest::audit(&["create"], &["pods"]),
    needs: Needs::REQUEST,
};

pub const SERVICEACCOUNT_TOKEN_CREATED: Rule = Rule {
    id: "k8scop-sigma-elastic/serviceaccount-token-created",
    title: "Token minted for another service account",
    description: "A user requested a token for a service account other than itself through the TokenRequest API (serviceaccounts/token). It leaves no trace on any file system and lets the caller act as that service account.",
    severity: Severity::Medium,
    tags: &[
        "attack.credential-access",
        "attack.t1528",
        "attack.t1552.007",
    ],
    interest: Interest::audit(&["create"], &["serviceaccounts/token"]),
    needs: Needs::METADATA,
};

pub const SUSPICIOUS_USER_AGENT: Rule = Rule {
    id: "k8scop-sigma-elastic/suspicious-user-agent",
    title: "API request from an attack tool or raw HTTP client",
    description: "A request reached the API server from an offensive tool (kube-hunter, peirates, trufflehog, rakkess, ...) or a raw HTTP client (curl, wget, python-requests): clients people and controllers do not normally use, but an attacker with a stolen token does.",
    severity: Severity::Medium,
    tags: &[
        "attack.discovery",
        "attack.t1613",
        "attack.execution",
        "attack.t1609",
    ],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub const LOGGING_TAMPERED: Rule = Rule {
    id: "k8scop-sigma-elastic/logging-tampered",
    title: "Logging or audit component deleted, scaled down or reconfigured",
    description: "A user deleted, scaled to zero or reconfigured a log shipper, an audit policy or a security agent (fluent-bit, filebeat, elastic-agent, falco, k8scop, ...): the attacker's next steps would go unseen.",
    severity: Severity::High,
    tags: &["attack.defense-evasion", "attack.t1562.001"],
    interest: Interest::audit(
        &["delete", "deletecollection", "update", "patch"],
        &[
            "daemonsets",
            "deployments",
            "statefulsets",
            "configmaps",
            "deployments/scale",
            "statefulsets/scale",
            "namespaces",
            "auditsinks",
        ],
    ),
    needs: Needs::METADATA,
};

pub const PRIVILEGE_ESCALATION_FLAGS: Rule = Rule {
    id: "k8scop-sigma-elastic/privilege-escalation-flags",
    title: "Container allowed to escalate privileges or run as root",
    description: "A pod or workload sets allowPrivilegeEscalation: true (setuid binaries regain root) or runAsUser: 0 on a container or the whole pod: steps from a container towards its node. Privileged containers are the Falco pack's.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &[
            "pods",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "jobs",
            "cronjobs",
        ],
    ),
    needs: Needs::REQUEST,
};

pub const HOSTPATH_VOLUME: Rule = Rule {
    id: "k8scop-sigma-elastic/hostpath-volume",
    title: "Pod with a hostPath volume",
    description: "A user deployed a pod or workload mounting a directory of the node (any hostPath). A writable hostPath lets a container plant files on the node and escape to it.",
    severity: Severity::Low,
    tags: &["attack.privilege-escalation", "attack.t1611"],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &[
            "pods",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "jobs",
            "cronjobs",
        ],
    ),
    needs: Needs::REQUEST,
};

pub const SUSPICIOUS_EXEC_COMMAND: Rule = Rule {
    id: "k8scop-sigma-elastic/suspicious-exec-command",
    title: "Attack command run in a pod",
    description: "A command run in a pod through the API (kubectl exec) opens a reverse shell, reads cloud instance metadata or credential files (service account token, /etc/shadow, kubeconfig, process environments), downloads from outside, scans the network or compiles code: hands-on-keyboard activity inside a workload.",
    severity: Severity::High,
    tags: &[
        "attack.execution",
        "attack.t1609",
        "attack.t1059",
        "attack.credential-access",
        "attack.t1552.005",
        "attack.t1105",
        "attack.defense-evasion",
        "attack.t1027.004",
    ],
    interest: Interest::audit(&["create", "get"], &["pods/exec"]),
    needs: Needs::METADATA.while_open(),
};

pub const CRITICAL_CONFIGMAP_CHANGED: Rule = Rule {
    id: "k8scop-sigma-elastic/critical-configmap-changed",
    title: "Security-critical ConfigMap changed",
    description: "A user changed or deleted a ConfigMap that controls access or name resolution: aws-auth (IAM to RBAC mapping on EKS), CoreDNS's Corefile, kube-proxy's or kubeadm's configuration, Argo CD's RBAC. One edit grants a foreign identity cluster-admin or redirects the cluster's DNS.",
    severity: Severity::High,
    tags: &[
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1098",
        "attack.impact",
        "attack.t1565.001",
    ],
    interest: Interest::audit(&["update", "patch", "delete"], &["configmaps"]),
    needs: Needs::METADATA,
};

/// Rights gained through RBAC (ATT&CK T1098.006, Additional Container
/// Cluster Roles).
const RBAC_ESCALATION_TAGS: &[&str] = &[
    "attack.privilege-escalation",
    "attack.persistence",
    "attack.t1098",
    "attack.t1098.006",
];

pub const BINDING_SUBJECTS_CHANGED: Rule = Rule {
    id: "k8scop-sigma-elastic/binding-subjects-changed",
    title: "Role binding changed",
    description: "A user updated or patched an existing RoleBinding or ClusterRoleBinding. Its role cannot change, so the change is to who holds it: adding oneself to an existing binding is a quieter escalation than creating one.",
    severity: Severity::Medium,
    tags: RBAC_ESCALATION_TAGS,
    interest: Interest::audit(
        &["update", "patch"],
        &["rolebindings", "clusterrolebindings"],
    ),
    needs: Needs::REQUEST,
};

pub const BINDING_TO_EVERYONE: Rule = Rule {
    id: "k8scop-sigma-elastic/binding-to-everyone",
    title: "Role bound to anonymous or to every authenticated user",
    description: "A RoleBinding or ClusterRoleBinding grants its role to system:anonymous, system:unauthenticated or system:authenticated: anyone who reaches the API server (or anyone with any credential) gets it. A classic backdoor.",
    severity: Severity::High,
    tags: &[
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1098.006",
        "attack.initial-access",
        "attack.t1078.001",
    ],
    interest: Interest::audit(
        &["create", "update", "patch"],
        &["rolebindings", "clusterrolebindings"],
    ),
    needs: Needs::REQUEST,
};

pub const SERVICE_ACCOUNT_RBAC_WRITE: Rule = Rule {
    id: "k8scop-sigma-elastic/service-account-rbac-write",
    title: "Service account changed RBAC",
    description: "A service account created, changed or deleted a Role, ClusterRole or binding. Workloads rarely manage permissions: a stolen token granting itself (or its owner) more is how a foothold in one pod becomes the cluster. The control plane's own controllers are spared; GitOps and operator accounts that manage RBAC by design go in `rbac_writer_service_accounts`.",
    severity: Severity::Medium,
    tags: RBAC_ESCALATION_TAGS,
    interest: Interest::audit(
        &["create", "update", "patch", "delete", "deletecollection"],
        &[
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings",
        ],
    ),
    needs: Needs::METADATA,
};

/// Every rule of the pack, in the order of the table in docs/rules.md.
pub const ALL: &[&Rule] = &[
    &ADMISSION_WEBHOOK_CHANGED,
    &CSR_CREATED,
    &CSR_APPROVED,
    &CSR_PRIVILEGED_IDENTITY,
    &PRIVILEGED_IMPERSONATION,
    &NODE_PROXY,
    &EXCESSIVE_CAPABILITIES,
    &EVENTS_DELETED,
    &CRONJOB_CHANGED,
    &SIDECAR_INJECTED,
    &RBAC_PERMISSIONS_ENUMERATED,
    &SECRETS_ENUMERATED,
    &REQUEST_FORBIDDEN,
    &REQUEST_UNAUTHENTICATED,
    &SYSTEM_POD_MASQUERADE,
    &SERVICEACCOUNT_TOKEN_CREATED,
    &SUSPICIOUS_USER_AGENT,
    &LOGGING_TAMPERED,
    &PRIVILEGE_ESCALATION_FLAGS,
    &HOSTPATH_VOLUME,
    &SUSPICIOUS_EXEC_COMMAND,
    &CRITICAL_CONFIGMAP_CHANGED,
    &BINDING_SUBJECTS_CHANGED,
    &SERVICE_ACCOUNT_RBAC_WRITE,
    &BINDING_TO_EVERYONE,
];

/// True for the workload kinds whose pod template runs containers.
pub fn is_workload(resource: &str) -> bool {
    WORKLOADS.contains(&resource)
}
