//! Which Sigma field names reach a field of the audit event. Sigma's
//! Kubernetes audit log source names the event's own JSON paths (`verb`,
//! `objectRef.resource`, `user.username`, `responseStatus.code`,
//! `requestObject.spec...`), so those are the mapping; [`ALIASES`] adds
//! the few names public rules use that no audit event carries but whose
//! meaning is clear.

/// Sigma field names that are not audit-event paths, with the paths they
/// mean. A value found at any of the paths counts.
pub const ALIASES: &[(&str, &[&str])] = &[
    // Public rules write `apiGroup` for the object's API group.
    ("apiGroup", &["objectRef.apiGroup"]),
    // "A hostPath volume": in a pod's spec, or a workload's pod template.
    (
        "hostPath",
        &[
            "requestObject.spec.volumes.hostPath.path",
            "requestObject.spec.template.spec.volumes.hostPath.path",
            "requestObject.spec.jobTemplate.spec.template.spec.volumes.hostPath.path",
        ],
    ),
];

/// The audit event's single texts.
pub(super) const TEXTS: &[&str] = &[
    "kind",
    "apiVersion",
    "level",
    "auditID",
    "stage",
    "requestURI",
    "verb",
    "userAgent",
    "requestReceivedTimestamp",
    "stageTimestamp",
    "timestamp",
    "metadata.creationTimestamp",
    "user.username",
    "user.uid",
    "impersonatedUser.username",
    "impersonatedUser.uid",
    "objectRef.resource",
    "objectRef.namespace",
    "objectRef.name",
    "objectRef.uid",
    "objectRef.apiGroup",
    "objectRef.apiVersion",
    "objectRef.resourceVersion",
    "objectRef.subresource",
    "responseStatus.status",
    "responseStatus.reason",
    "responseStatus.message",
];

/// The audit event's lists of texts.
pub(super) const LISTS: &[&str] = &["sourceIPs", "user.groups", "impersonatedUser.groups"];

/// The audit event's numbers.
pub(super) const NUMBERS: &[&str] = &["responseStatus.code"];

/// Maps (a key after the prefix) and JSON bodies (a path after it).
pub(super) const PREFIXES: &[&str] = &[
    "user.extra.",
    "impersonatedUser.extra.",
    "annotations.",
    "requestObject.",
    "responseObject.",
];

/// The audit paths `field` names: its alias's, or itself.
pub(super) fn paths(field: &str) -> &[&str] {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == field)
        .map(|(_, paths)| *paths)
        .unwrap_or(&[])
}

/// Whether `field` (an audit path or an alias) can hold a value in some
/// audit event.
pub fn reachable(field: &str) -> bool {
    let direct = |path: &str| {
        TEXTS.contains(&path)
            || LISTS.contains(&path)
            || NUMBERS.contains(&path)
            || matches!(path, "requestObject" | "responseObject")
            || PREFIXES
                .iter()
                .any(|p| path.len() > p.len() && path.starts_with(p))
    };
    direct(field) || !paths(field).is_empty()
}

/// Whether a rule reading `field` needs the request or response body (an
/// audit Policy at `Request` or `RequestResponse` level).
pub(super) fn body(field: &str) -> Option<&'static str> {
    let reads = |prefix: &str| {
        field.starts_with(prefix) || paths(field).iter().any(|p| p.starts_with(prefix))
    };
    if reads("responseObject") {
        Some("responseObject")
    } else if reads("requestObject") {
        Some("requestObject")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_paths_bodies_and_aliases_are_reachable() {
        for field in [
            "verb",
            "objectRef.subresource",
            "responseStatus.code",
            "user.groups",
            "user.extra.scopes",
            "annotations.authorization.k8s.io/decision",
            "requestObject.spec.containers.securityContext.privileged",
            "hostPath",
            "apiGroup",
        ] {
            assert!(reachable(field), "{field}");
        }
        for field in [
            "capabilities",
            "CommandLine",
            "user",
            "requestObject.",
            "objectRef.kind",
        ] {
            assert!(!reachable(field), "{field}");
        }
        assert_eq!(body("hostPath"), Some("requestObject"));
        assert_eq!(body("responseObject.status.phase"), Some("responseObject"));
        assert_eq!(body("verb"), None);
    }
}
