//! The detection logic of Falco's Kubernetes audit rules (the k8saudit
//! plugin's rule file) as one k8scop rule pack: risky pods (privileged,
//! host namespaces, sensitive host paths, untrusted images), exec, attach
//! and port-forward, RBAC escalation (wildcard, write and exec roles,
//! bindings to cluster-admin, system roles changed), credentials in
//! ConfigMaps, anonymous access, NodePort services, ingresses without TLS,
//! untrusted nodes, secret reads, and the stream of created and deleted
//! objects.
//!
//! Where this pack departs from Falco, on purpose:
//! - A request counts once, at the first stage that carries the API
//!   server's decision (the host folds the others): `ResponseStarted` for
//!   exec, attach and port-forward, as Falco, so an open shell alerts while
//!   it is open; `ResponseComplete` (or `Panic`) otherwise.
//! - A change counts only when the API server answered 2xx and it was not a
//!   dry run: a refused (403), conflicting (409) or invalid (422) create
//!   created nothing.
//! - Control-plane identities (`ignore_users`) are ignored by the access,
//!   object, role and activity rules, so cluster chatter raises nothing
//!   (Falco's activity rules fire on everyone); but only while the identity
//!   sends its component's user agent (the table of
//!   [`rule_sdk::control_plane`]): a controller's token used from kubectl is
//!   seen by every rule. The pod rules and the node-join rules look at
//!   everyone, control plane included.
//! - Pod rules look at every container kind (containers, initContainers,
//!   ephemeralContainers), at workloads' pod templates (created, updated or
//!   patched), at pods whoever creates them (the replicaset-controller's
//!   included, as Falco does) and at ephemeral containers added to running
//!   pods. One rollout is one alert: the alert groups on the namespace, the
//!   workload (the owner chain: a pod of ReplicaSet `web-7d4b9c8f5` and the
//!   ReplicaSet of Deployment `web` are `web`, see [`rule_sdk::owner`]) and
//!   the finding, so the Deployment, its ReplicaSet and its pods aggregate
//!   into one alert that counts them. Image exceptions hold per offending
//!   container.
//! - Role rules look at updates and patches too, and follow RBAC's matching
//!   (`*` verbs grant write; `*` and `*/exec` resources grant pods/exec).
//!   Any verb on pods/exec, pods/attach or pods/portforward is exec (a
//!   WebSocket exec is a GET; `get` alone grants it before Kubernetes 1.31).
//! - The trusted-image lists add the stock control planes' own kube-system
//!   pods (kubeadm's static pods, kube-proxy, CoreDNS, Calico, kindnet,
//!   MicroK8s' and k3s' add-ons) to Falco's: the pod rules see those pods
//!   now, and they are what a cluster runs in kube-system by design.
//! - `full-admin-access` is on by default: Falco ships "Full K8s
//!   Administrative Access" disabled (its `allowed_full_admin_users` macro
//!   is always true); a shared installer admin account (`kubernetes-admin`,
//!   `minikube-user`) in use is worth an alert. Clear `full_admin_users` to
//!   turn it off.
//! - Rules that need the request body (pod specs, roles, bindings,
//!   ConfigMap data, service type, ingress TLS) stay silent at `Metadata`
//!   level, where the body is not logged. They read a JSON patch
//!   (`kubectl patch --type=json`) as what its operations write.
//! - Falco's disabled "All K8s Audit Events" debug rule is not here.
//!
//! Configuration (all optional; comma-separated lists, `*` at the end of an
//! entry matches by prefix, an empty value clears a list); the defaults are
//! Falco's lists, see [`settings`]:
//! - `ignore_users`: identities the access, object, role and activity
//!   rules do not look at (default: the control plane and nodes), each only
//!   while it sends its component's user agent.
//! - `control_plane_distributions`, `control_plane_agents`: the table of
//!   control-plane components and their agents (see
//!   [`rule_sdk::control_plane`]).
//! - `allowed_users`: users `disallowed-user` accepts (Falco's list and `system:*`).
//! - `full_admin_users`: the accounts `full-admin-access` reports.
//! - `allowed_images`: images or registries allowed (`*`: rule off).
//! - `privileged_images`, `sensitive_mount_images`, `host_network_images`,
//!   `host_pid_images`, `host_ipc_images`, `kube_namespace_images`: image
//!   repositories excepted from the matching rule.
//! - `sensitive_mount_paths`: sensitive host paths (a mount of a directory
//!   above one counts too).
//! - `kube_namespaces`, `known_service_accounts`: control-plane namespaces
//!   and the controllers' service accounts in them.
//! - `allowed_namespaces`: namespaces that may be created without an alert.
//! - `configmap_credential_patterns`: words betraying a credential.
//! - `anonymous_allowed_paths`: paths anonymous may reach (health checks).
//! - `system_role_exceptions`: `system:` roles that change normally.
//! - `admin_cluster_roles`: ClusterRoles a binding to is reported.
//! - `allowed_nodes`: node names allowed to join (`*`: rules off).
//! - `secret_ignored_namespaces`: where secret creation and deletion are
//!   not reported.

mod access;
mod activity;
mod nodes;
mod objects;
mod roles;
pub mod rules;
pub mod settings;
mod workloads;

use rule_sdk::{Alerts, Config, Doc, Event, Pack, RaisedAlert, Rule, export_pack};

pub use rules::*;
use settings::Settings;

const PACK: &str = "k8scop-falco";

pub struct Falco {
    settings: Settings,
}

impl Pack for Falco {
    const NAME: &'static str = PACK;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const RULES: &'static [&'static Rule] = rules::ALL;
    // Each alert depends on its event alone: the host may run several
    // instances side by side.
    const STATELESS: bool = true;

    fn new(config: &Config) -> Self {
        Falco {
            settings: Settings::new(config),
        }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        if let Some(e) = doc.audit() {
            self.on_audit(e, out);
        }
    }
}

impl Falco {
    fn on_audit(&self, e: &Event, out: &mut Alerts) {
        // The host hands over each request once, at the stage that decided
        // it (ResponseStarted for an exec); RequestReceived has no answer.
        if !e.carries_decision() {
            return;
        }
        let s = &self.settings;
        // Nodes register themselves, under identities ignored below.
        nodes::check(s, e, out);
        // A dry run changes nothing.
        let dry_run = e.has_query_param("dryRun");
        // What a pod runs matters whoever created it: the pod the
        // replicaset-controller creates is the one that runs.
        if !dry_run {
            workloads::check(s, e, out);
        }
        if s.ignore_users.ignores(e) {
            return;
        }
        access::check(s, e, out);
        if dry_run {
            return;
        }
        objects::check(s, e, out);
        roles::check(s, e, out);
        activity::check(s, e, out);
    }
}

/// Raise `rule` for `e` with the fields every alert of this pack carries:
/// who (user, impersonated user, groups), from where, what object, the
/// answer and the authorizer's reason.
pub(crate) fn alert<'a>(
    out: &'a mut Alerts,
    rule: &Rule,
    e: &Event,
    group: &[&str],
) -> RaisedAlert<'a> {
    let mut alert = out.raise(rule).group(group).audit_context();
    if e.name().is_empty() {
        alert = alert.field("name", object_name(e));
    }
    alert.user_groups().field(
        "authorization_reason",
        e.annotation("authorization.k8s.io/reason")
            .unwrap_or_default(),
    )
}

/// The object's name: the objectRef's, else the one the response or the
/// request carries (a create with `generateName` has no name until the
/// API server picks one).
pub(crate) fn object_name<'e>(e: &'e Event) -> &'e str {
    [
        Some(e.name()),
        e.response_str("/metadata/name"),
        e.request_str("/metadata/name"),
        e.request_str("/metadata/generateName"),
    ]
    .into_iter()
    .flatten()
    .find(|n| !n.is_empty())
    .unwrap_or("")
}

/// True when `e` is on `resource` itself (no subresource) of one of the
/// API `groups` (`""` is the core group).
pub(crate) fn is_resource(e: &Event, resource: &str, groups: &[&str]) -> bool {
    e.resource() == resource && e.subresource().is_empty() && groups.contains(&e.api_group())
}

pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

export_pack!(Falco);

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rule_sdk::EventKind;
    use rule_sdk::native::NativePack;

    use super::*;

    #[test]
    fn rules_are_named_tagged_and_unique() {
        let info = NativePack::<Falco>::describe();
        assert_eq!(info.name, PACK);
        assert_eq!(info.rules.len(), rules::ALL.len());
        let mut ids = HashSet::new();
        for rule in &info.rules {
            assert!(ids.insert(rule.id.clone()), "duplicate id {}", rule.id);
            let name = rule.id.strip_prefix("k8scop-falco/").expect("pack prefix");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not kebab-case",
                rule.id
            );
            assert!(
                !rule.title.is_empty() && rule.description.len() > 40,
                "{}",
                rule.id
            );
            let tags = &rule.tags;
            assert!(
                tags.iter().any(|t| t.starts_with("attack.t")),
                "{} has no ATT&CK technique",
                rule.id
            );
            assert!(
                tags.iter()
                    .any(|t| t.starts_with("attack.") && !t.starts_with("attack.t")),
                "{} has no ATT&CK tactic",
                rule.id
            );
        }
    }

    /// The same pack natively: a privileged pod raises one alert whose
    /// fields name the container; the same request at Metadata level none.
    #[test]
    fn privileged_pod_natively() {
        let full = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
            "stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/default/pods",
            "user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"default","name":"x"},
            "responseStatus":{"code":201},"stageTimestamp":"2024-03-01T10:00:00Z",
            "requestObject":{"kind":"Pod","spec":{"containers":[
              {"name":"ok","image":"nginx"},
              {"name":"root","image":"alpine","securityContext":{"privileged":true}}]}}}"#;
        let mut metadata: serde_json::Value = serde_json::from_str(full).unwrap();
        metadata["level"] = "Metadata".into();
        metadata.as_object_mut().unwrap().remove("requestObject");
        let metadata = metadata.to_string();
        let mut pack = NativePack::<Falco>::new(&[("allowed_users", "alice")]);
        let alerts = pack.evaluate([
            (EventKind::Audit, full),
            (EventKind::Audit, metadata.as_str()),
        ]);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].rule_id, PRIVILEGED_POD.id);
        assert_eq!(alerts[0].event_index, 0);
        let field = |k: &str| {
            alerts[0]
                .fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("container"), Some("root"));
        assert_eq!(field("image"), Some("alpine"));
        assert_eq!(alerts[0].group_key, "default|x|root");
    }
}
