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
//! security-critical ConfigMaps and role bindings changed or granted to
//! everyone. Port-forwarding, ephemeral
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
//! - `max_tracked_workloads`: workloads whose containers are remembered
//!   for sidecar detection (50000).

mod csr;
mod exec_command;
mod rules;
mod workloads;

pub use rules::*;

use std::collections::{BTreeSet, VecDeque};

use rule_sdk::pod::Container;
use rule_sdk::{
    Alerts, Config, Doc, Event, IgnoreList, Pack, Patterns, PodSpec, Severity, Value, export_pack,
};

use workloads::{NamedContainer, WorkloadContainers};

const PACK: &str = "k8scop-sigma-elastic";

/// Identities ignored besides the control plane's of
/// [`rule_sdk::control_plane`]: bootstrap tokens (nodes joining). They are
/// ignored by name; the table's identities only with their component's
/// user agent.
pub const DEFAULT_IGNORED_USERS: &[&str] = &["system:bootstrap:*"];

/// `trusted_images`: the pods the stock control planes (kubeadm, kind,
/// MicroK8s, k3s) run with capabilities, host paths or root, which the
/// pod-spec rules see since they look at pods whoever creates them.
pub const DEFAULT_TRUSTED_IMAGES: &[&str] = &[
    "registry.k8s.io/kube-proxy:*",
    "registry.k8s.io/kube-apiserver:*",
    "registry.k8s.io/kube-controller-manager:*",
    "registry.k8s.io/kube-scheduler:*",
    "registry.k8s.io/etcd:*",
    "docker.io/calico/node:*",
    "docker.io/calico/cni:*",
    "calico/node:*",
    "calico/cni:*",
    "quay.io/calico/node:*",
    "quay.io/calico/cni:*",
    "docker.io/kindest/kindnetd:*",
    "docker.io/cdkbot/hostpath-provisioner:*",
    "cdkbot/hostpath-provisioner:*",
    "docker.io/rancher/local-path-provisioner:*",
    "rancher/local-path-provisioner:*",
];

/// Users whose impersonation is privileged escalation.
pub const DEFAULT_PRIVILEGED_USERS: &[&str] = &[
    "admin",
    "cluster-admin",
    "kubernetes-admin",
    "system:admin",
    "system:anonymous",
    "system:apiserver",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:kube-proxy",
    "system:volume-scheduler",
    "system:node:*",
    "system:serviceaccount:kube-system:*",
];

/// Groups whose impersonation is privileged escalation.
pub const DEFAULT_PRIVILEGED_GROUPS: &[&str] = &[
    "system:masters",
    "system:cluster-admins",
    "cluster-admin",
    "system:nodes",
];

/// CSR subjects (CN or O) a certificate must not be issued for outside
/// cluster bootstrap. Nodes are left out: kubelets request those daily.
pub const DEFAULT_CSR_PRIVILEGED_SUBJECTS: &[&str] = &[
    "system:masters",
    "system:cluster-admins",
    "cluster-admin",
    "kubernetes-admin",
    "system:admin",
    "system:apiserver",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:kube-proxy",
    "system:serviceaccount:kube-system:*",
];

/// Capabilities used in container escapes (Elastic's list).
pub const DEFAULT_DANGEROUS_CAPABILITIES: &[&str] = &[
    "BPF",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYSLOG",
];

/// Capabilities that are a host escape on their own.
const ESCAPE_CAPABILITIES: &[&str] = &["ALL", "SYS_ADMIN", "SYS_MODULE"];

pub const DEFAULT_SUSPICIOUS_USER_AGENTS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "kube-hunter",
    "peirates",
    "kubiscan",
    "kubeletctl",
    "kdigger",
    "kubesploit",
    "access_matrix",
    "rakkess",
    "trufflehog",
    "azurehound",
    "micro-scanner",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
];

/// Kubelet endpoints monitoring agents scrape through nodes/proxy.
pub const DEFAULT_NODE_PROXY_IGNORE_PATHS: &[&str] = &["metrics*", "healthz*", "stats/summary*"];

/// Names system pods get from their controllers, which backdoors imitate.
pub const DEFAULT_SYSTEM_POD_PREFIXES: &[&str] = &[
    "kube-proxy-*",
    "kube-apiserver-*",
    "kube-controller-manager-*",
    "kube-scheduler-*",
    "etcd-*",
    "coredns-*",
    "kube-dns-*",
    "aws-node-*",
    "calico-*",
    "cilium-*",
    "kindnet-*",
    "konnectivity-*",
    "metrics-server-*",
];

pub const DEFAULT_LOGGING_COMPONENTS: &[&str] = &[
    "fluent*",
    "filebeat*",
    "elastic-agent*",
    "logstash*",
    "vector*",
    "promtail*",
    "falco*",
    "k8scop*",
    "audit*",
];

/// ConfigMaps that grant access or steer the cluster's DNS and networking.
pub const DEFAULT_CRITICAL_CONFIGMAPS: &[&str] = &[
    "aws-auth",
    "coredns",
    "coredns-custom",
    "kube-dns",
    "kube-proxy",
    "kubeadm-config",
    "kubelet-config*",
    "cluster-info",
    "argocd-cm",
    "argocd-rbac-cm",
];

/// The API server's health endpoints, which probes may call with any client.
const HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// Kubelet API paths that run code in a container.
const KUBELET_EXEC_PATHS: &[&str] = &["run/", "exec/", "attach/", "portForward/", "checkpoint/"];

/// How many 401 audit ids to remember, to count a failed request once even
/// when it is logged at two stages.
const RECENT_UNAUTHENTICATED: usize = 1024;

pub struct SigmaElastic {
    ignored_users: IgnoreList,
    privileged_users: Patterns,
    privileged_groups: Patterns,
    csr_privileged_subjects: Patterns,
    dangerous_capabilities: Vec<String>,
    trusted_images: Patterns,
    suspicious_user_agents: Vec<String>,
    node_proxy_ignore_paths: Patterns,
    system_namespaces: Patterns,
    system_pod_prefixes: Patterns,
    logging_components: Patterns,
    critical_configmaps: Patterns,
    rbac_review_ignore_users: Patterns,
    workloads: WorkloadContainers,
    recent_unauthenticated: VecDeque<String>,
}

impl Pack for SigmaElastic {
    const NAME: &'static str = PACK;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const RULES: &'static [&'static rule_sdk::Rule] = rules::ALL;

    fn new(config: &Config) -> Self {
        SigmaElastic {
            ignored_users: IgnoreList::from_config_with(config, DEFAULT_IGNORED_USERS),
            privileged_users: config.patterns("privileged_users", DEFAULT_PRIVILEGED_USERS),
            privileged_groups: config.patterns("privileged_groups", DEFAULT_PRIVILEGED_GROUPS),
            csr_privileged_subjects: config
                .patterns("csr_privileged_subjects", DEFAULT_CSR_PRIVILEGED_SUBJECTS),
            dangerous_capabilities: config
                .list("dangerous_capabilities", DEFAULT_DANGEROUS_CAPABILITIES)
                .iter()
                .map(|c| normalize_capability(c))
                .collect(),
            trusted_images: config.patterns("trusted_images", DEFAULT_TRUSTED_IMAGES),
            suspicious_user_agents: config
                .list("suspicious_user_agents", DEFAULT_SUSPICIOUS_USER_AGENTS)
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            node_proxy_ignore_paths: config
                .patterns("node_proxy_ignore_paths", DEFAULT_NODE_PROXY_IGNORE_PATHS),
            system_namespaces: config.patterns("system_namespaces", &["kube-system"]),
            system_pod_prefixes: config
                .patterns("system_pod_prefixes", DEFAULT_SYSTEM_POD_PREFIXES),
            logging_components: config.patterns("logging_components", DEFAULT_LOGGING_COMPONENTS),
            critical_configmaps: config
                .patterns("critical_configmaps", DEFAULT_CRITICAL_CONFIGMAPS),
            rbac_review_ignore_users: config.patterns("rbac_review_ignore_users", &[]),
            workloads: WorkloadContainers::new(config.u64("max_tracked_workloads", 50_000) as usize),
            recent_unauthenticated: VecDeque::new(),
        }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        let Some(e) = doc.audit() else { return };
        // Failed authentication is logged once, at ResponseStarted.
        if e.response_code() == Some(401) {
            return self.on_unauthenticated(e, out);
        }
        // The host hands over each request once, at the stage that decided
        // it (ResponseStarted for an exec); RequestReceived has no answer.
        if !e.carries_decision() {
            return;
        }
        self.on_user_agent(e, out);
        if e.response_code() == Some(403) {
            return self.on_forbidden(e, out);
        }
        if !e.was_allowed() || e.query_param("dryRun").is_some() {
            return;
        }
        self.on_impersonation(e, out);
        // The workload tracker learns from everyone, controllers included.
        if matches!(e.api_group(), "apps") && e.subresource().is_empty() {
            self.on_workload_change(e, out);
        }
        let ignored = self.ignored_users.ignores(e);
        // What a pod runs matters whoever created it: the pod the
        // replicaset-controller creates is the one that runs.
        let pod_spec = match (e.api_group(), e.resource(), e.subresource()) {
            ("", "pods", "") | ("batch", "cronjobs" | "jobs", "") => true,
            ("apps", r, "") => rules::is_workload(r),
            _ => false,
        };
        if pod_spec {
            self.on_pod_spec(e, out);
        }
        match (e.api_group(), e.resource(), e.subresource()) {
            ("certificates.k8s.io", "certificatesigningrequests", "" | "approval") => {
                self.on_csr(e, ignored, out)
            }
            (
                "authorization.k8s.io",
                "selfsubjectrulesreviews" | "selfsubjectaccessreviews",
                "",
            ) => self.on_self_review(e, out),
            _ if ignored => {}
            ("admissionregistration.k8s.io", _, "") => self.on_webhook(e, out),
            ("", "nodes", "proxy") => self.on_node_proxy(e, out),
            ("", "pods", "ephemeralcontainers") => self.on_capabilities(e, out),
            ("" | "events.k8s.io", "events", "") => on_events_deleted(e, out),
            ("batch", "cronjobs" | "jobs", "") => on_cronjob(e, out),
            ("", "secrets", "") => self.on_secrets(e, out),
            ("", "pods", "") => self.on_system_pod_masquerade(e, out),
            ("apps", r, "") if rules::is_workload(r) => self.on_logging(e, out),
            ("", "serviceaccounts", "token") => self.on_token(e, out),
            ("", "pods", "exec") => on_exec(e, out),
            ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings", "") => {
                on_binding(e, out)
            }
            ("", "configmaps", "") => {
                self.on_logging(e, out);
                self.on_critical_configmap(e, out);
            }
            ("", "namespaces", "") | ("apps", _, "scale") => self.on_logging(e, out),
            ("auditregistration.k8s.io", "auditsinks", "") => self.on_logging(e, out),
            _ => {}
        }
    }
}

impl SigmaElastic {
    fn on_unauthenticated(&mut self, e: &Event, out: &mut Alerts) {
        if !matches!(
            e.stage.as_ref(),
            "ResponseStarted" | "ResponseComplete" | "Panic" | ""
        ) {
            return;
        }
        if !e.audit_id.is_empty() {
            if self
                .recent_unauthenticated
                .iter()
                .any(|id| *id == e.audit_id)
            {
                return;
            }
            if self.recent_unauthenticated.len() >= RECENT_UNAUTHENTICATED {
                self.recent_unauthenticated.pop_front();
            }
            self.recent_unauthenticated
                .push_back(e.audit_id.to_string());
        }
        let message = e
            .response_status
            .as_ref()
            .map(|s| s.message.as_ref())
            .unwrap_or_default();
        out.raise(&REQUEST_UNAUTHENTICATED)
            .group(&[e.source_ip(), &e.user_agent])
            .audit_context(e)
            .field("request_uri", e.request_uri.as_ref())
            .field("message", message);
    }

    fn on_forbidden(&self, e: &Event, out: &mut Alerts) {
        if self.ignored_users.ignores(e) {
            return;
        }
        let service_account = is_service_account(e.effective_username());
        let anonymous = e.effective_username() == "system:anonymous";
        let message = e
            .response_status
            .as_ref()
            .map(|s| s.message.as_ref())
            .unwrap_or_default();
        let alert = out
            .raise(&REQUEST_FORBIDDEN)
            .group(&[e.username(), &e.verb, &e.resource_path(), e.namespace()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("request_uri", e.request_uri.as_ref())
            .field("message", message);
        if service_account || anonymous {
            alert.severity(Severity::Medium);
        }
    }

    fn on_user_agent(&self, e: &Event, out: &mut Alerts) {
        let Some(matched) = self
            .suspicious_user_agents
            .iter()
            .find(|s| contains_ignore_case(&e.user_agent, s))
        else {
            return;
        };
        // Load balancers and uptime checks probe health endpoints with curl.
        let path = rule_sdk::uri::path(&e.request_uri);
        if e.object_ref.is_none() && HEALTH_PATHS.iter().any(|p| path.starts_with(p)) {
            return;
        }
        out.raise(&SUSPICIOUS_USER_AGENT)
            .title(format!("API request from {}", e.user_agent))
            .group(&[e.username(), &e.user_agent, e.source_ip()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("matched", matched.as_str())
            .field("request_uri", e.request_uri.as_ref());
    }

    fn on_impersonation(&self, e: &Event, out: &mut Alerts) {
        let Some(target) = e.impersonated_user.as_ref() else {
            return;
        };
        if self.ignored_users.ignores(e) {
            return;
        }
        let privileged_user = self.privileged_users.matches(&target.username);
        let privileged_groups: Vec<&str> = target
            .groups
            .iter()
            .filter(|g| self.privileged_groups.matches(g))
            .map(|g| g.as_ref())
            .collect();
        if !privileged_user && privileged_groups.is_empty() {
            return;
        }
        let target_name = if target.username.is_empty() {
            "(groups only)"
        } else {
            target.username.as_ref()
        };
        out.raise(&PRIVILEGED_IMPERSONATION)
            .title(format!("{} impersonated {}", e.username(), target_name))
            .group(&[e.username(), &target.username, &privileged_groups.join(",")])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("impersonated_groups", target.groups.join(","))
            .field("privileged_groups", privileged_groups.join(","));
    }

    fn on_csr(&self, e: &Event, ignored: bool, out: &mut Alerts) {
        let approval = e.subresource() == "approval";
        if approval && !matches!(e.verb.as_ref(), "update" | "patch") {
            return;
        }
        if !approval && e.verb != "create" {
            return;
        }
        let body = e.request_object();
        // Approval and denial are the same subresource; only the body says which.
        if approval && !body.is_some_and(is_approved) {
            return;
        }
        // A patch of the approval carries only the condition; the whole CSR
        // is in the response at RequestResponse level.
        let spec = [body, e.response_object()]
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("spec"))
            .find(|s| s.get("request").is_some())
            .or_else(|| body.and_then(|b| b.get("spec")));
        let subject = spec
            .and_then(|s| s.get("request"))
            .and_then(Value::as_str)
            .and_then(csr::subject_of)
            .unwrap_or_default();
        let privileged: Vec<&str> = std::iter::once(subject.common_name.as_str())
            .chain(subject.organizations.iter().map(String::as_str))
            .filter(|s| !s.is_empty() && self.csr_privileged_subjects.matches(s))
            .collect();
        let action = if approval { "approved" } else { "requested" };
        let rule = if !privileged.is_empty() {
            &CSR_PRIVILEGED_IDENTITY
        } else if ignored {
            return;
        } else if approval {
            &CSR_APPROVED
        } else {
            &CSR_CREATED
        };
        let spec_str = |k: &str| {
            spec.and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let usages = spec
            .and_then(|s| s.get("usages"))
            .and_then(Value::as_array)
            .map(|u| {
                u.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let mut alert = out.raise(rule).group(&[e.username(), e.name()]);
        if !privileged.is_empty() {
            alert = alert.title(format!(
                "Certificate {action} for privileged identity {}",
                privileged.join(", ")
            ));
        }
        alert
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("action", action)
            .field("csr", e.name())
            .field("signer", spec_str("signerName"))
            .field("requestor", spec_str("username"))
            .field("subject_cn", subject.common_name.as_str())
            .field("subject_o", subject.organizations.join(","))
            .field("usages", usages)
            .field("privileged_subject", privileged.join(","));
    }

    /// Control-plane components never review their own rights, so
    /// `ignore_users` does not apply: a stolen kube-system or node token's
    /// first move is exactly this. `rbac_review_ignore_users` does.
    fn on_self_review(&self, e: &Event, out: &mut Alerts) {
        if e.verb != "create" || self.rbac_review_ignore_users.matches(e.username()) {
            return;
        }
        let who = e.effective_username();
        let machine = is_service_account(who) || who.starts_with("system:node:");
        let rules_review = e.resource() == "selfsubjectrulesreviews";
        // A SelfSubjectAccessReview (one can-i) is routine in dashboards and
        // kubectl plugins for people; for a service account or a node it is not.
        if !rules_review && !machine {
            return;
        }
        let spec = e.request_object().and_then(|b| b.get("spec"));
        let attrs = spec.and_then(|s| s.get("resourceAttributes"));
        let attr = |k: &str| {
            attrs
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let scope = spec
            .and_then(|s| s.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| attr("namespace"));
        let question = if attrs.is_some() {
            format!("{} {}", attr("verb"), attr("resource"))
        } else {
            String::new()
        };
        let alert = out
            .raise(&RBAC_PERMISSIONS_ENUMERATED)
            .group(&[e.username(), who, e.resource()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("review", e.resource())
            .field("review_namespace", scope)
            .field("question", question);
        if machine {
            alert.severity(Severity::Medium);
        }
    }

    fn on_webhook(&self, e: &Event, out: &mut Alerts) {
        let kind = match e.resource() {
            "mutatingwebhookconfigurations" => "mutating",
            "validatingwebhookconfigurations" => "validating",
            _ => return,
        };
        if !matches!(
            e.verb.as_ref(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            return;
        }
        let hooks = e
            .request_object()
            .and_then(|b| b.get("webhooks"))
            .and_then(Value::as_array);
        let (mut names, mut targets, mut policies) = (Vec::new(), Vec::new(), BTreeSet::new());
        let mut external = false;
        for hook in hooks.into_iter().flatten() {
            names.push(str_at(hook, &["name"]));
            let url = str_at(hook, &["clientConfig", "url"]);
            if !url.is_empty() {
                external = true;
                targets.push(url.to_string());
            } else {
                let ns = str_at(hook, &["clientConfig", "service", "namespace"]);
                let svc = str_at(hook, &["clientConfig", "service", "name"]);
                if !svc.is_empty() {
                    targets.push(format!("service {ns}/{svc}"));
                }
            }
            let policy = str_at(hook, &["failurePolicy"]);
            if !policy.is_empty() {
                policies.insert(policy);
            }
        }
        let alert = out
            .raise(&ADMISSION_WEBHOOK_CHANGED)
            .title(format!(
                "{} {kind} admission webhook {}",
                past(&e.verb),
                e.name()
            ))
            .group(&[e.username(), e.resource(), e.name()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("webhook_kind", kind)
            .field("webhooks", names.join(","))
            .field("webhook_targets", targets.join(","))
            .field(
                "failure_policy",
                policies.into_iter().collect::<Vec<_>>().join(","),
            );
        // A URL is served outside the cluster: every matching object leaves it.
        if external && kind == "mutating" {
            alert.severity(Severity::High);
        }
    }

    fn on_node_proxy(&self, e: &Event, out: &mut Alerts) {
        let path = rule_sdk::uri::path(&e.request_uri);
        let proxied = path
            .split_once("/proxy")
            .map(|(_, p)| p.trim_start_matches('/'))
            .unwrap_or_default();
        if self.node_proxy_ignore_paths.matches(proxied) {
            return;
        }
        let runs_code = KUBELET_EXEC_PATHS.iter().any(|p| proxied.starts_with(p));
        let alert = out
            .raise(&NODE_PROXY)
            .title(format!(
                "Kubelet /{proxied} of node {} reached through the API server",
                e.name()
            ))
            .group(&[e.username(), e.name(), proxied])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("node", e.name())
            .field("kubelet_path", format!("/{proxied}"));
        if runs_code {
            alert.severity(Severity::High);
        }
    }

    /// Rules reading the pod spec a pod or workload is deployed with.
    fn on_pod_spec(&self, e: &Event, out: &mut Alerts) {
        if !matches!(e.verb.as_ref(), "create" | "update" | "patch") {
            return;
        }
        self.on_capabilities(e, out);
        self.on_escalation_flags(e, out);
        // A pod's volumes cannot change after creation.
        if e.resource() != "pods" || e.verb == "create" {
            self.on_host_path(e, out);
        }
    }

    fn on_capabilities(&self, e: &Event, out: &mut Alerts) {
        // A pod's containers cannot change after creation; only ephemeral
        // ones are added (pods/ephemeralcontainers).
        if e.resource() == "pods" && e.subresource().is_empty() && e.verb != "create" {
            return;
        }
        let Some(spec) = e.request_pod_spec() else {
            return;
        };
        // One rollout (workload, ReplicaSet, pods) is one alert.
        let workload = e.workload();
        for (kind, c) in spec.all_containers() {
            if self.trusted_images.matches(&c.image) {
                continue;
            }
            let caps: Vec<String> = c
                .added_capabilities()
                .into_iter()
                .filter(|cap| cap == "ALL" || self.dangerous_capabilities.contains(cap))
                .collect();
            if caps.is_empty() {
                continue;
            }
            let escape = caps
                .iter()
                .any(|c| ESCAPE_CAPABILITIES.contains(&c.as_str()));
            let caps = caps.join(",");
            let alert = out
                .raise(&EXCESSIVE_CAPABILITIES)
                .title(format!("Container {} adds {caps}", c.name))
                .group(&[&workload.namespace, &workload.name, &c.name, &caps])
                .audit_context(e)
                .field("groups", e.user.groups.join(","))
                .field("container", c.name.as_str())
                .field("container_kind", kind.as_str())
                .field("image", c.image.as_str())
                .field("capabilities", caps.as_str());
            if escape {
                alert.severity(Severity::High);
            }
        }
    }

    fn on_escalation_flags(&self, e: &Event, out: &mut Alerts) {
        let Some(spec) = e.request_pod_spec() else {
            return;
        };
        // One rollout (workload, ReplicaSet, pods) is one alert.
        let workload = e.workload();
        // A pod's security context cannot change once it runs.
        if e.resource() == "pods" && e.verb != "create" {
            return;
        }
        let pod_root = spec
            .security_context
            .as_ref()
            .and_then(|s| s.get("runAsUser"))
            .and_then(Value::as_i64)
            == Some(0);
        let mut findings = Vec::new();
        for (kind, c) in spec.all_containers() {
            if self.trusted_images.matches(&c.image) {
                continue;
            }
            let flags = escalation_flags(c);
            if !flags.is_empty() {
                findings.push((kind, c, flags.join(",")));
            }
        }
        let all_trusted = spec
            .all_containers()
            .all(|(_, c)| self.trusted_images.matches(&c.image));
        // A pod-level runAsUser 0 counts unless every container is trusted.
        let root_pod = pod_root && !all_trusted;
        if findings.is_empty() && !root_pod {
            return;
        }
        let describe: Vec<String> = findings
            .iter()
            .map(|(_, c, flags)| format!("{}: {flags}", c.name))
            .collect();
        let containers: Vec<&str> = findings.iter().map(|(_, c, _)| c.name.as_str()).collect();
        let images: Vec<&str> = findings.iter().map(|(_, c, _)| c.image.as_str()).collect();
        let kinds: Vec<&str> = findings.iter().map(|(k, _, _)| k.as_str()).collect();
        let flags = describe.join("; ");
        out.raise(&PRIVILEGE_ESCALATION_FLAGS)
            .group(&[
                &workload.namespace,
                &workload.name,
                &flags,
                if pod_root { "pod-root" } else { "" },
            ])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("container", containers.join(","))
            .field("container_kind", kinds.join(","))
            .field("image", images.join(","))
            .field("flags", flags.as_str())
            .field("pod_run_as_user", if pod_root { "0" } else { "" });
    }

    fn on_host_path(&self, e: &Event, out: &mut Alerts) {
        let Some(spec) = e.request_pod_spec() else {
            return;
        };
        // One rollout (workload, ReplicaSet, pods) is one alert.
        let workload = e.workload();
        let volumes: Vec<(&str, &str)> = spec.host_path_volumes().collect();
        if volumes.is_empty() {
            return;
        }
        if spec
            .all_containers()
            .all(|(_, c)| self.trusted_images.matches(&c.image))
        {
            return;
        }
        let names: BTreeSet<&str> = volumes.iter().map(|(n, _)| *n).collect();
        let mounts: Vec<String> = spec
            .all_containers()
            .flat_map(|(_, c)| {
                c.volume_mounts
                    .iter()
                    .filter(|m| names.contains(m.name.as_str()))
                    .map(move |m| {
                        let mode = if m.read_only { "ro" } else { "rw" };
                        format!("{}:{} ({mode})", c.name, m.mount_path)
                    })
            })
            .collect();
        let paths: Vec<&str> = volumes.iter().map(|(_, p)| *p).collect();
        let paths = paths.join(",");
        out.raise(&HOSTPATH_VOLUME)
            .title(format!(
                "{} {}/{} mounts host path {paths}",
                singular(e.resource()),
                e.namespace(),
                e.name()
            ))
            .group(&[&workload.namespace, &workload.name, &paths])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("host_paths", paths.as_str())
            .field("mounts", mounts.join(","))
            .field("image", images(&spec));
    }

    fn on_secrets(&self, e: &Event, out: &mut Alerts) {
        if !matches!(e.verb.as_ref(), "list" | "watch") {
            return;
        }
        let cluster_wide = e.namespace().is_empty();
        let scope = if cluster_wide {
            "all namespaces"
        } else {
            e.namespace()
        };
        let alert = out
            .raise(&SECRETS_ENUMERATED)
            .title(format!("Secrets {} in {scope}", past(&e.verb)))
            .group(&[e.username(), e.namespace(), &e.verb])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("scope", scope)
            .field(
                "label_selector",
                e.query_param("labelSelector").unwrap_or_default(),
            )
            .field(
                "field_selector",
                e.query_param("fieldSelector").unwrap_or_default(),
            );
        if cluster_wide || self.system_namespaces.matches(e.namespace()) {
            alert.severity(Severity::High);
        }
    }

    fn on_system_pod_masquerade(&self, e: &Event, out: &mut Alerts) {
        if e.verb != "create" || !self.system_namespaces.matches(e.namespace()) {
            return;
        }
        // The pod's name is in objectRef, or only in the body for generateName.
        let body = e.request_object();
        let name = match e.name() {
            "" => body
                .map(|b| str_at(b, &["metadata", "name"]))
                .unwrap_or_default(),
            n => n,
        };
        let spec = e.request_pod_spec();
        let service_account = spec
            .as_ref()
            .map(|s| s.service_account_name.as_str())
            .unwrap_or_default();
        let imitates = self.system_pod_prefixes.matches(name);
        // Elastic's `*controller`: the control plane's controllers' accounts.
        let controller_account = service_account.ends_with("controller");
        // Any other pod there is the Falco pack's pod-created-in-kube-namespace.
        if !imitates && !controller_account {
            return;
        }
        let posing_as = if imitates {
            "a system pod's name"
        } else {
            "a controller's service account"
        };
        out.raise(&SYSTEM_POD_MASQUERADE)
            .title(format!(
                "Pod {}/{name} created by {} with {posing_as}",
                e.namespace(),
                e.username()
            ))
            .group(&[e.username(), e.namespace(), name])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("pod", name)
            .field("service_account", service_account)
            .field("image", spec.as_ref().map(images).unwrap_or_default())
            .field("imitates_system_pod", if imitates { "true" } else { "" })
            .field(
                "controller_service_account",
                if controller_account { "true" } else { "" },
            );
    }

    fn on_token(&self, e: &Event, out: &mut Alerts) {
        if e.verb != "create" {
            return;
        }
        let target = format!("system:serviceaccount:{}:{}", e.namespace(), e.name());
        // A workload refreshing its own token is how projected tokens work.
        if e.effective_username() == target {
            return;
        }
        let spec = e.request_object().and_then(|b| b.get("spec"));
        let expiration = spec
            .and_then(|s| s.get("expirationSeconds"))
            .and_then(Value::as_i64)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let audiences = spec
            .and_then(|s| s.get("audiences"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let bound = spec
            .and_then(|s| s.get("boundObjectRef"))
            .map(|b| format!("{} {}", str_at(b, &["kind"]), str_at(b, &["name"])))
            .unwrap_or_default();
        let alert = out
            .raise(&SERVICEACCOUNT_TOKEN_CREATED)
            .title(format!(
                "{} minted a token for {}/{}",
                e.username(),
                e.namespace(),
                e.name()
            ))
            .group(&[e.username(), e.namespace(), e.name()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("service_account", format!("{}/{}", e.namespace(), e.name()))
            .field("expiration_seconds", expiration)
            .field("audiences", audiences)
            .field("bound_object", bound.trim());
        if self.system_namespaces.matches(e.namespace()) {
            alert.severity(Severity::High);
        }
    }

    fn on_logging(&self, e: &Event, out: &mut Alerts) {
        let deleting = matches!(e.verb.as_ref(), "delete" | "deletecollection");
        let changing = matches!(e.verb.as_ref(), "update" | "patch");
        let (what, hit) = match (e.resource(), e.subresource()) {
            ("auditsinks", _) => ("audit sink", deleting || changing),
            ("namespaces", "") => (
                "namespace",
                deleting && self.logging_components.matches(e.name()),
            ),
            ("configmaps", "") => (
                "configuration",
                (deleting || changing) && self.logging_components.matches(e.name()),
            ),
            (_, "scale") => (
                "scaled to zero",
                changing && scaled_to_zero(e) && self.logging_components.matches(e.name()),
            ),
            (r, "") if rules::is_workload(r) => (
                "workload",
                deleting && self.logging_components.matches(e.name()),
            ),
            _ => return,
        };
        if !hit {
            return;
        }
        out.raise(&LOGGING_TAMPERED)
            .title(format!(
                "{} {} {}",
                if what == "scaled to zero" {
                    "Scaled to zero"
                } else {
                    past(&e.verb)
                },
                singular(e.resource()),
                qualified(e.namespace(), e.name())
            ))
            .group(&[e.username(), e.resource(), e.namespace(), e.name()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("component", e.name())
            .field("tampering", what);
    }

    fn on_critical_configmap(&self, e: &Event, out: &mut Alerts) {
        if !matches!(e.verb.as_ref(), "update" | "patch" | "delete")
            || !self.critical_configmaps.matches(e.name())
        {
            return;
        }
        // Which keys the change touched, when the body is there.
        let keys = e
            .request_object()
            .and_then(|b| b.get("data"))
            .and_then(Value::as_object)
            .map(|d| d.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        out.raise(&CRITICAL_CONFIGMAP_CHANGED)
            .title(format!(
                "{} ConfigMap {}",
                past(&e.verb),
                qualified(e.namespace(), e.name())
            ))
            .group(&[e.username(), e.namespace(), e.name()])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("configmap", e.name())
            .field("data_keys", keys);
    }

    /// Track workload containers and flag ones a change adds.
    fn on_workload_change(&mut self, e: &Event, out: &mut Alerts) {
        let resource = e.resource();
        if !matches!(
            resource,
            "deployments" | "daemonsets" | "statefulsets" | "replicasets"
        ) {
            return;
        }
        let key = WorkloadContainers::key(resource, e.namespace(), e.name());
        if matches!(e.verb.as_ref(), "delete") {
            self.workloads.forget(&key);
            return;
        }
        if !matches!(e.verb.as_ref(), "create" | "update" | "patch") {
            return;
        }
        // The whole object after the change: any response, or an update's
        // or a create's request (a patch's request is only the patch).
        let full = e
            .response_object()
            .and_then(workloads::template_spec)
            .or_else(|| {
                (e.verb != "patch")
                    .then(|| e.request_object().and_then(workloads::template_spec))
                    .flatten()
            });
        let mut added: Vec<NamedContainer> = Vec::new();
        let mut evidence = "";
        if let Some(template) = full {
            let now = workloads::named_containers(template);
            if let Some(new) = self.workloads.observe(&key, &now) {
                added = new;
                evidence = "compared with the workload's last known containers";
            }
        } else if e.verb == "patch" {
            match e.request_object() {
                Some(Value::Array(ops)) => {
                    added = workloads::added_by_json_patch(ops);
                    evidence = "JSON patch adds a container";
                }
                Some(patch) => {
                    if let Some(template) = workloads::template_spec(patch) {
                        let patched = workloads::named_containers(template);
                        match self.workloads.names(&key) {
                            Some(known) => {
                                added = patched
                                    .iter()
                                    .filter(|c| !known.contains(&c.name))
                                    .cloned()
                                    .collect();
                                evidence = "patch names a container the workload did not have";
                            }
                            None => {
                                added = workloads::fully_defined_in_patch(template);
                                evidence = "patch defines a whole container";
                            }
                        }
                        self.workloads.merge(&key, &patched);
                    }
                }
                None => {}
            }
        }
        if e.verb == "create" || added.is_empty() || self.ignored_users.ignores(e) {
            return;
        }
        let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
        let images: Vec<&str> = added.iter().map(|c| c.image.as_str()).collect();
        let kinds: Vec<&str> = added.iter().map(|c| c.kind).collect();
        let names = names.join(",");
        out.raise(&SIDECAR_INJECTED)
            .title(format!(
                "Container {names} added to {} {}/{}",
                singular(resource),
                e.namespace(),
                e.name()
            ))
            .group(&[e.username(), e.namespace(), e.name(), &names])
            .audit_context(e)
            .field("groups", e.user.groups.join(","))
            .field("workload", format!("{}/{}", singular(resource), e.name()))
            .field("container", names.as_str())
            .field("container_kind", kinds.join(","))
            .field("image", images.join(","))
            .field("evidence", evidence);
    }
}

fn on_events_deleted(e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "delete" | "deletecollection") {
        return;
    }
    let scope = if e.namespace().is_empty() {
        "all namespaces"
    } else {
        e.namespace()
    };
    out.raise(&EVENTS_DELETED)
        .group(&[e.username(), e.namespace()])
        .audit_context(e)
        .field("groups", e.user.groups.join(","))
        .field("scope", scope)
        .field(
            "field_selector",
            e.query_param("fieldSelector").unwrap_or_default(),
        );
}

fn on_cronjob(e: &Event, out: &mut Alerts) {
    let kind = singular(e.resource());
    let relevant = match e.resource() {
        "cronjobs" => matches!(e.verb.as_ref(), "create" | "update" | "patch"),
        _ => e.verb == "create",
    };
    if !relevant {
        return;
    }
    let body = e.request_object();
    let schedule = body
        .map(|b| str_at(b, &["spec", "schedule"]))
        .unwrap_or_default();
    let spec = e.request_pod_spec();
    let command = spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| {
            c.command
                .iter()
                .chain(&c.args)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    out.raise(&CRONJOB_CHANGED)
        .title(format!(
            "{} {kind} {}/{}",
            past(&e.verb),
            e.namespace(),
            e.name()
        ))
        .group(&[e.username(), e.resource(), e.namespace(), e.name()])
        .audit_context(e)
        .field("groups", e.user.groups.join(","))
        .field("kind", kind)
        .field("schedule", schedule)
        .field("image", spec.as_ref().map(images).unwrap_or_default())
        .field("command", command);
}

fn on_exec(e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "create" | "get") {
        return;
    }
    let command = e.query_param("command").unwrap_or_default();
    let kinds = exec_command::classify(&command);
    let Some(first) = kinds.first() else { return };
    let what = match *first {
        "reverse-shell" => "Reverse shell",
        "cloud-metadata" => "Cloud metadata read",
        "credential-file" => "Credential file read",
        "download" => "Download",
        "network-tool" => "Network tool",
        _ => "Compiler",
    };
    // Scanning and compiling are suspicious; the rest is an attack.
    let hands_on = kinds
        .iter()
        .any(|k| !matches!(*k, "network-tool" | "compiler"));
    let container = e.query_param("container").unwrap_or_default();
    let alert = out
        .raise(&SUSPICIOUS_EXEC_COMMAND)
        .title(format!("{what} in pod {}/{}", e.namespace(), e.name()))
        .group(&[e.username(), e.namespace(), e.name(), &command])
        .audit_context(e)
        .field("groups", e.user.groups.join(","))
        .field("pod", e.name())
        .field("container", container)
        .field("command", command.as_str())
        .field("activity", kinds.join(","));
    if !hands_on {
        alert.severity(Severity::Medium);
    }
}

/// Subjects everyone (or anyone with a credential) is.
const EVERYONE: &[(&str, &str)] = &[
    ("User", "system:anonymous"),
    ("Group", "system:unauthenticated"),
    ("Group", "system:authenticated"),
];

fn on_binding(e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "create" | "update" | "patch") {
        return;
    }
    // roleRef and subjects are in the body; a patch holds only what it sets.
    let binding = e.request_binding();
    let everyone: Vec<String> = binding
        .iter()
        .flat_map(|b| &b.subjects)
        .filter(|s| EVERYONE.contains(&(s.kind.as_str(), s.name.as_str())))
        .map(ToString::to_string)
        .collect();
    let role = binding
        .as_ref()
        .filter(|b| !b.role_ref.name.is_empty())
        .map(|b| format!("{}/{}", b.role_ref.kind, b.role_ref.name))
        .unwrap_or_default();
    let subjects = binding
        .as_ref()
        .map(|b| b.subjects_text())
        .unwrap_or_default();
    let rule = if !everyone.is_empty() {
        &BINDING_TO_EVERYONE
    } else if e.verb != "create" {
        &BINDING_SUBJECTS_CHANGED
    } else {
        // A new binding is the Falco pack's (`*binding-created`, `cluster-admin-binding`).
        return;
    };
    out.raise(rule)
        .title(format!(
            "{} {} {}",
            past(&e.verb),
            singular(e.resource()),
            qualified(e.namespace(), e.name())
        ))
        .group(&[e.username(), e.resource(), e.namespace(), e.name()])
        .audit_context(e)
        .field("groups", e.user.groups.join(","))
        .field("binding", e.name())
        .field("role", role)
        .field("subjects", subjects)
        .field("everyone_subjects", everyone.join(", "));
}

/// The escalation settings of one container (privileged is the Falco
/// pack's `privileged-pod`).
fn escalation_flags(c: &Container) -> Vec<&'static str> {
    let mut flags = Vec::new();
    let Some(sc) = c.security_context.as_ref() else {
        return flags;
    };
    if sc.allow_privilege_escalation == Some(true) {
        flags.push("allowPrivilegeEscalation=true");
    }
    if sc.run_as_user == Some(0) {
        flags.push("runAsUser=0");
    }
    flags
}

/// A CSR's `status.conditions` holds an `Approved` condition that is not false.
fn is_approved(csr: &Value) -> bool {
    csr.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| str_at(c, &["type"]) == "Approved" && str_at(c, &["status"]) != "False")
        })
}

/// A scale change whose body sets the replicas to zero.
fn scaled_to_zero(e: &Event) -> bool {
    e.request_object()
        .and_then(|b| b.get("spec"))
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64)
        == Some(0)
}

/// `needle` (lower case) occurs in `haystack`, ASCII case ignored, without
/// allocating for every event.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty()
        || h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

fn is_service_account(user: &str) -> bool {
    user.starts_with("system:serviceaccount:")
}

/// Capability names as the pod spec helpers give them: upper case, no `CAP_`.
fn normalize_capability(cap: &str) -> String {
    cap.trim()
        .to_ascii_uppercase()
        .trim_start_matches("CAP_")
        .to_string()
}

fn images(spec: &PodSpec) -> String {
    let images: Vec<&str> = spec
        .all_containers()
        .map(|(_, c)| c.image.as_str())
        .collect();
    images.join(",")
}

/// A string at a path of keys in a JSON value, or "".
fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn past(verb: &str) -> &'static str {
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
fn qualified(namespace: &str, name: &str) -> String {
    match namespace {
        "" => name.to_string(),
        ns => format!("{ns}/{name}"),
    }
}

fn singular(resource: &str) -> &str {
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
        "rolebindings" => "RoleBinding",
        "clusterrolebindings" => "ClusterRoleBinding",
        other => other,
    }
}

export_pack!(SigmaElastic);
