//! The containers each workload (Deployment, DaemonSet, StatefulSet,
//! ReplicaSet) is known to have, so a patch or an update that adds a
//! container (a sidecar injected into an existing workload) can be told
//! from one that changes an existing container's image or resources.
//!
//! The audit log carries the whole object only sometimes (a create or an
//! update's request, any response at RequestResponse level); a patch's
//! request is only the patch. What each event shows is folded in here.

use std::collections::{BTreeSet, HashMap};

use rule_sdk::Value;

/// A container named in a workload's pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedContainer {
    pub name: String,
    pub image: String,
    /// `container` or `initContainer`.
    pub kind: &'static str,
}

/// Container names per workload, capped in size (a long-running pack must
/// not grow without bound; the least useful entry to lose is any one).
pub struct WorkloadContainers {
    known: HashMap<String, BTreeSet<String>>,
    cap: usize,
}

impl WorkloadContainers {
    pub fn new(cap: usize) -> Self {
        WorkloadContainers {
            known: HashMap::new(),
            cap: cap.max(1),
        }
    }

    pub fn key(resource: &str, namespace: &str, name: &str) -> String {
        format!("{resource}/{namespace}/{name}")
    }

    /// Record the full container list a workload has now. Returns the
    /// containers it did not have before, when its previous list was known.
    pub fn observe(&mut self, key: &str, now: &[NamedContainer]) -> Option<Vec<NamedContainer>> {
        let names: BTreeSet<String> = now.iter().map(|c| c.name.clone()).collect();
        let added = self.known.get(key).map(|before| {
            now.iter()
                .filter(|c| !before.contains(&c.name))
                .cloned()
                .collect()
        });
        self.insert(key, names);
        added
    }

    /// The names the workload is known to have, if any event showed them.
    pub fn names(&self, key: &str) -> Option<&BTreeSet<String>> {
        self.known.get(key)
    }

    /// A patch merged these containers into a known workload.
    pub fn merge(&mut self, key: &str, patched: &[NamedContainer]) {
        if let Some(names) = self.known.get_mut(key) {
            names.extend(patched.iter().map(|c| c.name.clone()));
        }
    }

    pub fn forget(&mut self, key: &str) {
        self.known.remove(key);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    fn insert(&mut self, key: &str, names: BTreeSet<String>) {
        if self.known.len() >= self.cap
            && !self.known.contains_key(key)
            && let Some(evict) = self.known.keys().next().cloned()
        {
            self.known.remove(&evict);
        }
        self.known.insert(key.to_string(), names);
    }
}

/// The pod template spec of a workload object (or of a patch shaped like one).
pub fn template_spec(object: &Value) -> Option<&Value> {
    object.get("spec")?.get("template")?.get("spec")
}

/// The containers and init containers a pod template (or a patch of one)
/// lists, each with its kind, in that order.
fn template_containers(template: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    [
        ("containers", "container"),
        ("initContainers", "initContainer"),
    ]
    .into_iter()
    .flat_map(move |(field, kind)| {
        template
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(move |c| (kind, c))
    })
}

/// The containers and init containers a pod template (or a patch of one) names.
pub fn named_containers(template: &Value) -> Vec<NamedContainer> {
    template_containers(template)
        .filter_map(|(kind, c)| {
            let name = c.get("name").and_then(Value::as_str)?;
            Some(NamedContainer {
                name: name.to_string(),
                image: str_of(c, "image"),
                kind,
            })
        })
        .collect()
}

/// Containers a strategic-merge or merge patch defines in full: an image
/// plus what only a new container needs (a command, mounts, environment,
/// ports, a security context). `kubectl set image` and `set resources`
/// patches name a container with only its image or its resources.
pub fn fully_defined_in_patch(template: &Value) -> Vec<NamedContainer> {
    const DEFINING: &[&str] = &[
        "command",
        "args",
        "volumeMounts",
        "env",
        "envFrom",
        "ports",
        "securityContext",
    ];
    template_containers(template)
        .filter_map(|(kind, c)| {
            let name = c.get("name").and_then(Value::as_str)?;
            let image = c.get("image").and_then(Value::as_str)?;
            DEFINING
                .iter()
                .any(|k| c.get(k).is_some())
                .then(|| NamedContainer {
                    name: name.to_string(),
                    image: image.to_string(),
                    kind,
                })
        })
        .collect()
}

/// Containers a JSON patch (`[{"op":"add","path":...,"value":...}]`) adds
/// as new elements of the pod template's container lists.
pub fn added_by_json_patch(patch: &[Value]) -> Vec<NamedContainer> {
    let mut out = Vec::new();
    for op in patch {
        if op.get("op").and_then(Value::as_str) != Some("add") {
            continue;
        }
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let Some(rest) = path.strip_prefix("/spec/template/spec/") else {
            continue;
        };
        let (list, index) = rest.split_once('/').unwrap_or((rest, ""));
        let kind = match list {
            "containers" => "container",
            "initContainers" => "initContainer",
            _ => continue,
        };
        let value = op.get("value");
        // `/containers/-` or `/containers/3` adds one; `/containers` sets the list.
        let added: Vec<&Value> = if index.is_empty() {
            value
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default()
        } else if index == "-" || index.bytes().all(|b| b.is_ascii_digit()) {
            value.into_iter().collect()
        } else {
            continue;
        };
        for c in added {
            out.push(NamedContainer {
                name: str_of(c, "name"),
                image: str_of(c, "image"),
                kind,
            });
        }
    }
    out
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rule_sdk::serde_json::json;

    fn c(name: &str) -> NamedContainer {
        NamedContainer {
            name: name.into(),
            image: format!("{name}:1"),
            kind: "container",
        }
    }

    #[test]
    fn added_containers_need_a_known_list() {
        let mut w = WorkloadContainers::new(10);
        let key = WorkloadContainers::key("deployments", "shop", "web");
        assert_eq!(w.observe(&key, &[c("web")]), None);
        assert_eq!(w.observe(&key, &[c("web")]), Some(vec![]));
        assert_eq!(
            w.observe(&key, &[c("web"), c("miner")]),
            Some(vec![c("miner")])
        );
        w.forget(&key);
        assert!(w.is_empty());
    }

    #[test]
    fn the_cap_bounds_memory() {
        let mut w = WorkloadContainers::new(2);
        for name in ["a", "b", "c"] {
            w.observe(
                &WorkloadContainers::key("deployments", "ns", name),
                &[c("x")],
            );
        }
        assert_eq!(w.len(), 2);
        let key = WorkloadContainers::key("deployments", "ns", "c");
        assert!(w.names(&key).is_some());
    }

    #[test]
    fn json_patch_additions() {
        let patch = json!([
            {"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"tap","image":"evil/tap"}},
            {"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:2"},
            {"op":"add","path":"/spec/template/spec/initContainers","value":[{"name":"i","image":"busybox"}]},
            {"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"A","value":"b"}}
        ]);
        let added = added_by_json_patch(patch.as_array().unwrap());
        let names: Vec<_> = added.iter().map(|c| (c.name.as_str(), c.kind)).collect();
        assert_eq!(names, [("tap", "container"), ("i", "initContainer")]);
    }

    #[test]
    fn patches_that_only_change_images_define_nothing() {
        let set_image =
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}});
        assert!(fully_defined_in_patch(template_spec(&set_image).unwrap()).is_empty());
        let sidecar = json!({"spec":{"template":{"spec":{"containers":[
            {"name":"tap","image":"evil/tap","command":["/tap"]}]}}}});
        assert_eq!(
            fully_defined_in_patch(template_spec(&sidecar).unwrap())[0].name,
            "tap"
        );
    }
}
