//! The operator's allow-lists and trust-lists, with Falco's lists as the
//! defaults. Every key is a comma-separated list; `*` at the end of an
//! entry matches by prefix; an empty value clears the list.

use rule_sdk::{Config, IgnoreList, Patterns};

/// `allowed_users`: Falco's allowed users (kops, minikube, kubeadm, the
/// autoscalers, EKS's managed identities), plus every `system:` identity,
/// which Falco leaves out of this rule.
pub const DEFAULT_ALLOWED_USERS: &[&str] = &[
    "system:*",
    "minikube",
    "minikube-user",
    "kubelet",
    "kops",
    "admin",
    "kube",
    "kube-proxy",
    "kube-apiserver-healthcheck",
    "kubernetes-admin",
    "vpa-recommender",
    "vpa-updater",
    "cluster-autoscaler",
    "cloud-controller-manager",
    "eks:node-manager",
    "eks:certificate-controller",
    "eks:fargate-scheduler",
    "eks:k8s-metrics",
    "eks:authenticator",
    "eks:cluster-event-watcher",
    "eks:nodewatcher",
    "eks:pod-identity-mutating-webhook",
    "eks:cloud-controller-manager",
    "eks:vpc-resource-controller",
    "eks:addon-manager",
];

/// `full_admin_users`: the administrator accounts installers create.
pub const DEFAULT_FULL_ADMIN_USERS: &[&str] = &[
    "admin",
    "kubernetes-admin",
    "kubernetes-admin@kubernetes",
    "kubernetes-admin@cluster.local",
    "minikube-user",
];

/// `allowed_images`: every image, as Falco ships (the rule is off until
/// the operator lists trusted images or registries, e.g.
/// `registry.example.com/*`).
pub const DEFAULT_ALLOWED_IMAGES: &[&str] = &["*"];

/// `privileged_images`: repositories allowed to run privileged containers.
pub const DEFAULT_PRIVILEGED_IMAGES: &[&str] = &[
    "falcosecurity/falco",
    "docker.io/falcosecurity/falco",
    "public.ecr.aws/falcosecurity/falco",
    "docker.io/calico/node",
    "calico/node",
    "docker.io/cloudnativelabs/kube-router",
    "docker.io/docker/ucp-agent",
    "docker.io/mesosphere/mesos-slave",
    "docker.io/rook/toolbox",
    "docker.io/sysdig/sysdig",
    "gcr.io/google_containers/kube-proxy",
    "gcr.io/google-containers/startup-script",
    "gcr.io/projectcalico-org/node",
    "gke.gcr.io/kube-proxy",
    "gke.gcr.io/gke-metadata-server",
    "gke.gcr.io/netd-amd64",
    "gke.gcr.io/watcher-daemonset",
    "gcr.io/google-containers/prometheus-to-sd",
    "registry.k8s.io/ip-masq-agent-amd64",
    "registry.k8s.io/kube-proxy",
    "registry.k8s.io/prometheus-to-sd",
    "quay.io/calico/node",
    "sysdig/sysdig",
    "registry.k8s.io/dns/k8s-dns-node-cache",
    "mcr.microsoft.com/oss/kubernetes/kube-proxy",
];

/// `sensitive_mount_images`: repositories allowed to mount sensitive paths.
pub const DEFAULT_SENSITIVE_MOUNT_IMAGES: &[&str] = &[
    "falcosecurity/falco",
    "docker.io/falcosecurity/falco",
    "public.ecr.aws/falcosecurity/falco",
    "docker.io/sysdig/sysdig",
    "sysdig/sysdig",
    "gcr.io/google_containers/hyperkube",
    "gcr.io/google_containers/kube-proxy",
    "docker.io/calico/node",
    "docker.io/rook/toolbox",
    "docker.io/cloudnativelabs/kube-router",
    "docker.io/consul",
    "docker.io/datadog/docker-dd-agent",
    "docker.io/datadog/agent",
    "docker.io/docker/ucp-agent",
    "docker.io/gliderlabs/logspout",
    "docker.io/netdata/netdata",
    "docker.io/google/cadvisor",
    "docker.io/prom/node-exporter",
    "amazon/amazon-ecs-agent",
    "prom/node-exporter",
    "amazon/cloudwatch-agent",
    // Added to Falco's list: kubeadm's static pods mount /etc/kubernetes/pki.
    "registry.k8s.io/kube-apiserver",
    "registry.k8s.io/kube-controller-manager",
    "registry.k8s.io/kube-scheduler",
    "registry.k8s.io/etcd",
];

/// `sensitive_mount_paths`: host paths whose mount (or the mount of a
/// directory above them) gives away the node: Falco's list, plus anything
/// under the kubelet's directory (every pod's secrets are in
/// `/var/lib/kubelet/pods`), `/etc/kubernetes` (the cluster's PKI) and
/// root's home (`.kube/config`, `.ssh`).
pub const DEFAULT_SENSITIVE_MOUNT_PATHS: &[&str] = &[
    "/proc",
    "/var/run/docker.sock",
    "/",
    "/etc",
    "/root",
    "/var/run/crio/crio.sock",
    "/run/containerd/containerd.sock",
    "/home/admin",
    "/var/lib/kubelet",
    "/var/lib/kubelet/pki",
    "/etc/kubernetes",
    "/etc/kubernetes/manifests",
    "/var/lib/kubelet/*",
    "/etc/kubernetes/*",
    "/root/*",
];

/// `host_network_images`: repositories allowed to use the host network.
pub const DEFAULT_HOST_NETWORK_IMAGES: &[&str] = &[
    "gcr.io/google-containers/prometheus-to-sd",
    "gcr.io/projectcalico-org/typha",
    "gcr.io/projectcalico-org/node",
    "gke.gcr.io/gke-metadata-server",
    "gke.gcr.io/kube-proxy",
    "gke.gcr.io/netd-amd64",
    "registry.k8s.io/ip-masq-agent-amd64",
    "registry.k8s.io/prometheus-to-sd",
    // Added to Falco's list: the stock control plane's own host-network pods
    // (kubeadm's static pods and kube-proxy, Calico, kind's CNI), which the
    // pod rules now see since they look at pods whoever creates them.
    "registry.k8s.io/kube-proxy",
    "registry.k8s.io/kube-apiserver",
    "registry.k8s.io/kube-controller-manager",
    "registry.k8s.io/kube-scheduler",
    "registry.k8s.io/etcd",
    "docker.io/calico/node",
    "calico/node",
    "quay.io/calico/node",
    "docker.io/kindest/kindnetd",
];

/// `kube_namespaces`: the control-plane namespaces. Falco's two, and
/// kube-node-lease, which holds only the nodes' Lease objects: nothing of
/// the cluster's own runs there, so a pod there is hiding.
pub const DEFAULT_KUBE_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// `kube_namespace_images`: repositories expected in the kube namespaces.
pub const DEFAULT_KUBE_NAMESPACE_IMAGES: &[&str] = &[
    "gcr.io/google-containers/prometheus-to-sd",
    "gcr.io/projectcalico-org/node",
    "gke.gcr.io/addon-resizer",
    "gke.gcr.io/heapster",
    "gke.gcr.io/gke-metadata-server",
    "registry.k8s.io/ip-masq-agent-amd64",
    "registry.k8s.io/kube-apiserver",
    "gke.gcr.io/kube-proxy",
    "gke.gcr.io/netd-amd64",
    "gke.gcr.io/watcher-daemonset",
    "registry.k8s.io/addon-resizer",
    "registry.k8s.io/prometheus-to-sd",
    "registry.k8s.io/k8s-dns-dnsmasq-nanny-amd64",
    "registry.k8s.io/k8s-dns-kube-dns-amd64",
    "registry.k8s.io/k8s-dns-sidecar-amd64",
    "registry.k8s.io/metrics-server-amd64",
    "kope/kube-apiserver-healthcheck",
    // Added to Falco's list: the pods the stock control planes (kubeadm,
    // kind, MicroK8s, k3s) run in kube-system, which the pod rules now see
    // since they look at pods whoever creates them.
    "registry.k8s.io/kube-proxy",
    "registry.k8s.io/kube-apiserver",
    "registry.k8s.io/kube-controller-manager",
    "registry.k8s.io/kube-scheduler",
    "registry.k8s.io/etcd",
    "registry.k8s.io/coredns/coredns",
    "docker.io/coredns/coredns",
    "coredns/coredns",
    "registry.k8s.io/metrics-server/metrics-server",
    "docker.io/calico/node",
    "docker.io/calico/cni",
    "docker.io/calico/kube-controllers",
    "docker.io/kindest/kindnetd",
    "docker.io/rancher/mirrored-coredns-coredns",
    "rancher/mirrored-coredns-coredns",
    "docker.io/rancher/local-path-provisioner",
    "rancher/local-path-provisioner",
    "docker.io/rancher/mirrored-metrics-server",
    "rancher/mirrored-metrics-server",
    "docker.io/cdkbot/hostpath-provisioner",
    "cdkbot/hostpath-provisioner",
];

/// `known_service_accounts`: the controllers' own service accounts.
pub const DEFAULT_KNOWN_SERVICE_ACCOUNTS: &[&str] = &[
    "coredns",
    "coredns-autoscaler",
    "cronjob-controller",
    "daemon-set-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoint-controller",
    "endpointslice-controller",
    "endpointslicemirroring-controller",
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "job-controller",
    "namespace-controller",
    "node-controller",
    "persistent-volume-binder",
    "pod-garbage-collector",
    "pv-protection-controller",
    "pvc-protection-controller",
    "replicaset-controller",
    "resourcequota-controller",
    "root-ca-cert-publisher",
    "service-account-controller",
    "statefulset-controller",
];

/// `allowed_namespaces`: namespaces a user may create without an alert.
pub const DEFAULT_ALLOWED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "default"];

/// `configmap_credential_patterns`: words (matched without regard to case)
/// in a ConfigMap's keys or values that betray a credential: Falco's list,
/// plus AWS secret keys, API keys, access and auth tokens, and PEM private
/// keys (`-----BEGIN RSA PRIVATE KEY-----`).
pub const DEFAULT_CONFIGMAP_CREDENTIAL_PATTERNS: &[&str] = &[
    "aws_access_key_id",
    "aws-access-key-id",
    "aws_s3_access_key_id",
    "aws-s3-access-key-id",
    "password",
    "passphrase",
    "aws_secret_access_key",
    "aws-secret-access-key",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "auth_token",
    "private key-----",
];

/// `anonymous_allowed_paths`: request paths anonymous may reach (health).
pub const DEFAULT_ANONYMOUS_ALLOWED_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// `system_role_exceptions`: `system:` roles that change in normal operation.
pub const DEFAULT_SYSTEM_ROLE_EXCEPTIONS: &[&str] =
    &["system:coredns", "system:managed-certificate-controller"];

/// `admin_cluster_roles`: ClusterRoles a binding to is an alert.
pub const DEFAULT_ADMIN_CLUSTER_ROLES: &[&str] = &["cluster-admin"];

/// `allowed_nodes`: every node, as Falco ships (the node-join rules are off
/// until the operator lists the node names, e.g. `worker-*`).
pub const DEFAULT_ALLOWED_NODES: &[&str] = &["*"];

/// `secret_ignored_namespaces`: namespaces whose secrets' creation and
/// deletion are the control plane's business.
pub const DEFAULT_SECRET_IGNORED_NAMESPACES: &[&str] = &["kube-system"];

pub struct Settings {
    /// `ignore_users` (default: the control plane's identities of
    /// [`rule_sdk::control_plane`]), each ignored only with its component's
    /// user agent; `control_plane_distributions` and `control_plane_agents`
    /// shape the table.
    pub ignore_users: IgnoreList,
    pub allowed_users: Patterns,
    pub full_admin_users: Patterns,
    pub allowed_images: Patterns,
    pub privileged_images: Patterns,
    pub sensitive_mount_images: Patterns,
    pub sensitive_mount_paths: Vec<String>,
    pub host_network_images: Patterns,
    pub host_pid_images: Patterns,
    pub host_ipc_images: Patterns,
    pub kube_namespaces: Patterns,
    pub kube_namespace_images: Patterns,
    pub known_service_accounts: Patterns,
    pub allowed_namespaces: Patterns,
    pub configmap_credential_patterns: Vec<String>,
    pub anonymous_allowed_paths: Patterns,
    pub system_role_exceptions: Patterns,
    pub admin_cluster_roles: Patterns,
    pub allowed_nodes: Patterns,
    pub secret_ignored_namespaces: Patterns,
}

impl Settings {
    pub fn new(config: &Config) -> Self {
        Settings {
            ignore_users: IgnoreList::from_config(config),
            allowed_users: config.patterns("allowed_users", DEFAULT_ALLOWED_USERS),
            full_admin_users: config.patterns("full_admin_users", DEFAULT_FULL_ADMIN_USERS),
            allowed_images: config.patterns("allowed_images", DEFAULT_ALLOWED_IMAGES),
            privileged_images: config.patterns("privileged_images", DEFAULT_PRIVILEGED_IMAGES),
            sensitive_mount_images: config
                .patterns("sensitive_mount_images", DEFAULT_SENSITIVE_MOUNT_IMAGES),
            sensitive_mount_paths: config
                .list("sensitive_mount_paths", DEFAULT_SENSITIVE_MOUNT_PATHS)
                .iter()
                .map(|p| normalize_path(p))
                .collect(),
            host_network_images: config
                .patterns("host_network_images", DEFAULT_HOST_NETWORK_IMAGES),
            host_pid_images: config.patterns("host_pid_images", &[]),
            host_ipc_images: config.patterns("host_ipc_images", &[]),
            kube_namespaces: config.patterns("kube_namespaces", DEFAULT_KUBE_NAMESPACES),
            kube_namespace_images: config
                .patterns("kube_namespace_images", DEFAULT_KUBE_NAMESPACE_IMAGES),
            known_service_accounts: config
                .patterns("known_service_accounts", DEFAULT_KNOWN_SERVICE_ACCOUNTS),
            allowed_namespaces: config.patterns("allowed_namespaces", DEFAULT_ALLOWED_NAMESPACES),
            configmap_credential_patterns: config
                .list(
                    "configmap_credential_patterns",
                    DEFAULT_CONFIGMAP_CREDENTIAL_PATTERNS,
                )
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
            anonymous_allowed_paths: config
                .patterns("anonymous_allowed_paths", DEFAULT_ANONYMOUS_ALLOWED_PATHS),
            system_role_exceptions: config
                .patterns("system_role_exceptions", DEFAULT_SYSTEM_ROLE_EXCEPTIONS),
            admin_cluster_roles: config
                .patterns("admin_cluster_roles", DEFAULT_ADMIN_CLUSTER_ROLES),
            allowed_nodes: config.patterns("allowed_nodes", DEFAULT_ALLOWED_NODES),
            secret_ignored_namespaces: config.patterns(
                "secret_ignored_namespaces",
                DEFAULT_SECRET_IGNORED_NAMESPACES,
            ),
        }
    }

    /// The configured sensitive path `host_path` exposes.
    pub fn sensitive_path(&self, host_path: &str) -> Option<&str> {
        find_sensitive(&self.sensitive_mount_paths, host_path)
    }
}

/// The entry of `sensitive` that `host_path` exposes: the path itself, a
/// directory above it (mounting `/var/run` exposes `/var/run/docker.sock`),
/// or for a `prefix*` entry anything starting with the prefix.
fn find_sensitive<'a>(sensitive: &'a [String], host_path: &str) -> Option<&'a str> {
    let path = normalize_path(host_path);
    let exact = sensitive.iter().find(|s| match s.strip_suffix('*') {
        // `/dir/*` covers the directory itself too.
        Some(prefix) => path.starts_with(prefix) || prefix.strip_suffix('/') == Some(&path),
        None => **s == path,
    });
    exact
        .or_else(|| {
            sensitive
                .iter()
                .find(|s| !s.ends_with('*') && is_ancestor(&path, s))
        })
        .map(String::as_str)
}

/// `/var/run/` -> `/var/run`, `//etc//kubernetes` -> `/etc/kubernetes`;
/// `/` stays `/`. A trailing `*` (a prefix entry) is kept.
fn normalize_path(path: &str) -> String {
    let path = path.trim();
    let (body, star) = match path.strip_suffix('*') {
        Some(body) => (body, true),
        None => (path, false),
    };
    let parts: Vec<&str> = body
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut out = format!("/{}", parts.join("/"));
    if star {
        if body.ends_with('/') && out != "/" {
            out.push('/');
        }
        out.push('*');
    }
    out
}

/// True when `dir` is a strict ancestor directory of `path`.
fn is_ancestor(dir: &str, path: &str) -> bool {
    dir == "/" && path != "/"
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize_path("/var/run/"), "/var/run");
        assert_eq!(normalize_path("//etc//kubernetes/./"), "/etc/kubernetes");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/opt/secrets/*"), "/opt/secrets/*");
        assert_eq!(normalize_path("/opt/sec*"), "/opt/sec*");
    }

    #[test]
    fn sensitive_paths() {
        let defaults: Vec<String> = DEFAULT_SENSITIVE_MOUNT_PATHS
            .iter()
            .map(|p| normalize_path(p))
            .collect();
        for (host_path, want) in [
            ("/etc", Some("/etc")),
            ("/etc/", Some("/etc")),
            ("/var/run", Some("/var/run/docker.sock")),
            ("/run/containerd", Some("/run/containerd/containerd.sock")),
            ("/var/lib", Some("/var/lib/kubelet")),
            ("/", Some("/")),
            ("/proc", Some("/proc")),
            ("/var/lib/kubelet/pods", Some("/var/lib/kubelet/*")),
            ("/etc/kubernetes/pki/", Some("/etc/kubernetes/*")),
            ("/root/.kube", Some("/root/*")),
            // Below a sensitive directory is not flagged by itself (else
            // everything would be, under `/`).
            ("/etc/ssl/certs", None),
            ("/var/lib/kubelet-plugins", None),
            ("/var/log", None),
            ("/data/app", None),
            ("/procfs", None),
        ] {
            assert_eq!(find_sensitive(&defaults, host_path), want, "{host_path}");
        }
        let prefixed = vec![normalize_path("/opt/secrets/*")];
        assert_eq!(
            find_sensitive(&prefixed, "/opt/secrets/db"),
            Some("/opt/secrets/*")
        );
        assert_eq!(find_sensitive(&prefixed, "/opt/other"), None);
    }

    #[test]
    fn ancestors() {
        assert!(is_ancestor("/var/run", "/var/run/docker.sock"));
        assert!(is_ancestor("/", "/etc"));
        assert!(!is_ancestor("/var/r", "/var/run/docker.sock"));
        assert!(!is_ancestor("/etc", "/etc"));
        assert!(!is_ancestor("/var/log", "/var/run/docker.sock"));
    }
}
