//! Pod specs inside audit request/response objects.
//!
//! Detections about workloads must look at every container an attacker can
//! use: `containers`, `initContainers` and `ephemeralContainers`. This module
//! finds the pod spec wherever the object keeps it and walks all three.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub ephemeral_containers: Vec<Container>,
    pub host_network: bool,
    #[serde(rename = "hostPID")]
    pub host_pid: bool,
    #[serde(rename = "hostIPC")]
    pub host_ipc: bool,
    pub service_account_name: String,
    pub node_name: String,
    pub volumes: Vec<Volume>,
    pub security_context: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub security_context: Option<SecurityContext>,
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityContext {
    pub privileged: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    pub name: String,
    pub host_path: Option<HostPath>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostPath {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Which list of the pod spec a container came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Container,
    Init,
    Ephemeral,
}

impl ContainerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Container => "container",
            ContainerKind::Init => "initContainer",
            ContainerKind::Ephemeral => "ephemeralContainer",
        }
    }
}

impl PodSpec {
    /// Every container of the pod, of all three kinds, with its kind.
    pub fn all_containers(&self) -> impl Iterator<Item = (ContainerKind, &Container)> {
        let tag = |kind| move |c| (kind, c);
        self.containers
            .iter()
            .map(tag(ContainerKind::Container))
            .chain(self.init_containers.iter().map(tag(ContainerKind::Init)))
            .chain(
                self.ephemeral_containers
                    .iter()
                    .map(tag(ContainerKind::Ephemeral)),
            )
    }

    /// The hostPath volumes with their host paths.
    pub fn host_path_volumes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.volumes.iter().filter_map(|v| {
            v.host_path
                .as_ref()
                .map(|h| (v.name.as_str(), h.path.as_str()))
        })
    }

    /// True when the pod shares any of the node's namespaces.
    pub fn shares_host_namespaces(&self) -> bool {
        self.host_network || self.host_pid || self.host_ipc
    }
}

impl Container {
    pub fn is_privileged(&self) -> bool {
        self.security_context
            .as_ref()
            .and_then(|s| s.privileged)
            .unwrap_or(false)
    }

    /// Capabilities added to the container, upper-cased without `CAP_`.
    pub fn added_capabilities(&self) -> Vec<String> {
        self.security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref())
            .map(|c| {
                c.add
                    .iter()
                    .map(|cap| {
                        cap.to_ascii_uppercase()
                            .trim_start_matches("CAP_")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Find the pod spec in a request or response object: a Pod's `spec`, a
/// workload's `spec.template.spec`, a CronJob's
/// `spec.jobTemplate.spec.template.spec`.
pub(crate) fn pod_spec_of(object: &Value) -> Option<PodSpec> {
    let spec = object.get("spec")?;
    let pod_spec = if let Some(job) = spec.get("jobTemplate") {
        job.get("spec")?.get("template")?.get("spec")?
    } else if let Some(template) = spec.get("template") {
        template.get("spec")?
    } else {
        spec
    };
    PodSpec::deserialize(pod_spec).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_every_container_kind() {
        let pod = json!({"kind":"Pod","spec":{
            "hostPID": true,
            "containers":[{"name":"app","image":"nginx","securityContext":{"privileged":true}}],
            "initContainers":[{"name":"init","image":"busybox"}],
            "ephemeralContainers":[{"name":"debug","image":"alpine",
                "securityContext":{"capabilities":{"add":["cap_sys_admin","NET_RAW"]}}}],
            "volumes":[{"name":"root","hostPath":{"path":"/"}},{"name":"tmp","emptyDir":{}}]}});
        let spec = pod_spec_of(&pod).unwrap();
        let kinds: Vec<_> = spec
            .all_containers()
            .map(|(k, c)| (k, c.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ContainerKind::Container, "app"),
                (ContainerKind::Init, "init"),
                (ContainerKind::Ephemeral, "debug")
            ]
        );
        assert!(spec.containers[0].is_privileged());
        assert!(!spec.init_containers[0].is_privileged());
        assert_eq!(
            spec.ephemeral_containers[0].added_capabilities(),
            ["SYS_ADMIN", "NET_RAW"]
        );
        assert_eq!(
            spec.host_path_volumes().collect::<Vec<_>>(),
            [("root", "/")]
        );
        assert!(spec.shares_host_namespaces());
    }

    #[test]
    fn finds_workload_and_cronjob_templates() {
        let deploy = json!({"kind":"Deployment","spec":{"template":{"spec":{"hostNetwork":true,"containers":[{"name":"a","image":"x"}]}}}});
        assert!(pod_spec_of(&deploy).unwrap().host_network);
        let cron = json!({"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"y"}]}}}}}});
        assert_eq!(pod_spec_of(&cron).unwrap().containers[0].image, "y");
        assert!(pod_spec_of(&json!({"kind":"Status"})).is_none());
    }
}
