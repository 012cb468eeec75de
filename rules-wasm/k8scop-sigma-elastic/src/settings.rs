//! The operator's lists, with their defaults. Lists are comma-separated,
//! `*` at the end of an entry matches by prefix.

use std::cell::RefCell;
use std::collections::HashMap;

use rule_sdk::{Config, IgnoreList, Patterns};

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

/// Substrings looked for with ASCII case ignored. Every event's user
/// agent is checked against all of them, so one pass over the text finds
/// the places where some substring could start (by its first byte) and
/// only there compares; a search per substring was this pack's largest
/// cost.
pub(crate) struct Substrings {
    needles: Vec<String>,
    /// For each byte (both cases), the needles that start with it, in the
    /// list's order.
    by_first: Vec<Vec<usize>>,
    /// The answers for texts already searched: a cluster's clients send a
    /// few dozen user agents, over and over. The standard (keyed) hasher,
    /// since clients choose these texts and could otherwise make them
    /// collide.
    seen: RefCell<HashMap<Box<str>, Option<usize>>>,
}

/// Texts remembered before the memory of answers starts over, and the
/// longest remembered (so the memory stays under 300 KiB whatever clients
/// send).
const SEEN_CAPACITY: usize = 1024;
const SEEN_LONGEST: usize = 256;

impl Substrings {
    pub(crate) fn new(needles: &[String]) -> Self {
        let needles: Vec<String> = needles
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| n.to_ascii_lowercase())
            .collect();
        let mut by_first = vec![Vec::new(); 256];
        for (i, n) in needles.iter().enumerate() {
            let b = n.as_bytes()[0];
            by_first[b as usize].push(i);
            if b.is_ascii_lowercase() {
                by_first[b.to_ascii_uppercase() as usize].push(i);
            }
        }
        Substrings {
            needles,
            by_first,
            seen: RefCell::default(),
        }
    }

    /// The substring (lower case) that occurs in `haystack` and comes first
    /// in the list.
    pub(crate) fn find(&self, haystack: &str) -> Option<&str> {
        if haystack.len() > SEEN_LONGEST {
            return self.search(haystack).map(|i| self.needles[i].as_str());
        }
        let mut seen = self.seen.borrow_mut();
        let found = match seen.get(haystack) {
            Some(&found) => found,
            None => {
                let found = self.search(haystack);
                if seen.len() >= SEEN_CAPACITY {
                    seen.clear();
                }
                seen.insert(haystack.into(), found);
                found
            }
        };
        found.map(|i| self.needles[i].as_str())
    }

    fn search(&self, haystack: &str) -> Option<usize> {
        let h = haystack.as_bytes();
        let mut first: Option<usize> = None;
        for (at, &b) in h.iter().enumerate() {
            let rest = &h[at..];
            for &i in &self.by_first[b as usize] {
                let n = self.needles[i].as_bytes();
                if first.is_some_and(|f| f <= i) {
                    break;
                }
                if rest.len() >= n.len() && rest[..n.len()].eq_ignore_ascii_case(n) {
                    first = Some(i);
                    break;
                }
            }
        }
        first
    }
}

/// The operator's settings, read once.
pub(crate) struct Settings {
    pub(crate) ignored_users: IgnoreList,
    pub(crate) privileged_users: Patterns,
    pub(crate) privileged_groups: Patterns,
    pub(crate) csr_privileged_subjects: Patterns,
    pub(crate) dangerous_capabilities: Vec<String>,
    pub(crate) trusted_images: Patterns,
    pub(crate) suspicious_user_agents: Substrings,
    pub(crate) node_proxy_ignore_paths: Patterns,
    pub(crate) system_namespaces: Patterns,
    pub(crate) system_pod_prefixes: Patterns,
    pub(crate) logging_components: Patterns,
    pub(crate) critical_configmaps: Patterns,
    pub(crate) rbac_review_ignore_users: Patterns,
    pub(crate) rbac_writer_service_accounts: Patterns,
}

impl Settings {
    pub(crate) fn new(config: &Config) -> Self {
        Settings {
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
            suspicious_user_agents: Substrings::new(
                &config.list("suspicious_user_agents", DEFAULT_SUSPICIOUS_USER_AGENTS),
            ),
            node_proxy_ignore_paths: config
                .patterns("node_proxy_ignore_paths", DEFAULT_NODE_PROXY_IGNORE_PATHS),
            system_namespaces: config.patterns("system_namespaces", &["kube-system"]),
            system_pod_prefixes: config
                .patterns("system_pod_prefixes", DEFAULT_SYSTEM_POD_PREFIXES),
            logging_components: config.patterns("logging_components", DEFAULT_LOGGING_COMPONENTS),
            critical_configmaps: config
                .patterns("critical_configmaps", DEFAULT_CRITICAL_CONFIGMAPS),
            rbac_review_ignore_users: config.patterns("rbac_review_ignore_users", &[]),
            rbac_writer_service_accounts: config.patterns("rbac_writer_service_accounts", &[]),
        }
    }
}

/// Capability names as the pod spec helpers give them: upper case, no `CAP_`.
fn normalize_capability(cap: &str) -> String {
    cap.trim()
        .to_ascii_uppercase()
        .trim_start_matches("CAP_")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::Substrings;

    #[test]
    fn substrings_ignore_ascii_case_on_both_sides_and_name_the_match() {
        let agents = Substrings::new(&[
            "curl/".to_string(),
            "Kube-Hunter".to_string(),
            String::new(),
        ]);
        assert_eq!(agents.find("CURL/8.5.0"), Some("curl/"));
        assert_eq!(agents.find("python kube-hunter 0.6"), Some("kube-hunter"));
        assert_eq!(agents.find("kubectl/v1.29.0 (linux/amd64)"), None);
        assert_eq!(agents.find("curl"), None);
        // The list's order decides, not the place in the text.
        assert_eq!(agents.find("kube-hunter via curl/8"), Some("curl/"));
        assert_eq!(agents.find(""), None);
        // Asked again, from the memory of answers: the same.
        assert_eq!(agents.find("CURL/8.5.0"), Some("curl/"));
        assert_eq!(agents.find("kubectl/v1.29.0 (linux/amd64)"), None);
        for i in 0..super::SEEN_CAPACITY + 5 {
            assert_eq!(agents.find(&format!("agent {i}")), None);
        }
        assert!(agents.seen.borrow().len() <= super::SEEN_CAPACITY);
        assert_eq!(agents.find("x curl/1"), Some("curl/"));
        let long = format!("{}curl/", "a".repeat(super::SEEN_LONGEST));
        assert_eq!(agents.find(&long), Some("curl/"));
        assert!(!agents.seen.borrow().contains_key(long.as_str()));
    }
}
