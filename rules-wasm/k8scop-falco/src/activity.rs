//! The stream of created and deleted objects (Falco's "activity" rules):
//! deployments, services, configmaps, namespaces, service accounts, roles,
//! cluster roles, their bindings and secrets.

use rule_sdk::{Alerts, Event, Rule};

use crate::rules::*;
use crate::settings::Settings;
use crate::{RBAC_GROUP, alert, is_resource, object_name};

/// Resource, its API groups, the rules for create and for delete.
const ACTIVITY: &[(&str, &[&str], &Rule, &Rule)] = &[
    (
        "deployments",
        &["apps", "extensions"],
        &DEPLOYMENT_CREATED,
        &DEPLOYMENT_DELETED,
    ),
    ("services", &[""], &SERVICE_CREATED, &SERVICE_DELETED),
    ("configmaps", &[""], &CONFIGMAP_CREATED, &CONFIGMAP_DELETED),
    ("namespaces", &[""], &NAMESPACE_CREATED, &NAMESPACE_DELETED),
    (
        "serviceaccounts",
        &[""],
        &SERVICE_ACCOUNT_CREATED,
        &SERVICE_ACCOUNT_DELETED,
    ),
    ("roles", &[RBAC_GROUP], &ROLE_CREATED, &ROLE_DELETED),
    (
        "clusterroles",
        &[RBAC_GROUP],
        &CLUSTER_ROLE_CREATED,
        &CLUSTER_ROLE_DELETED,
    ),
    (
        "rolebindings",
        &[RBAC_GROUP],
        &ROLE_BINDING_CREATED,
        &ROLE_BINDING_DELETED,
    ),
    (
        "clusterrolebindings",
        &[RBAC_GROUP],
        &CLUSTER_ROLE_BINDING_CREATED,
        &CLUSTER_ROLE_BINDING_DELETED,
    ),
    ("secrets", &[""], &SECRET_CREATED, &SECRET_DELETED),
];

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    let created = match e.verb.as_ref() {
        "create" => true,
        "delete" => false,
        _ => return,
    };
    if !e.succeeded() {
        return;
    }
    let Some(&(resource, _, on_create, on_delete)) = ACTIVITY
        .iter()
        .find(|(resource, groups, _, _)| is_resource(e, resource, groups))
    else {
        return;
    };
    if resource == "secrets" && !secret_counts(s, e, created) {
        return;
    }
    // What a new role or binding grants, when the body was logged.
    let mut grants: Vec<(&str, String)> = Vec::new();
    if created && resource.ends_with("roles") {
        if let Some(role) = e.request_role() {
            let rules: Vec<String> = role.rules.iter().map(|r| r.to_string()).collect();
            grants.push(("rules", rules.join("; ")));
        }
    } else if created
        && resource.ends_with("bindings")
        && let Some(b) = e.request_binding()
    {
        grants.push(("role", format!("{}/{}", b.role_ref.kind, b.role_ref.name)));
        grants.push(("subjects", b.subjects_text()));
    }
    let rule = if created { on_create } else { on_delete };
    let name = object_name(e);
    let mut raised = alert(out, rule, e, &[e.username(), e.namespace(), name]);
    for (key, value) in grants {
        raised = raised.field(key, value);
    }
}

/// Secrets of the control plane's namespaces and service-account token
/// secrets (the token controller's business) are left out.
fn secret_counts(s: &Settings, e: &Event, created: bool) -> bool {
    if s.secret_ignored_namespaces.matches(e.namespace()) {
        return false;
    }
    let token_type = "kubernetes.io/service-account-token";
    !(created && e.request_str("/type") == Some(token_type))
}
