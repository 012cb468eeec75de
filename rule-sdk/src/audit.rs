//! A typed, canonical view of a Kubernetes audit event (audit.k8s.io/v1).
//!
//! v1beta1 events decode into the same type: their field names are the same
//! apart from the event time (`timestamp` / `metadata.creationTimestamp`),
//! which [`Event::time`] folds in. Unknown fields are ignored, missing ones
//! default, so a Metadata-level event (no request/response objects) and a
//! RequestResponse-level one share one type.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::pod::PodSpec;

/// The annotation by which the host tells a pack the event's cluster.
pub const CLUSTER_ANNOTATION: &str = "k8scop.io/cluster";

/// An audit event's text: borrowed from the batch (or the JSON it was
/// parsed from) wherever it can be, owned only where JSON escapes had to be
/// undone. Compares with `==` against a `&str`, and derefs to one.
pub type Text<'a> = Cow<'a, str>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub api_version: Text<'a>,
    #[serde(borrow)]
    pub level: Text<'a>,
    #[serde(rename = "auditID", borrow)]
    pub audit_id: Text<'a>,
    #[serde(borrow)]
    pub stage: Text<'a>,
    #[serde(rename = "requestURI", borrow)]
    pub request_uri: Text<'a>,
    #[serde(borrow)]
    pub verb: Text<'a>,
    #[serde(borrow)]
    pub user: UserInfo<'a>,
    #[serde(borrow)]
    pub impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "sourceIPs", borrow, deserialize_with = "texts")]
    pub source_ips: Vec<Text<'a>>,
    #[serde(borrow)]
    pub user_agent: Text<'a>,
    #[serde(borrow)]
    pub object_ref: Option<ObjectReference<'a>>,
    #[serde(borrow)]
    pub response_status: Option<ResponseStatus<'a>>,
    /// The request body, read through [`Event::request_object`].
    #[serde(rename = "requestObject", borrow)]
    pub request_body: Option<Body<'a>>,
    /// The response body, read through [`Event::response_object`].
    #[serde(rename = "responseObject", borrow)]
    pub response_body: Option<Body<'a>>,
    #[serde(borrow)]
    pub request_received_timestamp: Text<'a>,
    #[serde(borrow)]
    pub stage_timestamp: Text<'a>,
    /// (key, value) pairs; look one up with [`Event::annotation`].
    #[serde(borrow, deserialize_with = "pairs")]
    pub annotations: Vec<(Text<'a>, Text<'a>)>,
    /// v1beta1 only.
    #[serde(borrow)]
    pub timestamp: Text<'a>,
    /// v1beta1 only.
    #[serde(borrow)]
    pub metadata: Option<EventMeta<'a>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserInfo<'a> {
    #[serde(borrow)]
    pub username: Text<'a>,
    #[serde(borrow)]
    pub uid: Text<'a>,
    #[serde(borrow, deserialize_with = "texts")]
    pub groups: Vec<Text<'a>>,
    /// (key, value) pairs; a key with several values comes once per value.
    #[serde(borrow, deserialize_with = "multi_pairs")]
    pub extra: Vec<(Text<'a>, Text<'a>)>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectReference<'a> {
    #[serde(borrow)]
    pub resource: Text<'a>,
    #[serde(borrow)]
    pub namespace: Text<'a>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub uid: Text<'a>,
    #[serde(borrow)]
    pub api_group: Text<'a>,
    #[serde(borrow)]
    pub api_version: Text<'a>,
    #[serde(borrow)]
    pub resource_version: Text<'a>,
    #[serde(borrow)]
    pub subresource: Text<'a>,
}

impl<'a> ObjectReference<'a> {
    /// The API server writes the group and the version apart (`apps`,
    /// `v1`), but converters and hand-written logs often give only
    /// `apiVersion: apps/v1`, or no version and a `/apis/apps/v1/...`
    /// request URI; rules match on the group. A core object (`/api/v1`,
    /// version `v1`) has none, and keeps none.
    pub fn complete_group(&mut self, request_uri: &Text<'a>) {
        if !self.api_group.is_empty() {
            return;
        }
        let joined = self.api_version.contains('/');
        let found = if joined {
            group_version(&self.api_version, 0)
        } else if request_uri.starts_with("/apis/") {
            group_version(request_uri, "/apis/".len())
        } else {
            None
        };
        let Some((group, version)) = found else {
            return;
        };
        self.api_group = group;
        if self.api_version.is_empty() || joined {
            self.api_version = version;
        }
    }
}

/// The `group/version` that starts at `from` in `text` (a path: what
/// follows a further `/` or a `?` is not part of it), borrowed when `text`
/// is.
fn group_version<'a>(text: &Text<'a>, from: usize) -> Option<(Text<'a>, Text<'a>)> {
    let path = text[from..].split('?').next().unwrap_or_default();
    let mut segments = path.split('/');
    let (group, version) = (segments.next()?, segments.next()?);
    if group.is_empty() || version.is_empty() {
        return None;
    }
    let group = from..from + group.len();
    let version = group.end + 1..group.end + 1 + version.len();
    Some(match text {
        Cow::Borrowed(s) => (Cow::Borrowed(&s[group]), Cow::Borrowed(&s[version])),
        Cow::Owned(s) => (
            Cow::Owned(s[group].to_owned()),
            Cow::Owned(s[version].to_owned()),
        ),
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResponseStatus<'a> {
    pub code: i32,
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(borrow)]
    pub reason: Text<'a>,
    #[serde(borrow)]
    pub message: Text<'a>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventMeta<'a> {
    #[serde(borrow)]
    pub creation_timestamp: Text<'a>,
}

/// A request or response body: its JSON text, parsed the first time a rule
/// reads it. Most rules never do, so most events are never parsed into a
/// tree at all.
#[derive(Clone, Default)]
pub struct Body<'a> {
    json: &'a str,
    parsed: OnceCell<Option<Value>>,
}

impl<'a> Body<'a> {
    /// A body from its JSON text.
    pub fn from_json(json: &'a str) -> Self {
        Body {
            json,
            parsed: OnceCell::new(),
        }
    }

    /// The body's JSON text, as logged.
    pub fn json(&self) -> &'a str {
        self.json
    }

    /// The body as a JSON value; `None` if its text is not JSON (which the
    /// host never sends) or is `null`.
    pub fn value(&self) -> Option<&Value> {
        self.parsed
            .get_or_init(|| serde_json::from_str(self.json).ok())
            .as_ref()
            .filter(|v| !v.is_null())
    }
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Body<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Body::from_json(raw.get()))
    }
}

/// A borrowed text inside a list or map (serde borrows a `Cow` only as a
/// field of its own).
#[derive(Deserialize)]
struct Borrowed<'a>(#[serde(borrow)] Text<'a>);

fn texts<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Vec<Text<'a>>, D::Error> {
    Ok(Vec::<Borrowed<'a>>::deserialize(d)?
        .into_iter()
        .map(|t| t.0)
        .collect())
}

fn pairs<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Vec<(Text<'a>, Text<'a>)>, D::Error> {
    d.deserialize_map(PairsVisitor {
        multi: false,
        texts: PhantomData,
    })
}

fn multi_pairs<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(Text<'a>, Text<'a>)>, D::Error> {
    d.deserialize_map(PairsVisitor {
        multi: true,
        texts: PhantomData,
    })
}

/// A JSON object of strings (or, `multi`, of lists of strings) as pairs.
struct PairsVisitor<'a> {
    multi: bool,
    texts: PhantomData<Text<'a>>,
}

impl<'de: 'a, 'a> Visitor<'de> for PairsVisitor<'a> {
    type Value = Vec<(Text<'a>, Text<'a>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.multi {
            "an object of string lists"
        } else {
            "an object of strings"
        })
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Borrowed(key)) = map.next_key::<Borrowed<'a>>()? {
            if self.multi {
                for Borrowed(value) in map.next_value::<Vec<Borrowed<'a>>>()? {
                    out.push((key.clone(), value));
                }
            } else {
                let Borrowed(value) = map.next_value()?;
                out.push((key, value));
            }
        }
        Ok(out)
    }
}

impl<'a> Event<'a> {
    /// Parse an audit event from its JSON, borrowing its texts from it.
    /// An `objectRef` without its `apiGroup` takes the group from what
    /// else names it (see [`ObjectReference::complete_group`]).
    pub fn from_json(json: &'a str) -> Result<Self, serde_json::Error> {
        let mut event: Event<'a> = serde_json::from_str(json)?;
        if let Some(object) = &mut event.object_ref {
            object.complete_group(&event.request_uri);
        }
        Ok(event)
    }

    /// The request body (`Request` and `RequestResponse` levels), parsed on
    /// first use.
    pub fn request_object(&self) -> Option<&Value> {
        self.request_body.as_ref()?.value()
    }

    /// The response body (`RequestResponse` level), parsed on first use.
    pub fn response_object(&self) -> Option<&Value> {
        self.response_body.as_ref()?.value()
    }

    /// The values of a user's extra attribute (`authentication.kubernetes.io/pod-name`, ...).
    pub fn user_extra<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.user
            .extra
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
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
        self.object_ref.as_ref().map_or("", |o| o.resource.as_ref())
    }

    pub fn subresource(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.subresource.as_ref())
    }

    pub fn namespace(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.namespace.as_ref())
    }

    pub fn name(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| o.name.as_ref())
    }

    pub fn api_group(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.api_group.as_ref())
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
        self.source_ips.first().map_or("", |ip| ip)
    }

    /// When the event happened, as RFC 3339: the stage time, else when the
    /// request was received, else the v1beta1 timestamps.
    pub fn time(&self) -> &str {
        [
            self.stage_timestamp.as_ref(),
            self.request_received_timestamp.as_ref(),
            self.timestamp.as_ref(),
            self.metadata
                .as_ref()
                .map_or("", |m| m.creation_timestamp.as_ref()),
        ]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or("")
    }

    /// True unless the event was logged before the API server decided
    /// (`RequestReceived`): the response status is known. The host hands a
    /// pack each request once, at the first stage that carries the decision
    /// (`ResponseStarted` for exec, attach, port-forward, proxy and watch,
    /// so an open shell is seen while it is open; else `ResponseComplete`
    /// or `Panic`), so a rule needs no bookkeeping of stages; this only
    /// guards a pack fed by something else.
    pub fn carries_decision(&self) -> bool {
        self.stage.as_ref() != "RequestReceived"
    }

    /// The value of a query parameter of the request URI, percent-decoded.
    /// Repeated parameters (exec's `command=`) come back joined by spaces.
    pub fn query_param(&self, key: &str) -> Option<String> {
        let values = crate::uri::query_values(&self.request_uri, key);
        (!values.is_empty()).then(|| values.join(" "))
    }

    /// The request URI's query has `key` (`dryRun`), with or without a
    /// value: `query_param(key).is_some()` without decoding or allocating.
    pub fn has_query_param(&self, key: &str) -> bool {
        crate::uri::has_query_key(&self.request_uri, key)
    }

    /// The pod spec carried by the request: a Pod, or the pod template of a
    /// workload (Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob),
    /// or the ephemeral containers a `pods/ephemeralcontainers` update adds.
    pub fn request_pod_spec(&self) -> Option<PodSpec> {
        crate::pod::pod_spec_of(self.request_object()?)
    }

    /// The same, from the response object (present at RequestResponse level).
    pub fn response_pod_spec(&self) -> Option<PodSpec> {
        crate::pod::pod_spec_of(self.response_object()?)
    }

    /// The cluster the event comes from, where the host knows it (a
    /// managed cloud's envelope, or the operator's `--cluster-field`): a
    /// fleet's logs may share one index, and the same user name in two
    /// clusters is two identities. "" when unknown.
    pub fn cluster(&self) -> &str {
        self.annotation(CLUSTER_ANNOTATION).unwrap_or("")
    }

    /// The annotation's value. Accepts the dotted key also when the shipper
    /// rewrote dots to underscores (Elastic Agent does).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        let find = |key: &str| {
            self.annotations
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_ref())
        };
        find(key).or_else(|| find(&key.replace('.', "_")))
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

    /// The group and version of an event's object, from its objectRef and
    /// request URI as `from_json` completes them.
    fn group_of(object_ref: &str, uri: &str) -> (String, String) {
        let json = format!(
            r#"{{"kind":"Event","verb":"create","requestURI":"{uri}","objectRef":{object_ref}}}"#
        );
        let e = Event::from_json(&json).unwrap();
        let o = e.object_ref.unwrap();
        (o.api_group.into_owned(), o.api_version.into_owned())
    }

    #[test]
    fn a_group_left_out_of_the_object_ref_is_taken_from_its_version_or_uri() {
        let pair = |g: &str, v: &str| (g.to_string(), v.to_string());
        // As the API server writes it: untouched, a core object too.
        let written = r#"{"resource":"daemonsets","apiGroup":"apps","apiVersion":"v1"}"#;
        assert_eq!(
            group_of(written, "/apis/apps/v1/namespaces/a/daemonsets"),
            pair("apps", "v1")
        );
        let core = r#"{"resource":"pods","apiVersion":"v1"}"#;
        assert_eq!(group_of(core, "/api/v1/namespaces/a/pods"), pair("", "v1"));
        // `apps/v1` as the version, as converters write it.
        let joined = r#"{"resource":"daemonsets","apiVersion":"apps/v1"}"#;
        assert_eq!(group_of(joined, ""), pair("apps", "v1"));
        // Neither: the request URI names them, query and all.
        let bare = r#"{"resource":"cronjobs","name":"nightly"}"#;
        assert_eq!(
            group_of(bare, "/apis/batch/v1/namespaces/p/cronjobs/nightly"),
            pair("batch", "v1")
        );
        assert_eq!(
            group_of(bare, "/apis/certificates.k8s.io/v1?dryRun=All"),
            pair("certificates.k8s.io", "v1")
        );
        // A version already given stays; nothing to go by leaves no group.
        let versioned = r#"{"resource":"cronjobs","apiVersion":"v1beta1"}"#;
        assert_eq!(
            group_of(versioned, "/apis/batch/v1beta1/cronjobs"),
            pair("batch", "v1beta1")
        );
        assert_eq!(group_of(bare, "/apis/"), pair("", ""));
        assert_eq!(group_of(bare, "/api/v1/pods"), pair("", ""));
        // Escaped texts (owned, not borrowed) split the same way.
        let escaped = r#"{"resource":"jobs","apiVersion":"batch\/v1"}"#;
        assert_eq!(group_of(escaped, ""), pair("batch", "v1"));
    }
}
