//! Who reaches the API and how: failed authentication, refused requests,
//! attack tools' user agents, privileged impersonation, permission and
//! secret enumeration, kubelet endpoints reached through nodes/proxy.

use std::collections::VecDeque;

use rule_sdk::{Alerts, Event, Severity, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::{is_service_account, past};

/// The API server's health endpoints, which probes may call with any client.
const HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// Kubelet API paths that run code in a container.
const KUBELET_EXEC_PATHS: &[&str] = &["run/", "exec/", "attach/", "portForward/", "checkpoint/"];

/// How many 401 audit ids to remember, to count a failed request once even
/// when it is logged at two stages.
const RECENT_UNAUTHENTICATED: usize = 1024;

pub(crate) fn unauthenticated(recent: &mut VecDeque<String>, e: &Event, out: &mut Alerts) {
    if !matches!(
        e.stage.as_ref(),
        "ResponseStarted" | "ResponseComplete" | "Panic" | ""
    ) {
        return;
    }
    if !e.audit_id.is_empty() {
        if recent.iter().any(|id| *id == e.audit_id) {
            return;
        }
        if recent.len() >= RECENT_UNAUTHENTICATED {
            recent.pop_front();
        }
        recent.push_back(e.audit_id.to_string());
    }
    let message = e
        .response_status
        .as_ref()
        .map(|s| s.message.as_ref())
        .unwrap_or_default();
    out.raise(&REQUEST_UNAUTHENTICATED)
        .group(&[e.source_ip(), &e.user_agent])
        .audit_context()
        .field("request_uri", e.request_uri.as_ref())
        .field("message", message);
}

pub(crate) fn forbidden(s: &Settings, e: &Event, out: &mut Alerts) {
    if s.ignored_users.ignores(e) {
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
        .audit_context()
        .user_groups()
        .field("request_uri", e.request_uri.as_ref())
        .field("message", message);
    if service_account || anonymous {
        alert.severity(Severity::Medium);
    }
}

pub(crate) fn user_agent(s: &Settings, e: &Event, out: &mut Alerts) {
    let Some(matched) = s.suspicious_user_agents.find(&e.user_agent) else {
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
        .audit_context()
        .user_groups()
        .field("matched", matched)
        .field("request_uri", e.request_uri.as_ref());
}

pub(crate) fn impersonation(s: &Settings, e: &Event, out: &mut Alerts) {
    let Some(target) = e.impersonated_user.as_ref() else {
        return;
    };
    if s.ignored_users.ignores(e) {
        return;
    }
    let privileged_user = s.privileged_users.matches(&target.username);
    let privileged_groups: Vec<&str> = target
        .groups
        .iter()
        .filter(|g| s.privileged_groups.matches(g))
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
        .audit_context()
        .user_groups()
        .field("impersonated_groups", target.groups.join(","))
        .field("privileged_groups", privileged_groups.join(","));
}

/// Control-plane components never review their own rights, so
/// `ignore_users` does not apply: a stolen kube-system or node token's
/// first move is exactly this. `rbac_review_ignore_users` does.
pub(crate) fn self_review(s: &Settings, e: &Event, out: &mut Alerts) {
    if e.verb != "create" || s.rbac_review_ignore_users.matches(e.username()) {
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
        .audit_context()
        .user_groups()
        .field("review", e.resource())
        .field("review_namespace", scope)
        .field("question", question);
    if machine {
        alert.severity(Severity::Medium);
    }
}

pub(crate) fn secrets(s: &Settings, e: &Event, out: &mut Alerts) {
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
        .audit_context()
        .user_groups()
        .field("scope", scope)
        .field(
            "label_selector",
            e.query_param("labelSelector").unwrap_or_default(),
        )
        .field(
            "field_selector",
            e.query_param("fieldSelector").unwrap_or_default(),
        );
    if cluster_wide || s.system_namespaces.matches(e.namespace()) {
        alert.severity(Severity::High);
    }
}

pub(crate) fn node_proxy(s: &Settings, e: &Event, out: &mut Alerts) {
    let path = rule_sdk::uri::path(&e.request_uri);
    let proxied = path
        .split_once("/proxy")
        .map(|(_, p)| p.trim_start_matches('/'))
        .unwrap_or_default();
    if s.node_proxy_ignore_paths.matches(proxied) {
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
        .audit_context()
        .user_groups()
        .field("node", e.name())
        .field("kubelet_path", format!("/{proxied}"));
    if runs_code {
        alert.severity(Severity::High);
    }
}
