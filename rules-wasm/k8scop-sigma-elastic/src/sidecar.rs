//! Containers added to a running workload (a sidecar injected), told from
//! the workload's last known containers.

use rule_sdk::{Alerts, Event, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::singular;
use crate::workloads::{self, NamedContainer, WorkloadContainers};

/// Track workload containers and flag ones a change adds.
pub(crate) fn workload_change(
    s: &Settings,
    workloads: &mut WorkloadContainers,
    e: &Event,
    out: &mut Alerts,
) {
    let resource = e.resource();
    if !matches!(
        resource,
        "deployments" | "daemonsets" | "statefulsets" | "replicasets"
    ) {
        return;
    }
    let key = WorkloadContainers::key(resource, e.namespace(), e.name());
    if matches!(e.verb.as_ref(), "delete") {
        workloads.forget(&key);
        return;
    }
    if !matches!(e.verb.as_ref(), "create" | "update" | "patch") {
        return;
    }
    // The whole object after the change: any response, or an update's
    // or a create's request (a patch's request is only the patch).
    let full = e
        .response_object()
        .and_then(workloads::template_spec)
        .or_else(|| {
            (e.verb != "patch")
                .then(|| e.request_object().and_then(workloads::template_spec))
                .flatten()
        });
    let mut added: Vec<NamedContainer> = Vec::new();
    let mut evidence = "";
    if let Some(template) = full {
        let now = workloads::named_containers(template);
        if let Some(new) = workloads.observe(&key, &now) {
            added = new;
            evidence = "compared with the workload's last known containers";
        }
    } else if e.verb == "patch" {
        match e.request_object() {
            Some(Value::Array(ops)) => {
                added = workloads::added_by_json_patch(ops);
                evidence = "JSON patch adds a container";
            }
            Some(patch) => {
                if let Some(template) = workloads::template_spec(patch) {
                    let patched = workloads::named_containers(template);
                    match workloads.names(&key) {
                        Some(known) => {
                            added = patched
                                .iter()
                                .filter(|c| !known.contains(&c.name))
                                .cloned()
                                .collect();
                            evidence = "patch names a container the workload did not have";
                        }
                        None => {
                            added = workloads::fully_defined_in_patch(template);
                            evidence = "patch defines a whole container";
                        }
                    }
                    workloads.merge(&key, &patched);
                }
            }
            None => {}
        }
    }
    if e.verb == "create" || added.is_empty() || s.ignored_users.ignores(e) {
        return;
    }
    let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = added.iter().map(|c| c.image.as_str()).collect();
    let kinds: Vec<&str> = added.iter().map(|c| c.kind).collect();
    let names = names.join(",");
    out.raise(&SIDECAR_INJECTED)
        .title(format!(
            "Container {names} added to {} {}/{}",
            singular(resource),
            e.namespace(),
            e.name()
        ))
        .group(&[e.username(), e.namespace(), e.name(), &names])
        .audit_context()
        .user_groups()
        .field("workload", format!("{}/{}", singular(resource), e.name()))
        .field("container", names.as_str())
        .field("container_kind", kinds.join(","))
        .field("image", images.join(","))
        .field("evidence", evidence);
}
