//! Rules on who reaches what: unknown and default-admin users, anonymous
//! access, exec / attach / port-forward into pods, secret reads.

use rule_sdk::{Alerts, Event, uri};

use crate::rules::*;
use crate::settings::Settings;
use crate::{alert, is_resource};

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    let user = e.username();
    if !s.allowed_users.matches(user) {
        alert(out, &DISALLOWED_USER, e, &[user]).field("uri", e.request_uri.as_ref());
    }
    if s.full_admin_users.matches(user) {
        alert(out, &FULL_ADMIN_ACCESS, e, &[user]).field("uri", e.request_uri.as_ref());
    }
    anonymous_allowed(s, e, out);
    match (e.resource(), e.subresource(), e.verb.as_ref()) {
        ("pods", sub @ ("exec" | "attach"), "create" | "get") if e.was_allowed() => {
            let container = e.query_param("container").unwrap_or_default();
            let command = e.query_param("command").unwrap_or_default();
            alert(
                out,
                &POD_EXEC_ATTACH,
                e,
                &[user, e.namespace(), e.name(), sub, &container, &command],
            )
            .field("pod", e.name())
            .field("action", sub)
            .field("container", container)
            .field("command", command);
        }
        ("pods", "portforward", "create" | "get") if e.was_allowed() => {
            let ports = e.query_param("ports").unwrap_or_default();
            alert(out, &POD_PORT_FORWARD, e, &[user, e.namespace(), e.name()])
                .field("pod", e.name())
                .field("ports", ports);
        }
        _ => {}
    }
    if e.verb == "get" && is_resource(e, "secrets", &[""]) {
        let group = [user, e.namespace(), e.name()];
        match e.response_code() {
            Some(200..=299) => {
                alert(out, &SECRET_GET, e, &group);
            }
            Some(_) => {
                alert(out, &SECRET_GET_FAILED, e, &group).field(
                    "response_reason",
                    e.response_status.as_ref().map_or("", |s| s.reason.as_ref()),
                );
            }
            None => {}
        }
    }
}

fn anonymous_allowed(s: &Settings, e: &Event, out: &mut Alerts) {
    if e.username() != "system:anonymous"
        || e.annotation("authorization.k8s.io/decision") != Some("allow")
    {
        return;
    }
    let path = uri::path(&e.request_uri);
    if s.anonymous_allowed_paths.matches(path) {
        return;
    }
    alert(
        out,
        &ANONYMOUS_REQUEST_ALLOWED,
        e,
        &[e.source_ip(), &e.verb, path],
    )
    .field("uri", e.request_uri.as_ref());
}
