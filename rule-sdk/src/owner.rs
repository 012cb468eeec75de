//! Which workload an object belongs to, so that one rollout (a Deployment,
//! the ReplicaSet it makes, the pods the ReplicaSet makes) is one alert: a
//! rule that groups on [`Event::workload`] gets one aggregated alert whose
//! count is the objects seen, not one alert each.
//!
//! The workload is read from the object's controller owner reference
//! (`metadata.ownerReferences`, the one with `controller: true`, else the
//! first):
//! - a pod of a ReplicaSet `web-7d4b9c8f5` (its `pod-template-hash` label
//!   `7d4b9c8f5`) belongs to `web`, the Deployment the ReplicaSet is named
//!   after;
//! - a ReplicaSet owned by the Deployment `web` belongs to `web`;
//! - a pod of a Job `backup-28474560` (a CronJob's, named after its
//!   scheduled minute) belongs to `backup`;
//! - any other owner (StatefulSet, DaemonSet, Job, ...) is the workload;
//! - an object without an owner is its own workload (a Deployment, a bare
//!   pod).

use serde_json::Value;

use crate::Event;

/// An object's workload: its namespace and the workload's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
}

impl Event<'_> {
    /// The workload the request's object belongs to (see the module's
    /// documentation), from the request object, else the response object,
    /// else the object's name.
    pub fn workload(&self) -> Workload {
        let object = [self.request_object(), self.response_object()]
            .into_iter()
            .flatten()
            .find(|o| o.get("metadata").is_some_and(Value::is_object));
        let meta = object.and_then(|o| o.get("metadata"));
        let str_at = |v: Option<&Value>, k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let namespace = match self.namespace() {
            "" => str_at(meta, "namespace"),
            ns => ns.to_string(),
        };
        let own_name = [
            self.name().to_string(),
            str_at(meta, "name"),
            str_at(meta, "generateName")
                .trim_end_matches('-')
                .to_string(),
        ]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or_default();
        let hash = meta
            .and_then(|m| m.pointer("/labels/pod-template-hash"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = match meta.and_then(controller_owner) {
            Some((kind, owner)) => match kind {
                "ReplicaSet" => strip_template_hash(owner, hash),
                "Job" => strip_schedule_suffix(owner),
                _ => owner.to_string(),
            },
            None => own_name,
        };
        Workload { namespace, name }
    }
}

/// The (kind, name) of the owner that controls the object.
fn controller_owner(meta: &Value) -> Option<(&str, &str)> {
    let owners = meta.get("ownerReferences")?.as_array()?;
    let owner = owners
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| owners.first())?;
    let kind = owner.get("kind")?.as_str()?;
    let name = owner.get("name")?.as_str()?;
    (!name.is_empty()).then_some((kind, name))
}

/// `web-7d4b9c8f5` → `web`: the ReplicaSet's name without the pod template's
/// hash (known from the pod's `pod-template-hash` label; else the last
/// `-segment`, when it looks like one).
fn strip_template_hash(replicaset: &str, hash: &str) -> String {
    if !hash.is_empty()
        && let Some(base) = replicaset
            .strip_suffix(hash)
            .and_then(|b| b.strip_suffix('-'))
        && !base.is_empty()
    {
        return base.to_string();
    }
    match replicaset.rsplit_once('-') {
        Some((base, suffix))
            if !base.is_empty()
                && (5..=10).contains(&suffix.len())
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            base.to_string()
        }
        _ => replicaset.to_string(),
    }
}

/// `backup-28474560` → `backup`: a CronJob's Job is named after the minute
/// it was scheduled for.
fn strip_schedule_suffix(job: &str) -> String {
    match job.rsplit_once('-') {
        Some((base, suffix))
            if !base.is_empty()
                && suffix.len() >= 8
                && suffix.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base.to_string()
        }
        _ => job.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::Event;
    use serde_json::json;

    fn workload(event: serde_json::Value) -> (String, String) {
        let json = event.to_string();
        let e = Event::from_json(&json).unwrap();
        let w = e.workload();
        (w.namespace, w.name)
    }

    fn create(resource: &str, name: &str, object: serde_json::Value) -> serde_json::Value {
        json!({"kind":"Event","verb":"create","stage":"ResponseComplete",
            "objectRef":{"resource":resource,"namespace":"shop","name":name},
            "requestObject":object})
    }

    #[test]
    fn one_rollout_is_one_workload() {
        let deployment = create(
            "deployments",
            "web",
            json!({"metadata":{"name":"web","namespace":"shop"}}),
        );
        let replicaset = create(
            "replicasets",
            "web-7d4b9c8f5",
            json!({"metadata":{"name":"web-7d4b9c8f5","labels":{"pod-template-hash":"7d4b9c8f5"},
                "ownerReferences":[{"kind":"Deployment","name":"web","controller":true}]}}),
        );
        let pod = create(
            "pods",
            "",
            json!({"metadata":{"generateName":"web-7d4b9c8f5-","labels":{"pod-template-hash":"7d4b9c8f5"},
                "ownerReferences":[{"kind":"ReplicaSet","name":"web-7d4b9c8f5","controller":true}]}}),
        );
        let want = ("shop".to_string(), "web".to_string());
        assert_eq!(workload(deployment), want);
        assert_eq!(workload(replicaset), want);
        assert_eq!(workload(pod), want);
    }

    #[test]
    fn other_owners_and_bare_pods() {
        let no_label = create(
            "pods",
            "x",
            json!({"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"api-5f6d7c9b8d"}]}}),
        );
        assert_eq!(workload(no_label).1, "api");
        let ds = create(
            "pods",
            "x",
            json!({"metadata":{"ownerReferences":[{"kind":"DaemonSet","name":"agent","controller":true}]}}),
        );
        assert_eq!(workload(ds).1, "agent");
        let cron = create(
            "pods",
            "x",
            json!({"metadata":{"ownerReferences":[{"kind":"Job","name":"backup-28474560","controller":true}]}}),
        );
        assert_eq!(workload(cron).1, "backup");
        let bare = create("pods", "debug", json!({"metadata":{"name":"debug"}}));
        assert_eq!(workload(bare).1, "debug");
        let metadata_level = json!({"kind":"Event","verb":"create",
            "objectRef":{"resource":"pods","namespace":"shop","name":"p"}});
        assert_eq!(workload(metadata_level), ("shop".into(), "p".into()));
    }
}
