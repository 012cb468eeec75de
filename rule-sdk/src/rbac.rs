//! RBAC objects inside audit request/response bodies: the `rules` of a Role
//! or ClusterRole, and the `roleRef` and `subjects` of a RoleBinding or
//! ClusterRoleBinding.
//!
//! The bodies are only logged at `Request` / `RequestResponse` level; at
//! `Metadata` level [`Event::request_role`] and [`Event::request_binding`]
//! answer `None`, so a rule that needs them stays silent. A patch body holds
//! only what it changes: a patch without `rules` is a role without rules.
//!
//! [`PolicyRule::allows`] follows the API server's RBAC matching: `*` in
//! verbs, API groups and resources matches anything, `*/scale` matches the
//! `scale` subresource of any resource, and `pods` does not cover
//! `pods/exec` (nor does `pods/*`).

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::Event;

/// The verbs that change objects.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// The pod subresources that run or reach code in a container. Any verb on
/// them is exec-capable: the API server serves them over WebSockets with a
/// GET (kubectl 1.30+ does so by default), and before 1.31, or with the
/// `AuthorizePodWebsocketUpgradeCreatePermission` gate off, `get` alone
/// grants them. Falco's role rule likewise looks at any verb.
pub const EXEC_SUBRESOURCES: &[&str] = &["pods/exec", "pods/attach", "pods/portforward"];

/// One entry of a Role's or ClusterRole's `rules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

/// A Role or ClusterRole as far as permissions go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Role {
    pub rules: Vec<PolicyRule>,
    /// ClusterRoles only: the label selectors whose roles' rules the
    /// controller aggregates into this one.
    pub aggregation_rule: Option<Value>,
}

/// The role a binding grants.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleRef {
    pub api_group: String,
    /// `ClusterRole` or `Role`.
    pub kind: String,
    pub name: String,
}

/// Who a binding grants its role to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// ServiceAccounts only.
    pub namespace: String,
    pub api_group: String,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Binding {
    pub role_ref: RoleRef,
    pub subjects: Vec<Subject>,
}

impl PolicyRule {
    /// True when the rule grants every verb (`*`).
    pub fn has_wildcard_verb(&self) -> bool {
        self.verbs.iter().any(|v| v == "*")
    }

    /// True when the rule names every resource (`*`) of its API groups.
    pub fn has_wildcard_resource(&self) -> bool {
        self.resources.iter().any(|r| r == "*")
    }

    /// True when the rule names every API group (`*`).
    pub fn has_wildcard_api_group(&self) -> bool {
        self.api_groups.iter().any(|g| g == "*")
    }

    pub fn allows_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    /// The verbs of [`WRITE_VERBS`] this rule grants (all of them for `*`).
    pub fn write_verbs(&self) -> Vec<&str> {
        WRITE_VERBS
            .iter()
            .copied()
            .filter(|w| self.allows_verb(w))
            .collect()
    }

    /// True when the rule covers `resource` (`pods`, or with a subresource
    /// `pods/exec`) of `api_group` (`""` for the core group).
    pub fn covers(&self, api_group: &str, resource: &str) -> bool {
        let group_ok = self.api_groups.iter().any(|g| g == "*" || g == api_group);
        let subresource = resource.split_once('/').map(|(_, s)| s);
        group_ok
            && self.resources.iter().any(|r| {
                r == "*"
                    || r == resource
                    || subresource.is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
            })
    }

    /// The exec-capable pod subresources ([`EXEC_SUBRESOURCES`]) the rule
    /// grants with any verb, following RBAC's wildcards (`*` verbs, `*` and
    /// `*/exec` resources, `*` API groups).
    pub fn exec_subresources(&self) -> Vec<&'static str> {
        if self.verbs.is_empty() {
            return Vec::new();
        }
        EXEC_SUBRESOURCES
            .iter()
            .copied()
            .filter(|r| self.covers("", r))
            .collect()
    }

    /// True when the rule lets its subject `verb` the `resource` of
    /// `api_group` (for some object name at least: `resourceNames` narrow a
    /// rule but are not looked at here).
    pub fn allows(&self, verb: &str, api_group: &str, resource: &str) -> bool {
        self.allows_verb(verb) && self.covers(api_group, resource)
    }
}

impl fmt::Display for PolicyRule {
    /// `verbs=[get,list] apiGroups=[""] resources=[pods]`, the parts the
    /// rule has.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![format!("verbs=[{}]", self.verbs.join(","))];
        if !self.api_groups.is_empty() {
            let groups: Vec<String> = self
                .api_groups
                .iter()
                .map(|g| {
                    if g.is_empty() {
                        "\"\"".into()
                    } else {
                        g.clone()
                    }
                })
                .collect();
            parts.push(format!("apiGroups=[{}]", groups.join(",")));
        }
        for (key, values) in [
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !values.is_empty() {
                parts.push(format!("{key}=[{}]", values.join(",")));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl Role {
    /// The Role or ClusterRole in a request or response object; `None`
    /// when it is not one (a JSON patch is a list, a Status is no role).
    pub fn from_object(object: &Value) -> Option<Role> {
        object.as_object()?;
        Role::deserialize(object).ok()
    }

    /// True when any rule lets its subject `verb` the `resource`.
    pub fn allows(&self, verb: &str, api_group: &str, resource: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.allows(verb, api_group, resource))
    }
}

impl Binding {
    /// The binding in a request or response object, if it is one.
    pub fn from_object(object: &Value) -> Option<Binding> {
        object.as_object()?;
        Binding::deserialize(object).ok()
    }

    /// The subjects as `Kind:name` (`ServiceAccount:namespace/name`),
    /// comma-separated.
    pub fn subjects_text(&self) -> String {
        let subjects: Vec<String> = self.subjects.iter().map(Subject::to_string).collect();
        subjects.join(", ")
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}:{}", self.kind, self.name)
        } else {
            write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl Event<'_> {
    /// The Role or ClusterRole the request sends (create, update, patch),
    /// `None` at Metadata level.
    pub fn request_role(&self) -> Option<Role> {
        Role::from_object(self.request_object()?)
    }

    /// The RoleBinding or ClusterRoleBinding the request sends, `None` at
    /// Metadata level.
    pub fn request_binding(&self) -> Option<Binding> {
        Binding::from_object(self.request_object()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::deserialize(v).unwrap()
    }

    #[test]
    fn wildcards_and_write_verbs() {
        let admin = rule(json!({"apiGroups":["*"],"resources":["*"],"verbs":["*"]}));
        assert!(admin.has_wildcard_verb() && admin.has_wildcard_resource());
        assert!(admin.has_wildcard_api_group());
        assert_eq!(admin.write_verbs(), WRITE_VERBS);
        let reader = rule(json!({"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}));
        assert!(!reader.has_wildcard_verb() && !reader.has_wildcard_resource());
        assert!(reader.write_verbs().is_empty());
        let deleter = rule(
            json!({"apiGroups":["apps"],"resources":["deployments"],"verbs":["get","delete"]}),
        );
        assert_eq!(deleter.write_verbs(), ["delete"]);
    }

    #[test]
    fn matching_follows_rbac() {
        let exec = rule(json!({"apiGroups":[""],"resources":["pods/exec"],"verbs":["create"]}));
        assert!(exec.allows("create", "", "pods/exec"));
        assert!(!exec.allows("get", "", "pods/exec"));
        assert!(!exec.allows("create", "", "pods"));
        assert!(!exec.allows("create", "apps", "pods/exec"));
        // `pods` and `pods/*` do not reach subresources; `*/exec` does.
        let pods = rule(json!({"apiGroups":[""],"resources":["pods","pods/*"],"verbs":["*"]}));
        assert!(pods.allows("create", "", "pods"));
        assert!(!pods.allows("create", "", "pods/exec"));
        let any_exec = rule(json!({"apiGroups":[""],"resources":["*/exec"],"verbs":["create"]}));
        assert!(any_exec.allows("create", "", "pods/exec"));
        assert!(!any_exec.allows("create", "", "pods/attach"));
        let all = rule(json!({"apiGroups":["*"],"resources":["*"],"verbs":["*"]}));
        assert!(all.allows("create", "", "pods/exec"));
        // No apiGroups (a nonResourceURLs rule) covers no resource.
        let urls = rule(json!({"nonResourceURLs":["*"],"verbs":["*"]}));
        assert!(!urls.allows("get", "", "pods"));
        assert_eq!(urls.to_string(), "verbs=[*] nonResourceURLs=[*]");
        assert_eq!(
            exec.to_string(),
            r#"verbs=[create] apiGroups=[""] resources=[pods/exec]"#
        );
    }

    #[test]
    fn any_verb_on_exec_attach_or_portforward_is_exec() {
        let get_only = rule(json!({"apiGroups":[""],"resources":["pods/exec"],"verbs":["get"]}));
        assert_eq!(get_only.exec_subresources(), ["pods/exec"]);
        let attach = rule(
            json!({"apiGroups":[""],"resources":["pods/attach","pods/portforward"],"verbs":["get"]}),
        );
        assert_eq!(
            attach.exec_subresources(),
            ["pods/attach", "pods/portforward"]
        );
        let all = rule(json!({"apiGroups":["*"],"resources":["*"],"verbs":["*"]}));
        assert_eq!(all.exec_subresources(), EXEC_SUBRESOURCES);
        let any_exec = rule(json!({"apiGroups":[""],"resources":["*/exec"],"verbs":["list"]}));
        assert_eq!(any_exec.exec_subresources(), ["pods/exec"]);
        let pods = rule(json!({"apiGroups":[""],"resources":["pods","pods/*"],"verbs":["*"]}));
        assert!(pods.exec_subresources().is_empty());
        let other_group = rule(json!({"apiGroups":["apps"],"resources":["*"],"verbs":["*"]}));
        assert!(other_group.exec_subresources().is_empty());
        let no_verbs = rule(json!({"apiGroups":[""],"resources":["pods/exec"],"verbs":[]}));
        assert!(no_verbs.exec_subresources().is_empty());
    }

    #[test]
    fn roles_and_bindings_from_events() {
        let e = Event::from_json(
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","verb":"create",
            "objectRef":{"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io"},
            "requestObject":{"kind":"ClusterRoleBinding","metadata":{"name":"x"},
              "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
              "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"eve"},
                          {"kind":"ServiceAccount","name":"default","namespace":"web"}]}}"#,
        )
        .unwrap();
        let b = e.request_binding().unwrap();
        assert_eq!(
            (b.role_ref.kind.as_str(), b.role_ref.name.as_str()),
            ("ClusterRole", "cluster-admin")
        );
        assert_eq!(b.subjects_text(), "User:eve, ServiceAccount:web/default");

        let role = Role::from_object(&json!({"kind":"ClusterRole","rules":[
            {"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]}))
        .unwrap();
        assert!(role.allows("get", "", "secrets"));
        assert!(!role.allows("list", "", "secrets"));

        // Metadata level: no body, no role; a JSON patch is no role either.
        let meta = Event::from_json(r#"{"kind":"Event","verb":"create"}"#).unwrap();
        assert!(meta.request_role().is_none() && meta.request_binding().is_none());
        assert!(Role::from_object(&json!([{"op":"add","path":"/rules/-"}])).is_none());
        assert!(Role::from_object(&json!({"rules":"oops"})).is_none());
    }
}
