//! RBAC escalation: roles granting wildcards, writes or exec, bindings to
//! cluster-admin, `system:` roles changed.

use rule_sdk::rbac::{PolicyRule, Role};
use rule_sdk::{Alerts, Event, Rule};

use crate::rules::*;
use crate::settings::Settings;
use crate::{RBAC_GROUP, alert, is_resource, object_name};

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    if !e.succeeded() {
        return;
    }
    let verb = e.verb.as_ref();
    let is_role =
        is_resource(e, "roles", &[RBAC_GROUP]) || is_resource(e, "clusterroles", &[RBAC_GROUP]);
    let is_binding = is_resource(e, "rolebindings", &[RBAC_GROUP])
        || is_resource(e, "clusterrolebindings", &[RBAC_GROUP]);
    if is_role && matches!(verb, "create" | "update" | "patch" | "delete") {
        system_role_modified(s, e, out);
    }
    if is_role && matches!(verb, "create" | "update" | "patch") {
        role_rules(e, out);
    }
    if is_binding && verb == "create" {
        admin_binding(s, e, out);
    }
}

fn system_role_modified(s: &Settings, e: &Event, out: &mut Alerts) {
    let name = object_name(e);
    if name.starts_with("system:") && !s.system_role_exceptions.matches(name) {
        alert(
            out,
            &SYSTEM_ROLE_MODIFIED,
            e,
            &[e.username(), e.namespace(), name, &e.verb],
        )
        .field("role", name);
    }
}

/// The wildcard, write and exec rules, each reported with the policy rules
/// that grant it.
fn role_rules(e: &Event, out: &mut Alerts) {
    // The rules are in the request body (an object, or a JSON patch's
    // operations), absent at Metadata level.
    let Some(role) = e.request_written().and_then(|o| Role::from_object(&o)) else {
        return;
    };
    let wildcard: Vec<&PolicyRule> = role
        .rules
        .iter()
        .filter(|r| r.has_wildcard_verb() || r.has_wildcard_resource())
        .collect();
    let write: Vec<&PolicyRule> = role
        .rules
        .iter()
        .filter(|r| !r.write_verbs().is_empty())
        .collect();
    // Any verb on pods/exec, pods/attach or pods/portforward: a WebSocket
    // exec is a GET, and `get` alone grants it before Kubernetes 1.31 (or
    // with AuthorizePodWebsocketUpgradeCreatePermission off), as in Falco.
    let exec: Vec<&PolicyRule> = role
        .rules
        .iter()
        .filter(|r| !r.exec_subresources().is_empty())
        .collect();
    let mut exec_subresources: Vec<&str> =
        exec.iter().flat_map(|r| r.exec_subresources()).collect();
    exec_subresources.sort_unstable();
    exec_subresources.dedup();
    let mut write_verbs: Vec<&str> = write.iter().flat_map(|r| r.write_verbs()).collect();
    write_verbs.sort_unstable();
    write_verbs.dedup();
    let exec_subresources = exec_subresources.join(",");
    for (rule, granting, verbs, subresources) in [
        (&ROLE_WITH_WILDCARD, &wildcard, "", ""),
        (
            &ROLE_WITH_WRITE_PRIVILEGES,
            &write,
            &write_verbs.join(",")[..],
            "",
        ),
        (&ROLE_WITH_POD_EXEC, &exec, "", &exec_subresources[..]),
    ] {
        if !granting.is_empty() {
            role_alert(out, rule, e)
                .field("rules", describe(granting))
                .field("write_verbs", verbs)
                .field("exec_subresources", subresources);
        }
    }
}

fn role_alert<'a>(out: &'a mut Alerts, rule: &Rule, e: &Event) -> rule_sdk::RaisedAlert<'a> {
    let name = object_name(e);
    alert(out, rule, e, &[e.username(), e.namespace(), name]).field("role", name)
}

fn describe(rules: &[&PolicyRule]) -> String {
    let parts: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    parts.join("; ")
}

fn admin_binding(s: &Settings, e: &Event, out: &mut Alerts) {
    // roleRef and subjects are in the request body, absent at Metadata level.
    let Some(binding) = e.request_binding() else {
        return;
    };
    let role = &binding.role_ref;
    if role.kind != "ClusterRole" || !s.admin_cluster_roles.matches(&role.name) {
        return;
    }
    let name = object_name(e);
    alert(
        out,
        &CLUSTER_ADMIN_BINDING,
        e,
        &[e.username(), e.namespace(), name],
    )
    .field("binding", name)
    .field("role", role.name.as_str())
    .field("subjects", binding.subjects_text());
}
