//! Nodes joining the cluster. A kubelet registers its own Node object, as
//! `system:node:<name>`, an identity every other rule ignores; so these
//! rules look before the ignore list and rely on `allowed_nodes` alone.

use rule_sdk::{Alerts, Event};

use crate::rules::*;
use crate::settings::Settings;
use crate::{alert, is_resource, object_name};

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    if e.verb != "create" || !is_resource(e, "nodes", &[""]) || e.has_query_param("dryRun") {
        return;
    }
    let node = object_name(e);
    if s.allowed_nodes.matches(node) {
        return;
    }
    let rule = match e.response_code() {
        Some(200..=299) => &UNTRUSTED_NODE_JOINED,
        Some(_) => &UNTRUSTED_NODE_JOIN_FAILED,
        None => return,
    };
    alert(out, rule, e, &[node, e.username()])
        .field("node", node)
        .field(
            "response_reason",
            e.response_status.as_ref().map_or("", |s| s.reason.as_ref()),
        );
}
