//! A typed, canonical view of a Kubernetes audit event (audit.k8s.io/v1).
//!
//! v1beta1 events decode into the same type: their field names are the same
//! apart from the event time (`timestamp` / `metadata.creationTimestamp`),
//! which [`Event::time`] folds in. Unknown fields are ignored, missing ones
//! default, so a Metadata-level event (no request/response objects) and a
//! RequestResponse-level one share one type.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::pod::PodSpec;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub kind: String,
    pub api_version: String,
    pub level: String,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: UserInfo,
    pub impersonated_user: Option<UserInfo>,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub object_ref: Option<ObjectReference>,
    pub response_status: Option<ResponseStatus>,
    pub request_object: Option<Value>,
    pub response_object: Option<Value>,
    pub request_received_timestamp: String,
    pub stage_timestamp: String,
    pub annotations: BTreeMap<String, String>,
    /// v1beta1 only.
    pub timestamp: String,
    /// v1beta1 only.
    pub metadata: Option<EventMeta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectReference {
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_group: String,
    pub api_version: String,
    pub resource_version: String,
    pub subresource: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResponseStatus {
    pub code: i32,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventMeta {
    pub creation_timestamp: String,
}

impl Event {
    /// Parse an audit event from its JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The user who made the request (the impersonator when impersonating).
    pub fn username(&self) -> &str {
        &self.user.username
    }

    /// The identity the request acted as: the impersonated user if any.
    pub fn effective_username(&self) -> &str {
        match &self.impersonated_user {
            Some(u) if !u.username.is_empty() => &u.username,
            _ => &self.user.username,
        }
    }

    pub fn resource(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| o.resource.as_str())
    }

    pub fn subresource(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.subresource.as_str())
    }

    pub fn namespace(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.namespace.as_str())
    }

    pub fn name(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| o.name.as_str())
    }

    pub fn api_group(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.api_group.as_str())
    }

    /// `resource` or `resource/subresource`, the form interests are written in.
    pub fn resource_path(&self) -> String {
        match self.subresource() {
            "" => self.resource().to_string(),
            sub => format!("{}/{}", self.resource(), sub),
        }
    }

    /// The HTTP status the API server answered, if the event has one.
    pub fn response_code(&self) -> Option<i32> {
        self.response_status.as_ref().map(|s| s.code)
    }

    /// True when the request was answered with a 2xx status.
    pub fn succeeded(&self) -> bool {
        matches!(self.response_code(), Some(200..=299))
    }

    /// True when the API server let the request through: any status below
    /// 400, including `101 Switching Protocols` (exec, attach, port-forward).
    pub fn was_allowed(&self) -> bool {
        matches!(self.response_code(), Some(100..=399))
    }

    /// The first source IP (the client as the API server saw it).
    pub fn source_ip(&self) -> &str {
        self.source_ips.first().map_or("", String::as_str)
    }

    /// When the event happened, as RFC 3339: the stage time, else when the
    /// request was received, else the v1beta1 timestamps.
    pub fn time(&self) -> &str {
        [
            self.stage_timestamp.as_str(),
            self.request_received_timestamp.as_str(),
            self.timestamp.as_str(),
            self.metadata
                .as_ref()
                .map_or("", |m| m.creation_timestamp.as_str()),
        ]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or("")
    }

    /// True for the final stage of a request (or a panic), the stage at which
    /// the response status is known. Rules that count actions look only here,
    /// so one request logged at several stages is counted once.
    pub fn is_final_stage(&self) -> bool {
        matches!(self.stage.as_str(), "ResponseComplete" | "Panic" | "")
    }

    /// The value of a query parameter of the request URI, percent-decoded.
    /// Repeated parameters (exec's `command=`) come back joined by spaces.
    pub fn query_param(&self, key: &str) -> Option<String> {
        let values = crate::uri::query_values(&self.request_uri, key);
        (!values.is_empty()).then(|| values.join(" "))
    }

    /// The pod spec carried by the request: a Pod, or the pod template of a
    /// workload (Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob),
    /// or the ephemeral containers a `pods/ephemeralcontainers` update adds.
    pub fn request_pod_spec(&self) -> Option<PodSpec> {
        crate::pod::pod_spec_of(self.request_object.as_ref()?)
    }

    /// The same, from the response object (present at RequestResponse level).
    pub fn response_pod_spec(&self) -> Option<PodSpec> {
        crate::pod::pod_spec_of(self.response_object.as_ref()?)
    }

    /// The annotation's value. Accepts the dotted key also when the shipper
    /// rewrote dots to underscores (Elastic Agent does).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .get(key)
            .or_else(|| self.annotations.get(&key.replace('.', "_")))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
        "auditID":"a1","stage":"ResponseComplete",
        "requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=id&container=app&stdin=true",
        "verb":"create","user":{"username":"alice","groups":["dev","system:authenticated"]},
        "sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.29.0",
        "objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1","subresource":"exec"},
        "responseStatus":{"metadata":{},"code":101},
        "requestReceivedTimestamp":"2024-03-01T10:00:00.000000Z","stageTimestamp":"2024-03-01T10:00:01.000000Z",
        "annotations":{"authorization.k8s.io/decision":"allow"}}"#;

    const V1BETA1: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Request",
        "timestamp":"2019-02-12T12:30:00Z","metadata":{"creationTimestamp":"2019-02-12T12:30:00Z"},
        "auditID":"b2","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list",
        "user":{"username":"bob"},"sourceIPs":["192.168.1.4"],
        "objectRef":{"resource":"secrets","apiVersion":"v1"},"responseStatus":{"code":200}}"#;

    #[test]
    fn v1_fields_and_helpers() {
        let e = Event::from_json(V1).unwrap();
        assert_eq!(e.username(), "alice");
        assert_eq!(e.user.groups, ["dev", "system:authenticated"]);
        assert_eq!(e.resource_path(), "pods/exec");
        assert_eq!(e.namespace(), "default");
        assert_eq!(e.query_param("container").as_deref(), Some("app"));
        assert_eq!(e.query_param("command").as_deref(), Some("sh -c id"));
        assert_eq!(e.time(), "2024-03-01T10:00:01.000000Z");
        assert_eq!(e.response_code(), Some(101));
        assert_eq!(e.annotation("authorization.k8s.io/decision"), Some("allow"));
    }

    #[test]
    fn v1beta1_time_falls_back_to_timestamp() {
        let e = Event::from_json(V1BETA1).unwrap();
        assert_eq!(e.time(), "2019-02-12T12:30:00Z");
        assert_eq!(e.resource(), "secrets");
        assert!(e.succeeded());
        assert_eq!(e.namespace(), "");
    }

    #[test]
    fn impersonation_is_the_effective_user() {
        let mut e = Event::from_json(V1).unwrap();
        e.impersonated_user = Some(UserInfo {
            username: "system:admin".into(),
            ..Default::default()
        });
        assert_eq!(e.username(), "alice");
        assert_eq!(e.effective_username(), "system:admin");
    }

    #[test]
    fn underscored_annotation_keys_are_found() {
        let json = V1.replace(
            "authorization.k8s.io/decision",
            "authorization_k8s_io/decision",
        );
        let e = Event::from_json(&json).unwrap();
        assert_eq!(e.annotation("authorization.k8s.io/decision"), Some("allow"));
    }
}
