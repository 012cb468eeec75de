//! The detection logic of Sigma's Kubernetes audit rules
//! (`rules/application/kubernetes/audit/` in SigmaHQ/sigma) and of Elastic's
//! single-event Kubernetes rules (`rules/integrations/kubernetes/` in
//! elastic/detection-rules), as one k8scop rule pack, for what the
//! Falco-equivalent pack (`k8scop-falco`) does not already cover:
//! admission webhooks, certificate signing requests, impersonation,
//! kubelet proxying, capabilities (of every container kind), events
//! deletion, CronJobs, sidecar injection, permission and secret
//! enumeration, refused requests, pods posing as system pods, token
//! minting, attack-tool user agents, logging tampering, privilege
//! escalation flags, hostPath volumes, attack commands run in pods,
//! security-critical ConfigMaps, role bindings changed or granted to
//! everyone, and service accounts writing RBAC. Port-forwarding, ephemeral
//! containers, privileged pods and other pods in kube-system are the
//! Falco pack's (`pod-port-forward`, `ephemeral-container-created`,
//! `privileged-pod`, `pod-created-in-kube-namespace`).
//!
//! Those rules are queries over one field at a time; here each reads the
//! typed audit event, counts a request once at the stage that decided it
//! (the host folds its other stages), only when
//! the API server allowed it (and it was not a dry run), and skips what
//! needs a request body when the event was logged at Metadata level.
//! Control-plane identities are ignored, each only while it sends its
//! component's user agent (the table of [`rule_sdk::control_plane`]); the
//! pod-spec rules (capabilities, privilege escalation flags, hostPath) look
//! at every pod whoever creates it, and group on the workload (the owner
//! chain, [`rule_sdk::owner`]) so one rollout is one alert.
//!
//! Configuration (all optional; lists are comma-separated, `*` suffix for
//! a prefix):
//! - `ignore_users`: identities whose actions are the cluster working (the
//!   control plane's, and [`DEFAULT_IGNORED_USERS`]); not applied to the
//!   attack-tool user agents, privileged CSR subjects, failed
//!   authentication and the pod-spec rules.
//! - `control_plane_distributions`, `control_plane_agents`: the table of
//!   control-plane components and their agents.
//! - `privileged_users`, `privileged_groups`: impersonating these is
//!   privileged ([`DEFAULT_PRIVILEGED_USERS`], [`DEFAULT_PRIVILEGED_GROUPS`]).
//! - `csr_privileged_subjects`: CSR subject CNs or Os that make a
//!   certificate privileged ([`DEFAULT_CSR_PRIVILEGED_SUBJECTS`]).
//! - `dangerous_capabilities`: capabilities worth an alert
//!   ([`DEFAULT_DANGEROUS_CAPABILITIES`]; `ALL` always counts).
//! - `trusted_images`: images exempt from the capabilities, privilege
//!   escalation and hostPath rules ([`DEFAULT_TRUSTED_IMAGES`]: the stock
//!   control planes' kube-system pods).
//! - `suspicious_user_agents`: case-insensitive substrings of user agents
//!   ([`DEFAULT_SUSPICIOUS_USER_AGENTS`]).
//! - `node_proxy_ignore_paths`: kubelet paths (after `/proxy/`) monitoring
//!   reads through nodes/proxy ([`DEFAULT_NODE_PROXY_IGNORE_PATHS`]).
//! - `system_namespaces`: namespaces of the control plane (`kube-system`).
//! - `system_pod_prefixes`: names of system pods a backdoor imitates
//!   ([`DEFAULT_SYSTEM_POD_PREFIXES`]).
//! - `logging_components`: names of log shippers, audit policies and
//!   security agents ([`DEFAULT_LOGGING_COMPONENTS`]).
//! - `critical_configmaps`: ConfigMaps whose change grants access or
//!   redirects DNS ([`DEFAULT_CRITICAL_CONFIGMAPS`]).
//! - `rbac_review_ignore_users`: identities whose self-reviews are expected
//!   (default none: no control-plane component reviews its own rights).
//! - `rbac_writer_service_accounts`: service accounts that manage RBAC by
//!   design (GitOps, operators; default none).
//! - `max_tracked_workloads`: workloads whose containers are remembered
//!   for sidecar detection (50000).

mod access;
mod changes;
mod credentials;
mod csr;
mod exec_command;
mod pod_specs;
pub mod rules;
pub mod settings;
mod sidecar;
mod workloads;

use std::collections::VecDeque;

use rule_sdk::{Alerts, Config, Doc, Pack, PodSpec, Value, export_pack};

pub use rules::*;
use settings::Settings;
pub use settings::{
    DEFAULT_CRITICAL_CONFIGMAPS, DEFAULT_CSR_PRIVILEGED_SUBJECTS, DEFAULT_DANGEROUS_CAPABILITIES,
    DEFAULT_IGNORED_USERS, DEFAULT_LOGGING_COMPONENTS, DEFAULT_NODE_PROXY_IGNORE_PATHS,
    DEFAULT_PRIVILEGED_GROUPS, DEFAULT_PRIVILEGED_USERS, DEFAULT_SUSPICIOUS_USER_AGENTS,
    DEFAULT_SYSTEM_POD_PREFIXES, DEFAULT_TRUSTED_IMAGES,
};
use workloads::WorkloadContainers;

const PACK: &str = "k8scop-sigma-elastic";

pub struct SigmaElastic {
    settings: Settings,
    workloads: WorkloadContainers,
    recent_unauthenticated: VecDeque<String>,
}

impl Pack for SigmaElastic {
    const NAME: &'static str = PACK;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const RULES: &'static [&'static rule_sdk::Rule] = rules::ALL;

    fn new(config: &Config) -> Self {
        SigmaElastic {
            // First: `describe` lists the keys in the order they are read.
            settings: Settings::new(config),
            workloads: WorkloadContainers::new(config.u64("max_tracked_workloads", 50_000) as usize),
            recent_unauthenticated: VecDeque::new(),
        }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        let Some(e) = doc.audit() else { return };
        // Failed authentication is logged once, at ResponseStarted.
        if e.response_code() == Some(401) {
            return access::unauthenticated(&mut self.recent_unauthenticated, e, out);
        }
        // The host hands over each request once, at the stage that decided
        // it (ResponseStarted for an exec); RequestReceived has no answer.
        if !e.carries_decision() {
            return;
        }
        let s = &self.settings;
        access::user_agent(s, e, out);
        if e.response_code() == Some(403) {
            return access::forbidden(s, e, out);
        }
        if !e.was_allowed() || e.has_query_param("dryRun") {
            return;
        }
        access::impersonation(s, e, out);
        // The workload tracker learns from everyone, controllers included.
        if matches!(e.api_group(), "apps") && e.subresource().is_empty() {
            sidecar::workload_change(s, &mut self.workloads, e, out);
        }
        let ignored = s.ignored_users.ignores(e);
        // What a pod runs matters whoever created it: the pod the
        // replicaset-controller creates is the one that runs.
        let pod_spec = match (e.api_group(), e.resource(), e.subresource()) {
            ("", "pods", "") | ("batch", "cronjobs" | "jobs", "") => true,
            ("apps", r, "") => rules::is_workload(r),
            _ => false,
        };
        if pod_spec {
            pod_specs::pod_spec(s, e, out);
        }
        match (e.api_group(), e.resource(), e.subresource()) {
            ("certificates.k8s.io", "certificatesigningrequests", "" | "approval") => {
                credentials::csr(s, e, ignored, out)
            }
            (
                "authorization.k8s.io",
                "selfsubjectrulesreviews" | "selfsubjectaccessreviews",
                "",
            ) => access::self_review(s, e, out),
            _ if ignored => {}
            ("admissionregistration.k8s.io", _, "") => changes::webhook(e, out),
            ("", "nodes", "proxy") => access::node_proxy(s, e, out),
            ("", "pods", "ephemeralcontainers") => pod_specs::capabilities(s, e, out),
            ("" | "events.k8s.io", "events", "") => changes::events_deleted(e, out),
            ("batch", "cronjobs" | "jobs", "") => changes::cronjob(e, out),
            ("", "secrets", "") => access::secrets(s, e, out),
            ("", "pods", "") => pod_specs::system_pod_masquerade(s, e, out),
            ("apps", r, "") if rules::is_workload(r) => changes::logging(s, e, out),
            ("", "serviceaccounts", "token") => credentials::token(s, e, out),
            ("", "pods", "exec") => exec_command::check(e, out),
            ("rbac.authorization.k8s.io", "roles" | "clusterroles", "") => {
                changes::service_account_rbac_write(s, e, out)
            }
            ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings", "") => {
                changes::service_account_rbac_write(s, e, out);
                changes::binding(e, out)
            }
            ("", "configmaps", "") => {
                changes::logging(s, e, out);
                changes::critical_configmap(s, e, out);
            }
            ("", "namespaces", "") | ("apps", _, "scale") => changes::logging(s, e, out),
            ("auditregistration.k8s.io", "auditsinks", "") => changes::logging(s, e, out),
            _ => {}
        }
    }
}

pub(crate) fn is_service_account(user: &str) -> bool {
    user.starts_with("system:serviceaccount:")
}

pub(crate) fn images(spec: &PodSpec) -> String {
    let images: Vec<&str> = spec
        .all_containers()
        .map(|(_, c)| c.image.as_str())
        .collect();
    images.join(",")
}

/// A string at a path of keys in a JSON value, or "".
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn past(verb: &str) -> &'static str {
    match verb {
        "create" => "Created",
        "update" => "Updated",
        "patch" => "Patched",
        "delete" | "deletecollection" => "Deleted",
        "list" => "listed",
        "watch" => "watched",
        _ => "Changed",
    }
}

/// `namespace/name`, or `name` for a cluster-scoped object.
pub(crate) fn qualified(namespace: &str, name: &str) -> String {
    match namespace {
        "" => name.to_string(),
        ns => format!("{ns}/{name}"),
    }
}

pub(crate) fn singular(resource: &str) -> &str {
    match resource {
        "deployments" => "Deployment",
        "daemonsets" => "DaemonSet",
        "statefulsets" => "StatefulSet",
        "replicasets" => "ReplicaSet",
        "jobs" => "Job",
        "cronjobs" => "CronJob",
        "pods" => "Pod",
        "configmaps" => "ConfigMap",
        "namespaces" => "Namespace",
        "auditsinks" => "AuditSink",
        "roles" => "Role",
        "clusterroles" => "ClusterRole",
        "rolebindings" => "RoleBinding",
        "clusterrolebindings" => "ClusterRoleBinding",
        other => other,
    }
}

export_pack!(SigmaElastic);
