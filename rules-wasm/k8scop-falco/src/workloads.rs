//! Rules on pod specs: privileged containers, host namespaces, sensitive
//! host paths, untrusted images, pods in the kube namespaces, ephemeral
//! containers.

use rule_sdk::image::repository;
use rule_sdk::{Alerts, Container, ContainerKind, Event, Patterns, PodSpec};

use crate::rules::*;
use crate::settings::Settings;
use crate::{alert, object_name};

/// Where the pod spec of a request comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A pod created directly.
    Pod,
    /// A workload's pod template, created or changed.
    Workload,
    /// Ephemeral containers added to a running pod: only they are new.
    Ephemeral,
}

const POD_GROUPS: &[&str] = &["", "apps", "extensions", "batch"];

pub(crate) fn check(s: &Settings, e: &Event, out: &mut Alerts) {
    let source = match (e.resource(), e.subresource(), e.verb.as_ref()) {
        ("pods", "", "create") => Source::Pod,
        ("pods", "ephemeralcontainers", "update" | "patch") => Source::Ephemeral,
        (r, "", "create" | "update" | "patch") if WORKLOADS.contains(&r) => Source::Workload,
        _ => return,
    };
    if !POD_GROUPS.contains(&e.api_group()) || !e.succeeded() {
        return;
    }
    // The spec is in the request body (an object, or a JSON patch's
    // operations), absent at Metadata level.
    let spec = e.request_written_pod_spec();
    if source == Source::Ephemeral {
        // Needs no body: the subresource says what happened.
        ephemeral_created(e, spec.as_ref(), out);
    }
    let Some(spec) = spec else {
        return;
    };
    let containers: Vec<(ContainerKind, &Container)> = match source {
        Source::Ephemeral => spec
            .ephemeral_containers
            .iter()
            .map(|c| (ContainerKind::Ephemeral, c))
            .collect(),
        Source::Pod | Source::Workload => spec.all_containers().collect(),
    };
    for &(kind, c) in &containers {
        if c.is_privileged() && !s.privileged_images.matches(repository(&c.image)) {
            container_alert(out, &PRIVILEGED_POD, e, kind, c);
        }
        // A patch naming a container without its image leaves the image be.
        if !c.image.is_empty() && !image_allowed(&s.allowed_images, &c.image) {
            container_alert(out, &DISALLOWED_IMAGE_POD, e, kind, c);
        }
    }
    if source == Source::Ephemeral {
        // The rest of an ephemeral-containers update is the pod as it was.
        return;
    }
    let host_namespaces = [
        (spec.host_network, &HOST_NETWORK_POD, &s.host_network_images),
        (spec.host_pid, &HOST_PID_POD, &s.host_pid_images),
        (spec.host_ipc, &HOST_IPC_POD, &s.host_ipc_images),
    ];
    for (shared, rule, trusted) in host_namespaces {
        if shared && !all_trusted(&containers, trusted) {
            workload_alert(out, rule, e, &[]).field("images", images(&containers));
        }
    }
    sensitive_mounts(s, e, &spec, &containers, out);
    if e.verb == "create"
        && s.kube_namespaces.matches(e.namespace())
        && !all_trusted(&containers, &s.kube_namespace_images)
    {
        workload_alert(out, &POD_IN_KUBE_NAMESPACE, e, &[]).field("images", images(&containers));
    }
}

fn ephemeral_created(e: &Event, spec: Option<&PodSpec>, out: &mut Alerts) {
    let added = spec.map_or(&[][..], |spec| &spec.ephemeral_containers[..]);
    let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = added.iter().map(|c| c.image.as_str()).collect();
    alert(
        out,
        &EPHEMERAL_CONTAINER_CREATED,
        e,
        &[e.username(), e.namespace(), e.name()],
    )
    .field("pod", e.name())
    .field("containers", names.join(","))
    .field("images", images.join(","));
}

fn container_alert(
    out: &mut Alerts,
    rule: &rule_sdk::Rule,
    e: &Event,
    kind: ContainerKind,
    c: &Container,
) {
    workload_alert(out, rule, e, &[&c.name])
        .field("container", c.name.as_str())
        .field("container_kind", kind.as_str())
        .field("image", c.image.as_str());
}

/// One alert per sensitive hostPath volume, unless every container that
/// mounts it (every container, when none does) runs a trusted image.
fn sensitive_mounts(
    s: &Settings,
    e: &Event,
    spec: &PodSpec,
    containers: &[(ContainerKind, &Container)],
    out: &mut Alerts,
) {
    for (volume, host_path) in spec.host_path_volumes() {
        let Some(sensitive) = s.sensitive_path(host_path) else {
            continue;
        };
        let mounting: Vec<(ContainerKind, &Container)> = containers
            .iter()
            .copied()
            .filter(|(_, c)| c.volume_mounts.iter().any(|m| m.name == volume))
            .collect();
        let exposed = if mounting.is_empty() {
            containers
        } else {
            &mounting[..]
        };
        if all_trusted(exposed, &s.sensitive_mount_images) {
            continue;
        }
        let names: Vec<&str> = mounting.iter().map(|(_, c)| c.name.as_str()).collect();
        workload_alert(out, &SENSITIVE_MOUNT_POD, e, &[host_path])
            .field("volume", volume)
            .field("host_path", host_path)
            .field("sensitive_path", sensitive)
            .field("containers", names.join(","))
            .field("images", images(exposed));
    }
}

/// A pod-spec alert, grouped on the namespace, the workload the object
/// belongs to and the finding (`detail`), not on who made the request: a
/// Deployment (made by a user), its ReplicaSet and its pods (made by the
/// controllers) are one rollout and one aggregated alert.
fn workload_alert<'a>(
    out: &'a mut Alerts,
    rule: &rule_sdk::Rule,
    e: &Event,
    detail: &[&str],
) -> rule_sdk::RaisedAlert<'a> {
    let workload = e.workload();
    let mut group = vec![workload.namespace.as_str(), workload.name.as_str()];
    group.extend_from_slice(detail);
    let name = object_name(e);
    alert(out, rule, e, &group)
        .field("workload", workload.name.as_str())
        .field("object_kind", e.resource())
        .field("object", name)
}

/// True when there are containers and each one's image repository is
/// trusted. A patch that shows no container proves nothing.
fn all_trusted(containers: &[(ContainerKind, &Container)], trusted: &Patterns) -> bool {
    !containers.is_empty()
        && containers
            .iter()
            .all(|(_, c)| trusted.matches(repository(&c.image)))
}

/// An allow-list entry may name the image as written (`nginx:1.25`), its
/// repository (`nginx`) or a registry prefix (`registry.example.com/*`).
fn image_allowed(allowed: &Patterns, image: &str) -> bool {
    allowed.matches(image) || allowed.matches(repository(image))
}

fn images(containers: &[(ContainerKind, &Container)]) -> String {
    let images: Vec<&str> = containers.iter().map(|(_, c)| c.image.as_str()).collect();
    images.join(",")
}
