//! What a pod runs, whoever creates it: added capabilities, privilege
//! escalation flags, hostPath volumes, pods posing as system pods.

use std::collections::BTreeSet;

use rule_sdk::pod::Container;
use rule_sdk::{Alerts, Event, Severity, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::{images, singular, str_at};

/// Capabilities that are a host escape on their own.
const ESCAPE_CAPABILITIES: &[&str] = &["ALL", "SYS_ADMIN", "SYS_MODULE"];

/// Rules reading the pod spec a pod or workload is deployed with.
pub(crate) fn pod_spec(s: &Settings, e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "create" | "update" | "patch") {
        return;
    }
    capabilities(s, e, out);
    escalation_flags(s, e, out);
    // A pod's volumes cannot change after creation.
    if e.resource() != "pods" || e.verb == "create" {
        host_path(s, e, out);
    }
}

pub(crate) fn capabilities(s: &Settings, e: &Event, out: &mut Alerts) {
    // A pod's containers cannot change after creation; only ephemeral
    // ones are added (pods/ephemeralcontainers).
    if e.resource() == "pods" && e.subresource().is_empty() && e.verb != "create" {
        return;
    }
    let Some(spec) = e.request_pod_spec() else {
        return;
    };
    // One rollout (workload, ReplicaSet, pods) is one alert.
    let workload = e.workload();
    for (kind, c) in spec.all_containers() {
        if s.trusted_images.matches(&c.image) {
            continue;
        }
        let caps: Vec<String> = c
            .added_capabilities()
            .into_iter()
            .filter(|cap| cap == "ALL" || s.dangerous_capabilities.contains(cap))
            .collect();
        if caps.is_empty() {
            continue;
        }
        let escape = caps
            .iter()
            .any(|c| ESCAPE_CAPABILITIES.contains(&c.as_str()));
        let caps = caps.join(",");
        let alert = out
            .raise(&EXCESSIVE_CAPABILITIES)
            .title(format!("Container {} adds {caps}", c.name))
            .group(&[&workload.namespace, &workload.name, &c.name, &caps])
            .audit_context()
            .user_groups()
            .field("container", c.name.as_str())
            .field("container_kind", kind.as_str())
            .field("image", c.image.as_str())
            .field("capabilities", caps.as_str());
        if escape {
            alert.severity(Severity::High);
        }
    }
}

pub(crate) fn escalation_flags(s: &Settings, e: &Event, out: &mut Alerts) {
    let Some(spec) = e.request_pod_spec() else {
        return;
    };
    // One rollout (workload, ReplicaSet, pods) is one alert.
    let workload = e.workload();
    // A pod's security context cannot change once it runs.
    if e.resource() == "pods" && e.verb != "create" {
        return;
    }
    let pod_root = spec
        .security_context
        .as_ref()
        .and_then(|s| s.get("runAsUser"))
        .and_then(Value::as_i64)
        == Some(0);
    let mut findings = Vec::new();
    for (kind, c) in spec.all_containers() {
        if s.trusted_images.matches(&c.image) {
            continue;
        }
        let flags = container_flags(c);
        if !flags.is_empty() {
            findings.push((kind, c, flags.join(",")));
        }
    }
    let all_trusted = spec
        .all_containers()
        .all(|(_, c)| s.trusted_images.matches(&c.image));
    // A pod-level runAsUser 0 counts unless every container is trusted.
    let root_pod = pod_root && !all_trusted;
    if findings.is_empty() && !root_pod {
        return;
    }
    let describe: Vec<String> = findings
        .iter()
        .map(|(_, c, flags)| format!("{}: {flags}", c.name))
        .collect();
    let containers: Vec<&str> = findings.iter().map(|(_, c, _)| c.name.as_str()).collect();
    let images: Vec<&str> = findings.iter().map(|(_, c, _)| c.image.as_str()).collect();
    let kinds: Vec<&str> = findings.iter().map(|(k, _, _)| k.as_str()).collect();
    let flags = describe.join("; ");
    out.raise(&PRIVILEGE_ESCALATION_FLAGS)
        .group(&[
            &workload.namespace,
            &workload.name,
            &flags,
            if pod_root { "pod-root" } else { "" },
        ])
        .audit_context()
        .user_groups()
        .field("container", containers.join(","))
        .field("container_kind", kinds.join(","))
        .field("image", images.join(","))
        .field("flags", flags.as_str())
        .field("pod_run_as_user", if pod_root { "0" } else { "" });
}

pub(crate) fn host_path(s: &Settings, e: &Event, out: &mut Alerts) {
    let Some(spec) = e.request_pod_spec() else {
        return;
    };
    // One rollout (workload, ReplicaSet, pods) is one alert.
    let workload = e.workload();
    let volumes: Vec<(&str, &str)> = spec.host_path_volumes().collect();
    if volumes.is_empty() {
        return;
    }
    if spec
        .all_containers()
        .all(|(_, c)| s.trusted_images.matches(&c.image))
    {
        return;
    }
    let names: BTreeSet<&str> = volumes.iter().map(|(n, _)| *n).collect();
    let mounts: Vec<String> = spec
        .all_containers()
        .flat_map(|(_, c)| {
            c.volume_mounts
                .iter()
                .filter(|m| names.contains(m.name.as_str()))
                .map(move |m| {
                    let mode = if m.read_only { "ro" } else { "rw" };
                    format!("{}:{} ({mode})", c.name, m.mount_path)
                })
        })
        .collect();
    let paths: Vec<&str> = volumes.iter().map(|(_, p)| *p).collect();
    let paths = paths.join(",");
    out.raise(&HOSTPATH_VOLUME)
        .title(format!(
            "{} {}/{} mounts host path {paths}",
            singular(e.resource()),
            e.namespace(),
            e.name()
        ))
        .group(&[&workload.namespace, &workload.name, &paths])
        .audit_context()
        .user_groups()
        .field("host_paths", paths.as_str())
        .field("mounts", mounts.join(","))
        .field("image", images(&spec));
}

pub(crate) fn system_pod_masquerade(s: &Settings, e: &Event, out: &mut Alerts) {
    if e.verb != "create" || !s.system_namespaces.matches(e.namespace()) {
        return;
    }
    // The pod's name is in objectRef, or only in the body for generateName.
    let body = e.request_object();
    let name = match e.name() {
        "" => body
            .map(|b| str_at(b, &["metadata", "name"]))
            .unwrap_or_default(),
        n => n,
    };
    let spec = e.request_pod_spec();
    let service_account = spec
        .as_ref()
        .map(|s| s.service_account_name.as_str())
        .unwrap_or_default();
    let imitates = s.system_pod_prefixes.matches(name);
    // Elastic's `*controller`: the control plane's controllers' accounts.
    let controller_account = service_account.ends_with("controller");
    // Any other pod there is the Falco pack's pod-created-in-kube-namespace.
    if !imitates && !controller_account {
        return;
    }
    let posing_as = if imitates {
        "a system pod's name"
    } else {
        "a controller's service account"
    };
    out.raise(&SYSTEM_POD_MASQUERADE)
        .title(format!(
            "Pod {}/{name} created by {} with {posing_as}",
            e.namespace(),
            e.username()
        ))
        .group(&[e.username(), e.namespace(), name])
        .audit_context()
        .user_groups()
        .field("pod", name)
        .field("service_account", service_account)
        .field("image", spec.as_ref().map(images).unwrap_or_default())
        .field("imitates_system_pod", if imitates { "true" } else { "" })
        .field(
            "controller_service_account",
            if controller_account { "true" } else { "" },
        );
}

/// The escalation settings of one container (privileged is the Falco
/// pack's `privileged-pod`).
fn container_flags(c: &Container) -> Vec<&'static str> {
    let mut flags = Vec::new();
    let Some(sc) = c.security_context.as_ref() else {
        return flags;
    };
    if sc.allow_privilege_escalation == Some(true) {
        flags.push("allowPrivilegeEscalation=true");
    }
    if sc.run_as_user == Some(0) {
        flags.push("runAsUser=0");
    }
    flags
}
