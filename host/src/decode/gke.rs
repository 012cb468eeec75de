//! GKE writes the API server's audit log to Cloud Logging, one LogEntry
//! per request, with a Cloud Audit Logs `protoPayload`
//! (`type.googleapis.com/google.cloud.audit.AuditLog`). It is translated
//! into the audit.k8s.io/v1 event it stands for; the "Audit log shapes"
//! section of docs/operations.md holds the mapping as a table.
//!
//! - `methodName` is `io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>`,
//!   the group as a reversed domain (`io.k8s.authorization.rbac.v1...` is
//!   rbac.authorization.k8s.io) and `core` for the legacy group. The verb
//!   comes from it; the group, version, namespace, resource, name and
//!   subresource come from `resourceName`
//!   (`core/v1/namespaces/N/pods/P/exec`), which spells the group out, and
//!   from the method when there is no resource name.
//! - `status.code` is a gRPC code (absent: 0, OK), mapped to the HTTP code
//!   the API server answered.
//! - The stage: GKE logs a request once, so the entry is the request's
//!   whole record, decided and final: `ResponseComplete`, for long-running
//!   requests (exec, attach, port-forward, proxy, watch) too. Labelling
//!   those `ResponseStarted` would keep every watch and exec open in the
//!   host's memory of counted requests until its horizon, waiting for a
//!   completion GKE never logs. Where `operation.first` / `operation.last`
//!   say the entry is one of two (the start of a long request, then its
//!   end), the start is `ResponseStarted` and the end `ResponseComplete`,
//!   one request under one `auditID` (`operation.id`).

use serde_json::{Map, Value, json};

use super::{DecodeError, DecodedDoc, DocRef, Shape, audit_doc};

const AUDIT_LOG_TYPE: &str = "type.googleapis.com/google.cloud.audit.AuditLog";

/// The verbs of the Kubernetes API, the last part of a method name.
const VERBS: [&str; 8] = [
    "create",
    "get",
    "list",
    "watch",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// Legacy API groups, named by one word (the others are `*.k8s.io`).
const ONE_WORD_GROUPS: [&str; 5] = ["apps", "batch", "autoscaling", "policy", "extensions"];

/// A Cloud Logging entry of the Kubernetes API: an AuditLog payload whose
/// method is a Kubernetes one, or that GKE files under the `k8s_cluster`
/// resource or the `k8s.io` service. It must translate.
pub(super) fn is_k8s_entry(source: &Map<String, Value>) -> bool {
    let Some(payload) = source.get("protoPayload").and_then(Value::as_object) else {
        return false;
    };
    let audit_log = matches!(text(payload.get("@type")), AUDIT_LOG_TYPE | "");
    audit_log
        && (text(payload.get("methodName")).starts_with("io.k8s.")
            || text(payload.get("serviceName")) == "k8s.io"
            || text(source.get("resource").and_then(|r| r.get("type"))) == "k8s_cluster")
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or_default()
}

/// What a method name says.
#[derive(Debug, PartialEq)]
struct Method {
    group: String,
    version: String,
    resource: String,
    subresource: String,
    verb: String,
}

fn parse_method(method: &str) -> Result<Method, String> {
    let bad = |why: &str| format!("methodName {method:?}: {why}");
    let rest = method
        .strip_prefix("io.k8s.")
        .ok_or_else(|| bad("not io.k8s.<group>.<version>.<resource>.<verb>"))?;
    let mut parts: Vec<&str> = rest.split('.').collect();
    let verb = parts.pop().unwrap_or_default();
    if !VERBS.contains(&verb) {
        return Err(bad("no Kubernetes verb at its end"));
    }
    let at = parts
        .iter()
        .rposition(|p| is_version(p))
        .ok_or_else(|| bad("no API version (v1, v1beta1, ...)"))?;
    let (group, after) = (&parts[..at], &parts[at + 1..]);
    let (resource, subresource) = match after {
        [resource] => (*resource, ""),
        [resource, subresource] => (*resource, *subresource),
        _ => return Err(bad("not one resource (and subresource) after the version")),
    };
    let group = match group {
        [] | ["core"] => String::new(),
        [one] if ONE_WORD_GROUPS.contains(one) => one.to_string(),
        domain => {
            let mut names: Vec<&str> = domain.iter().rev().copied().collect();
            names.extend(["k8s", "io"]);
            names.join(".")
        }
    };
    Ok(Method {
        group,
        version: parts[at].to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
        verb: verb.to_string(),
    })
}

/// `v1`, `v2`, `v1beta1`, `v1alpha2`.
fn is_version(part: &str) -> bool {
    let Some(rest) = part.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let tail = &rest[digits..];
    digits > 0
        && (tail.is_empty()
            || ["alpha", "beta"].iter().any(|s| {
                tail.strip_prefix(s)
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            }))
}

/// What a resource name says: `<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
#[derive(Debug, Default, PartialEq)]
struct Target {
    group: String,
    version: String,
    namespace: String,
    resource: String,
    name: String,
    subresource: String,
}

fn parse_resource_name(name: &str) -> Option<Target> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let [group, version, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let mut target = Target {
        group: if *group == "core" { "" } else { group }.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    let mut rest = rest;
    // As the API server reads a path: `namespaces/N/<resource>...` is in
    // namespace N, but `namespaces/N/status` (and `finalize`) is the
    // namespace's own subresource.
    if let ["namespaces", namespace, more @ ..] = rest {
        target.namespace = namespace.to_string();
        if !more.is_empty() && !matches!(more[0], "status" | "finalize") {
            rest = more;
        }
    }
    match rest {
        [resource] => target.resource = resource.to_string(),
        [resource, name] => {
            (target.resource, target.name) = (resource.to_string(), name.to_string())
        }
        [resource, name, subresource] => {
            (target.resource, target.name, target.subresource) = (
                resource.to_string(),
                name.to_string(),
                subresource.to_string(),
            )
        }
        _ => return None,
    }
    Some(target)
}

/// gRPC status code -> (HTTP code, Kubernetes `Status` reason).
pub(super) fn http_status(grpc: i64) -> (u16, &'static str) {
    match grpc {
        0 => (200, ""),
        1 => (499, "Cancelled"),
        2 => (500, "Unknown"),
        3 => (400, "BadRequest"),
        4 => (504, "Timeout"),
        5 => (404, "NotFound"),
        6 => (409, "AlreadyExists"),
        7 => (403, "Forbidden"),
        8 => (429, "TooManyRequests"),
        9 => (400, "BadRequest"),
        10 => (409, "Conflict"),
        11 => (400, "BadRequest"),
        12 => (501, "NotImplemented"),
        13 => (500, "InternalError"),
        14 => (503, "ServiceUnavailable"),
        15 => (500, "InternalError"),
        16 => (401, "Unauthorized"),
        _ => (500, "Unknown"),
    }
}

/// The audit event a GKE entry stands for.
pub(super) fn translate(
    source: &Map<String, Value>,
    origin: DocRef,
) -> Result<DecodedDoc, DecodeError> {
    let bad = |reason: String| DecodeError::undecodable(Shape::Gke, reason);
    let payload = source
        .get("protoPayload")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("protoPayload is not an object".into()))?;
    let method = payload
        .get("methodName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no methodName".into()))?;
    let method = parse_method(method).map_err(bad)?;
    let resource_name = text(payload.get("resourceName"));
    let target = parse_resource_name(resource_name).unwrap_or_else(|| Target {
        group: method.group.clone(),
        version: method.version.clone(),
        resource: method.resource.clone(),
        subresource: method.subresource.clone(),
        ..Default::default()
    });

    let grpc = match payload.get("status").and_then(|s| s.get("code")) {
        None | Some(Value::Null) => 0,
        Some(code) => code
            .as_i64()
            .ok_or_else(|| bad(format!("status.code {code} is not a gRPC code")))?,
    };
    let (code, reason) = http_status(grpc);
    let mut response_status = json!({ "metadata": {}, "code": code });
    if grpc != 0 {
        response_status["status"] = "Failure".into();
        response_status["reason"] = reason.into();
        let message = text(payload.get("status").and_then(|s| s.get("message")));
        if !message.is_empty() {
            response_status["message"] = message.into();
        }
    }

    let mut object_ref = Map::new();
    for (key, value) in [
        ("resource", &target.resource),
        ("namespace", &target.namespace),
        ("name", &target.name),
        ("apiGroup", &target.group),
        ("apiVersion", &target.version),
        ("subresource", &target.subresource),
    ] {
        if !value.is_empty() || key == "apiGroup" {
            object_ref.insert(key.into(), value.as_str().into());
        }
    }

    let operation = source.get("operation");
    let flag = |k: &str| operation.and_then(|o| o.get(k)).and_then(Value::as_bool);
    let stage = match (flag("first"), flag("last")) {
        (Some(true), Some(false)) => "ResponseStarted",
        _ => "ResponseComplete",
    };
    let audit_id = [operation.and_then(|o| o.get("id")), source.get("insertId")]
        .into_iter()
        .map(text)
        .find(|id| !id.is_empty())
        .unwrap_or_default();
    let timestamp = text(source.get("timestamp"));
    let auth = payload.get("authenticationInfo");
    let request_meta = payload.get("requestMetadata");

    let mut event = Map::new();
    event.insert("kind".into(), "Event".into());
    event.insert("apiVersion".into(), "audit.k8s.io/v1".into());
    let body = |k: &str| payload.get(k).filter(|v| v.is_object()).map(without_type);
    let (request, response) = (body("request"), body("response"));
    let level = match (&request, &response) {
        (_, Some(_)) => "RequestResponse",
        (Some(_), None) => "Request",
        (None, None) => "Metadata",
    };
    event.insert("level".into(), level.into());
    event.insert("auditID".into(), audit_id.into());
    event.insert("stage".into(), stage.into());
    event.insert(
        "requestURI".into(),
        request_uri(&target, &method.verb).into(),
    );
    event.insert("verb".into(), method.verb.as_str().into());
    event.insert(
        "user".into(),
        json!({ "username": text(auth.and_then(|a| a.get("principalEmail"))) }),
    );
    let caller_ip = text(request_meta.and_then(|m| m.get("callerIp")));
    if !caller_ip.is_empty() {
        event.insert("sourceIPs".into(), json!([caller_ip]));
    }
    let agent = text(request_meta.and_then(|m| m.get("callerSuppliedUserAgent")));
    if !agent.is_empty() {
        event.insert("userAgent".into(), agent.into());
    }
    event.insert("objectRef".into(), Value::Object(object_ref));
    event.insert("responseStatus".into(), response_status);
    if let Some(request) = request {
        event.insert("requestObject".into(), request);
    }
    if let Some(response) = response {
        event.insert("responseObject".into(), response);
    }
    if !timestamp.is_empty() {
        event.insert("requestReceivedTimestamp".into(), timestamp.into());
        event.insert("stageTimestamp".into(), timestamp.into());
    }
    event.insert(
        "annotations".into(),
        Value::Object(annotations(source, payload)),
    );

    let labels = source.get("resource").and_then(|r| r.get("labels"));
    let cluster = Some(text(labels.and_then(|l| l.get("cluster_name"))))
        .filter(|c| !c.is_empty())
        .map(String::from);
    audit_doc(event, origin, Shape::Gke, cluster)
}

/// The entry's string labels (`authorization.k8s.io/decision`, `/reason`,
/// Pod Security's, ...) are the event's annotations; where GKE gives no
/// decision label, `authorizationInfo[].granted` says it.
fn annotations(source: &Map<String, Value>, payload: &Map<String, Value>) -> Map<String, Value> {
    let mut annotations: Map<String, Value> = source
        .get("labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter(|(_, v)| v.is_string())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    const DECISION: &str = "authorization.k8s.io/decision";
    if !annotations.contains_key(DECISION) {
        let granted = payload
            .get("authorizationInfo")
            .and_then(Value::as_array)
            .and_then(|infos| infos.first())
            .and_then(|info| info.get("granted"))
            .and_then(Value::as_bool);
        if let Some(granted) = granted {
            let decision = if granted { "allow" } else { "forbid" };
            annotations.insert(DECISION.into(), decision.into());
        }
    }
    annotations
}

/// A request or response body without the `@type` GKE adds to it.
fn without_type(body: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(object) = &mut body {
        object.remove("@type");
    }
    body
}

/// The path the request was made to, as the API server logs it (GKE does
/// not keep the query string; a watch says `?watch=true`).
fn request_uri(target: &Target, verb: &str) -> String {
    let mut uri = if target.group.is_empty() {
        format!("/api/{}", target.version)
    } else {
        format!("/apis/{}/{}", target.group, target.version)
    };
    if !target.namespace.is_empty() && target.resource != "namespaces" {
        uri.push_str("/namespaces/");
        uri.push_str(&target.namespace);
    }
    for part in [&target.resource, &target.name, &target.subresource] {
        if !part.is_empty() {
            uri.push('/');
            uri.push_str(part);
        }
    }
    if verb == "watch" {
        uri.push_str("?watch=true");
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        let m = parse_method("io.k8s.core.v1.pods.exec.create").unwrap();
        assert_eq!(
            m,
            Method {
                group: "".into(),
                version: "v1".into(),
                resource: "pods".into(),
                subresource: "exec".into(),
                verb: "create".into()
            }
        );
        let m = parse_method("io.k8s.authorization.rbac.v1.clusterrolebindings.create").unwrap();
        assert_eq!(
            (m.group.as_str(), m.resource.as_str(), m.verb.as_str()),
            ("rbac.authorization.k8s.io", "clusterrolebindings", "create")
        );
        let m = parse_method("io.k8s.apps.v1.deployments.scale.patch").unwrap();
        assert_eq!(
            (m.group.as_str(), m.subresource.as_str()),
            ("apps", "scale")
        );
        let m = parse_method("io.k8s.networking.v1beta1.ingresses.deletecollection").unwrap();
        assert_eq!(
            (m.group.as_str(), m.version.as_str(), m.verb.as_str()),
            ("networking.k8s.io", "v1beta1", "deletecollection")
        );
        for bad in [
            "google.container.v1.ClusterManager.CreateCluster",
            "io.k8s.core.v1.pods.frobnicate",
            "io.k8s.core.pods.get",
            "io.k8s.core.v1.get",
            "io.k8s.core.v1.pods.exec.extra.create",
        ] {
            assert!(parse_method(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for v in ["v1", "v2", "v1beta1", "v2alpha3", "v10"] {
            assert!(is_version(v), "{v}");
        }
        for v in ["v", "vx", "v1beta", "beta1", "v1gamma1", "pods"] {
            assert!(!is_version(v), "{v}");
        }
    }

    #[test]
    fn resource_names() {
        let t = parse_resource_name("core/v1/namespaces/payments/pods/api-1/exec").unwrap();
        assert_eq!(
            t,
            Target {
                group: "".into(),
                version: "v1".into(),
                namespace: "payments".into(),
                resource: "pods".into(),
                name: "api-1".into(),
                subresource: "exec".into()
            }
        );
        let t = parse_resource_name("apps/v1/namespaces/shop/deployments/web").unwrap();
        assert_eq!(
            (
                t.group.as_str(),
                t.namespace.as_str(),
                t.resource.as_str(),
                t.name.as_str()
            ),
            ("apps", "shop", "deployments", "web")
        );
        let t = parse_resource_name("core/v1/namespaces/kube-system/secrets").unwrap();
        assert_eq!((t.resource.as_str(), t.name.as_str()), ("secrets", ""));
        let t = parse_resource_name("core/v1/namespaces/team-a").unwrap();
        assert_eq!(
            (t.namespace.as_str(), t.resource.as_str(), t.name.as_str()),
            ("team-a", "namespaces", "team-a")
        );
        let t = parse_resource_name("core/v1/namespaces/team-a/finalize").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.subresource.as_str()),
            ("namespaces", "finalize")
        );
        let t =
            parse_resource_name("rbac.authorization.k8s.io/v1/clusterrolebindings/admins").unwrap();
        assert_eq!(
            (t.group.as_str(), t.namespace.as_str(), t.name.as_str()),
            ("rbac.authorization.k8s.io", "", "admins")
        );
        assert_eq!(parse_resource_name("core"), None);
        assert_eq!(parse_resource_name("core/v1/a/b/c/d"), None);
    }

    #[test]
    fn request_uris() {
        let t = parse_resource_name("core/v1/namespaces/p/pods/a/exec").unwrap();
        assert_eq!(
            request_uri(&t, "create"),
            "/api/v1/namespaces/p/pods/a/exec"
        );
        let t = parse_resource_name("apps/v1/namespaces/p/deployments").unwrap();
        assert_eq!(
            request_uri(&t, "watch"),
            "/apis/apps/v1/namespaces/p/deployments?watch=true"
        );
        let t = parse_resource_name("core/v1/namespaces/p").unwrap();
        assert_eq!(request_uri(&t, "delete"), "/api/v1/namespaces/p");
    }
}
