//! Changes to objects that steer or watch the cluster: admission webhooks,
//! events deleted, CronJobs and Jobs, logging tampered with, critical
//! ConfigMaps, role bindings.

use std::collections::BTreeSet;

use rule_sdk::{Alerts, Event, Severity, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::{images, is_service_account, past, qualified, singular, str_at};

pub(crate) fn webhook(e: &Event, out: &mut Alerts) {
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
        .audit_context()
        .user_groups()
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

pub(crate) fn logging(s: &Settings, e: &Event, out: &mut Alerts) {
    let deleting = matches!(e.verb.as_ref(), "delete" | "deletecollection");
    let changing = matches!(e.verb.as_ref(), "update" | "patch");
    let (what, hit) = match (e.resource(), e.subresource()) {
        ("auditsinks", _) => ("audit sink", deleting || changing),
        ("namespaces", "") => (
            "namespace",
            deleting && s.logging_components.matches(e.name()),
        ),
        ("configmaps", "") => (
            "configuration",
            (deleting || changing) && s.logging_components.matches(e.name()),
        ),
        (_, "scale") => (
            "scaled to zero",
            changing && scaled_to_zero(e) && s.logging_components.matches(e.name()),
        ),
        (r, "") if is_workload(r) => (
            "workload",
            deleting && s.logging_components.matches(e.name()),
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
        .audit_context()
        .user_groups()
        .field("component", e.name())
        .field("tampering", what);
}

pub(crate) fn critical_configmap(s: &Settings, e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "update" | "patch" | "delete")
        || !s.critical_configmaps.matches(e.name())
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
        .audit_context()
        .user_groups()
        .field("configmap", e.name())
        .field("data_keys", keys);
}

pub(crate) fn events_deleted(e: &Event, out: &mut Alerts) {
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
        .audit_context()
        .user_groups()
        .field("scope", scope)
        .field(
            "field_selector",
            e.query_param("fieldSelector").unwrap_or_default(),
        );
}

pub(crate) fn cronjob(e: &Event, out: &mut Alerts) {
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
        .audit_context()
        .user_groups()
        .field("kind", kind)
        .field("schedule", schedule)
        .field("image", spec.as_ref().map(images).unwrap_or_default())
        .field("command", command);
}

/// Subjects everyone (or anyone with a credential) is.
const EVERYONE: &[(&str, &str)] = &[
    ("User", "system:anonymous"),
    ("Group", "system:unauthenticated"),
    ("Group", "system:authenticated"),
];

pub(crate) fn binding(e: &Event, out: &mut Alerts) {
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
        .audit_context()
        .user_groups()
        .field("binding", e.name())
        .field("role", role)
        .field("subjects", subjects)
        .field("everyone_subjects", everyone.join(", "));
}

/// A service account wrote RBAC. The control plane's controllers (the
/// ClusterRole aggregator, the garbage collector) are spared by the ignore
/// list before this is asked; the operator's GitOps and operator accounts
/// by `rbac_writer_service_accounts`.
pub(crate) fn service_account_rbac_write(s: &Settings, e: &Event, out: &mut Alerts) {
    let user = e.username();
    if !is_service_account(user)
        || !matches!(
            e.verb.as_ref(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
        || s.rbac_writer_service_accounts.matches(user)
    {
        return;
    }
    let kind = singular(e.resource());
    let object = qualified(e.namespace(), e.name());
    // A deletecollection names no object: the namespace's (or cluster's) all.
    let what = match (e.name(), e.namespace()) {
        ("", "") => format!("every {kind}"),
        ("", ns) => format!("every {kind} in {ns}"),
        _ => format!("{kind} {object}"),
    };
    out.raise(&SERVICE_ACCOUNT_RBAC_WRITE)
        .title(format!("{} {what} as {user}", past(&e.verb)))
        .group(&[user, e.resource(), e.namespace(), e.name()])
        .audit_context()
        .user_groups()
        .field("kind", kind)
        .field("object", object);
}

/// A scale change whose body sets the replicas to zero.
fn scaled_to_zero(e: &Event) -> bool {
    e.request_object()
        .and_then(|b| b.get("spec"))
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64)
        == Some(0)
}
