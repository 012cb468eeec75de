//! ECS's categorisation of an alert's request: `event.category`,
//! `event.type` and `event.outcome`, from what was asked (the verb, the
//! resource) and how the API server answered. Values are ECS's allowed
//! ones, and each type is one ECS expects for its category (checked by
//! `tests/ecs`).

use super::facts::EventFacts;

/// The ECS version alert documents follow (`ecs.version`): the one the
/// ECS check validates against (`tests/ecs/package.json`).
pub const ECS_VERSION: &str = "9.4.0";

/// `event.category`: what the request was about. RBAC and identities are
/// `iam`, a command run in a container is `process`, a tunnel into the
/// cluster is `network`, secrets and settings are `configuration`; the rest
/// is an `api` call. A document that is not an audit event (a host log) is
/// an `intrusion_detection` finding.
pub fn category(facts: &EventFacts) -> &'static str {
    if !facts.audit {
        return "intrusion_detection";
    }
    match (facts.resource.as_str(), facts.subresource.as_str()) {
        ("pods", "exec" | "attach" | "ephemeralcontainers") => "process",
        ("pods" | "services" | "nodes", "portforward" | "proxy") => "network",
        (
            "roles"
            | "clusterroles"
            | "rolebindings"
            | "clusterrolebindings"
            | "serviceaccounts"
            | "users"
            | "groups"
            | "certificatesigningrequests"
            | "tokenreviews"
            | "subjectaccessreviews"
            | "selfsubjectaccessreviews"
            | "selfsubjectrulesreviews"
            | "localsubjectaccessreviews",
            _,
        ) => "iam",
        (
            "secrets"
            | "configmaps"
            | "mutatingwebhookconfigurations"
            | "validatingwebhookconfigurations"
            | "validatingadmissionpolicies"
            | "validatingadmissionpolicybindings"
            | "mutatingadmissionpolicies"
            | "mutatingadmissionpolicybindings"
            | "customresourcedefinitions",
            _,
        ) => "configuration",
        _ => "api",
    }
}

/// `event.type`: the verb's kind of change (create -> creation,
/// update/patch -> change, delete/deletecollection -> deletion,
/// get/list/watch -> access), narrowed to what ECS expects of the category:
/// a command run in a container `start`s a process, a tunnel is a
/// `connection`, reading an identity is `info`; other verbs (impersonate,
/// bind, escalate, approve, ...) are `info`.
pub fn event_type(category: &str, verb: &str) -> &'static str {
    let by_verb = match verb {
        "create" => "creation",
        "update" | "patch" => "change",
        "delete" | "deletecollection" => "deletion",
        "get" | "list" | "watch" => "access",
        _ => "info",
    };
    match category {
        "process" => "start",
        "network" => "connection",
        "iam" if by_verb == "access" => "info",
        "intrusion_detection" => "info",
        _ => by_verb,
    }
}

/// `event.outcome`: what the API server answered. Below 400 (including
/// exec's `101 Switching Protocols`) it let the request through.
pub fn outcome(code: Option<i32>) -> &'static str {
    match code {
        Some(100..=399) => "success",
        Some(400..) => "failure",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(resource: &str, sub: &str) -> EventFacts {
        EventFacts {
            audit: true,
            resource: resource.into(),
            subresource: sub.into(),
            ..Default::default()
        }
    }

    #[test]
    fn verbs_and_resources_categorise_as_ecs_expects() {
        assert_eq!(category(&facts("pods", "exec")), "process");
        assert_eq!(event_type("process", "create"), "start");
        assert_eq!(category(&facts("clusterrolebindings", "")), "iam");
        assert_eq!(event_type("iam", "create"), "creation");
        assert_eq!(event_type("iam", "get"), "info");
        assert_eq!(category(&facts("secrets", "")), "configuration");
        assert_eq!(event_type("configuration", "list"), "access");
        assert_eq!(event_type("configuration", "patch"), "change");
        assert_eq!(event_type("api", "deletecollection"), "deletion");
        assert_eq!(event_type("api", "impersonate"), "info");
        assert_eq!(category(&facts("pods", "portforward")), "network");
        assert_eq!(category(&facts("deployments", "")), "api");
        assert_eq!(category(&EventFacts::default()), "intrusion_detection");
    }

    #[test]
    fn the_response_code_gives_the_outcome() {
        assert_eq!(outcome(Some(101)), "success");
        assert_eq!(outcome(Some(201)), "success");
        assert_eq!(outcome(Some(403)), "failure");
        assert_eq!(outcome(None), "unknown");
    }
}
