//! Rule 2: an identity changes RBAC (a Role, ClusterRole or one of their
//! bindings) and shortly after changes a workload: granting itself (or a
//! service account) rights and then running something that uses them.

use std::collections::VecDeque;

use rule_sdk::time::format_rfc3339;
use rule_sdk::{Alerts, Event};

use crate::identity::in_cluster;
use crate::text::{sample, seconds};
use crate::windows::{IdentityWindows, Windowed};

/// RBAC changes remembered per identity within the window (the latest ones).
pub const MAX_RBAC_CHANGES: usize = 8;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
pub const RBAC_RESOURCES: &[&str] = &[
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
];
/// Workloads as (API group, resource). `pods/ephemeralcontainers` also
/// counts: it adds a container to a running pod.
pub const WORKLOADS: &[(&str, &str)] = &[
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];
const CHANGE_VERBS: &[&str] = &["create", "update", "patch"];

pub struct RbacThenWorkload {
    pub(crate) by_user: IdentityWindows<VecDeque<RbacChange>>,
}

pub(crate) struct RbacChange {
    at: i64,
    verb: String,
    resource: String,
    namespace: String,
    name: String,
    /// Who the change was made as, when impersonating.
    impersonated: String,
}

impl Windowed for VecDeque<RbacChange> {
    fn newest(&self) -> Option<i64> {
        self.back().map(|c| c.at)
    }
}

impl RbacThenWorkload {
    pub fn new(window_ms: i64, max_identities: usize) -> Self {
        RbacThenWorkload {
            by_user: IdentityWindows::new(window_ms, max_identities),
        }
    }

    pub fn observe(&mut self, e: &Event, at: i64, now: i64, out: &mut Alerts) {
        let window = self.by_user.advance_to(now);
        if !is_change(e) {
            return;
        }
        let user = in_cluster(e, e.username());
        if e.api_group() == RBAC_GROUP && RBAC_RESOURCES.contains(&e.resource()) {
            if !e.subresource().is_empty() {
                return;
            }
            let changes = self.by_user.entry(&user, VecDeque::new);
            if changes.len() >= MAX_RBAC_CHANGES {
                changes.pop_front();
            }
            changes.push_back(RbacChange {
                at,
                verb: e.verb.to_string(),
                resource: e.resource().to_string(),
                namespace: e.namespace().to_string(),
                name: e.name().to_string(),
                impersonated: e
                    .impersonated_user
                    .as_ref()
                    .map(|u| u.username.to_string())
                    .unwrap_or_default(),
            });
            return;
        }
        if !is_workload(e) {
            return;
        }
        let Some(changes) = self.by_user.get_mut(&user) else {
            return;
        };
        while changes.front().is_some_and(|c| c.at < at - window) {
            changes.pop_front();
        }
        // Only changes made before this workload change.
        let earlier: Vec<&RbacChange> = changes.iter().filter(|c| c.at <= at).collect();
        let Some(rbac) = earlier.last() else {
            return;
        };
        let object = |resource: &str, namespace: &str, name: &str| match (namespace, name) {
            (_, "") => resource.to_string(),
            ("", name) => format!("{resource} {name}"),
            (ns, name) => format!("{resource} {ns}/{name}"),
        };
        let rbac_object = object(&rbac.resource, &rbac.namespace, &rbac.name);
        let workload_object = object(&e.resource_path(), e.namespace(), e.name());
        let images = e
            .request_pod_spec()
            .map(|spec| {
                let images: Vec<String> = spec
                    .all_containers()
                    .map(|(_, c)| c.image.clone())
                    .collect();
                sample(&images, images.len(), ", ")
            })
            .unwrap_or_default();
        out.raise(&crate::RBAC_THEN_WORKLOAD)
            .title(format!(
                "{} changed {rbac_object}, then {workload_object} {} s later",
                e.username(),
                seconds(at - rbac.at)
            ))
            .group(&[e.username(), &rbac.resource, &rbac.namespace, &rbac.name])
            .audit_context()
            .field("workload", workload_object)
            .field("images", images)
            .field("rbac_object", rbac_object)
            .field("rbac_verb", rbac.verb.as_str())
            .field("rbac_resource", rbac.resource.as_str())
            .field("rbac_namespace", rbac.namespace.as_str())
            .field("rbac_name", rbac.name.as_str())
            .field("rbac_impersonated_user", rbac.impersonated.as_str())
            .field("rbac_at", format_rfc3339(rbac.at))
            .field("gap_seconds", seconds(at - rbac.at))
            .field("window_seconds", seconds(window))
            .field("rbac_changes", earlier.len().to_string())
            .field(
                "rbac_changes_sample",
                sample(
                    earlier.iter().rev().map(|c| {
                        format!("{} {}", c.verb, object(&c.resource, &c.namespace, &c.name))
                    }),
                    earlier.len(),
                    "; ",
                ),
            );
    }
}

/// A create, update or patch the API server carried out: answered 2xx and
/// not a dry run.
fn is_change(e: &Event) -> bool {
    CHANGE_VERBS.contains(&e.verb.as_ref()) && e.succeeded() && !e.has_query_param("dryRun")
}

fn is_workload(e: &Event) -> bool {
    let subresource_ok = match e.subresource() {
        "" => true,
        "ephemeralcontainers" => e.resource() == "pods",
        _ => false,
    };
    subresource_ok && WORKLOADS.contains(&(e.api_group(), e.resource()))
}
