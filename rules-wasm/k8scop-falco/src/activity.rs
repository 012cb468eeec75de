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
    let created = match e.verb.as_str() {
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
    let rule = if created { on_create } else { on_delete };
    let name = object_name(e);
    let raised = alert(out, rule, e, &[e.username(), e.namespace(), name]);
    // What the new object grants, when the body was logged.
    if created {
        if let Some(role) = e.request_role().filter(|_| resource.ends_with("roles")) {
            let rules: Vec<String> = role.rules.iter().map(|r| r.to_string()).collect();
            raised.field("rules", rules.join("; "));
        } else if let Some(b) = e
            .request_binding()
            .filter(|_| resource.ends_with("bindings"))
        {
            raised
                .field("role", format!("{}/{}", b.role_ref.kind, b.role_ref.name))
                .field("subjects", b.subjects_text());
        }
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
