//! The alert document: what a raised alert becomes in the alert index (or
//! the alerts file), ready for Kibana. Field names follow ECS where ECS has
//! one (`event.kind`, `rule.id`, `user.name`, `source.ip`, ...); the rest
//! live under `k8scop.*`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod ecs;
mod facts;
mod message;

pub use ecs::ECS_VERSION;
pub use facts::{EventFacts, configured_cluster};

use crate::attack;
use crate::decode::{DecodedDoc, DocRef};
use crate::engine::RaisedAlert;

/// An alert document and its deterministic id.
#[derive(Debug, Clone)]
pub struct AlertDoc {
    pub id: String,
    pub body: Value,
}

/// The id is derived from the rule, the group key and the first triggering
/// document, so writing the same alert twice overwrites, never duplicates.
pub fn alert_id(rule_id: &str, group_key: &str, first_source: &DocRef) -> String {
    let mut h = Sha256::new();
    for part in [rule_id, group_key, &first_source.key()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where an analyst's field lands in ECS (`resource` and `source_ip` are
/// read apart: a resource may carry a subresource, an address must parse).
const ECS_FIELDS: &[(&str, &[&str])] = &[
    ("user", &["user", "name"]),
    ("impersonated_user", &["user", "effective", "name"]),
    ("user_agent", &["user_agent", "original"]),
    ("namespace", &["orchestrator", "namespace"]),
    ("name", &["orchestrator", "resource", "name"]),
    ("verb", &["event", "action"]),
    ("host", &["host", "name"]),
    ("container", &["container", "name"]),
    ("command", &["process", "command_line"]),
];

/// The alert's fields: the triggering event's it names by its `context`
/// (read on the host, from the event the engine evaluated), then the
/// pack's own, which win over a context field of the same name.
pub fn alert_fields(raised: &RaisedAlert, facts: &EventFacts) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = facts
        .context_fields(raised.alert.context)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for (key, value) in &raised.alert.fields {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1.clone_from(value),
            None => fields.push((key.clone(), value.clone())),
        }
    }
    fields
}

/// The alert's title: its own, else its rule's.
pub fn alert_title(raised: &RaisedAlert) -> &str {
    match (
        raised.alert.title.as_str(),
        raised.pack.rule(&raised.alert.rule_id),
    ) {
        ("", Some(rule)) => &rule.title,
        (own, _) => own,
    }
}

/// The document for `raised`, triggered by `doc`.
pub fn alert_document(raised: &RaisedAlert, doc: &DecodedDoc) -> AlertDoc {
    let a = &raised.alert;
    let id = alert_id(&a.rule_id, &a.group_key, &doc.origin);
    let mut body = document_body(raised, &EventFacts::of(doc));
    body["k8scop"]["alert_id"] = Value::String(id.clone());
    body["k8scop"]["sources"] = json!([doc.origin]);
    AlertDoc { id, body }
}

/// The alert document of a raised alert, but for what only its aggregate
/// knows (its id, sources and span) and the time it is written
/// (`event.ingested`), which `aggregate::render` sets.
fn document_body(raised: &RaisedAlert, facts: &EventFacts) -> Value {
    let a = &raised.alert;
    let meta = &raised.pack;
    let rule = meta.rule(&a.rule_id);
    let time = normalise_time(&a.event_time);
    let fields: Map<String, Value> = alert_fields(raised, facts)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let field = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    let or = |a: &'_ str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    // The pack's fields first (a correlation rule names what it found), the
    // triggering event's for the rest. `pods/exec` is type `pods`, the
    // subresource `exec` (ECS has no field for it).
    let (resource, subresource) = match field("resource").split_once('/') {
        Some((r, s)) => (r.to_string(), s.to_string()),
        None => (
            or(field("resource"), &facts.resource),
            facts.subresource.clone(),
        ),
    };
    let user = or(field("user"), &facts.username);
    let effective = or(field("impersonated_user"), &facts.impersonated_user);
    let verb = or(field("verb"), &facts.verb);
    let namespace = or(field("namespace"), &facts.namespace);
    let name = or(field("name"), &facts.name);
    let title = rule.map_or(a.title.as_str(), |r| r.title.as_str());
    let category = ecs::category(facts);
    let mut body = json!({
        "@timestamp": time,
        "ecs": {"version": ecs::ECS_VERSION},
        "message": message::message(&message::Parts {
            user: &user,
            verb: &verb,
            resource: &resource,
            subresource: &subresource,
            namespace: &namespace,
            name: &name,
            title,
            code: facts.response_code,
            fields: &fields,
        }),
        "event": {
            "kind": "alert",
            "module": "k8scop",
            "dataset": "k8scop.alerts",
            "severity": a.severity.score(),
            "risk_score": a.severity.risk_score(),
            "category": [category],
            "type": [ecs::event_type(category, &verb)],
            "outcome": ecs::outcome(facts.response_code),
            "start": time,
            "end": time,
        },
        "rule": {
            "id": a.rule_id,
            "name": title,
            "description": rule.map_or("", |r| r.description.as_str()),
            "ruleset": meta.name(),
            "version": meta.info.version,
        },
        // The stateless tag is for the engine, not the analyst.
        "tags": rule.map_or(Vec::new(), |r| {
            r.tags.iter().filter(|t| *t != rule_sdk::STATELESS_TAG).cloned().collect()
        }),
        "k8scop": {
            "alert_id": "",
            "severity": a.severity.as_str(),
            "group_key": a.group_key,
            "count": 1,
            "first_seen": time,
            "last_seen": time,
            "sources": [],
            "sources_total": 1,
            "fields": fields,
        },
    });
    // A title of the alert's own ("5 secrets read by alice within 60 s")
    // says more than its rule's, which `rule.name` keeps.
    if !a.title.is_empty() && a.title != title {
        body["k8scop"]["title"] = Value::String(a.title.clone());
    }
    let threat = rule.map_or(Value::Array(vec![]), |r| attack::threat(&r.tags));
    if threat.as_array().is_some_and(|t| !t.is_empty()) {
        body["threat"] = threat;
    }
    for (key, path) in ECS_FIELDS {
        if let Some(value) = fields.get(*key) {
            set_path(&mut body, path, value.clone());
        }
    }
    let mut set = |path: &[&str], value: &str| {
        if !value.is_empty() {
            set_path(&mut body, path, Value::String(value.to_string()));
        }
    };
    set(&["event", "action"], &verb);
    set(&["event", "id"], &facts.audit_id);
    set(&["user", "name"], &user);
    set(&["user", "effective", "name"], &effective);
    set(
        &["user_agent", "original"],
        &or(field("user_agent"), &facts.user_agent),
    );
    set(&["url", "original"], &facts.request_uri);
    if facts.audit {
        set(&["orchestrator", "type"], "kubernetes");
        set(&["orchestrator", "namespace"], &namespace);
        set(&["orchestrator", "resource", "type"], &resource);
        set(&["orchestrator", "resource", "name"], &name);
        set(&["orchestrator", "api_version"], &facts.group_version());
        set(&["k8scop", "subresource"], &subresource);
    }
    if let Some(cluster) = &facts.cluster {
        set(&["orchestrator", "cluster", "name"], cluster);
    }
    if let Some(code) = facts.response_code {
        set_path(&mut body, &["http", "response", "status_code"], code.into());
    }
    if !facts.groups.is_empty() {
        set_path(&mut body, &["user", "group", "name"], json!(facts.groups));
    }
    // Addresses that parse: `source.ip` and `related.ip` are ECS `ip`s.
    let mut ips: Vec<String> = Vec::new();
    for ip in std::iter::once(field("source_ip")).chain(facts.source_ips.iter().map(String::as_str))
    {
        if let Ok(ip) = ip.parse::<std::net::IpAddr>()
            && !ips.contains(&ip.to_string())
        {
            ips.push(ip.to_string());
        }
    }
    if let Some(first) = ips.first() {
        set_path(&mut body, &["source", "ip"], Value::String(first.clone()));
        set_path(&mut body, &["related", "ip"], json!(ips));
    }
    let mut users: Vec<&str> = Vec::new();
    for u in [user.as_str(), effective.as_str()] {
        if !u.is_empty() && !users.contains(&u) {
            users.push(u);
        }
    }
    if !users.is_empty() {
        set_path(&mut body, &["related", "user"], json!(users));
    }
    body
}

/// A raised alert on its way to the aggregator. Most raised alerts only
/// grow an aggregate (its count, last time and sources), so the alert
/// document, a tree of some fifty allocations, is built only when an
/// aggregate is written, from its latest alert.
#[derive(Debug, Clone)]
pub struct PendingAlert {
    time: DateTime<Utc>,
    content: Content,
}

#[derive(Debug, Clone)]
enum Content {
    Raised {
        raised: RaisedAlert,
        facts: Box<EventFacts>,
    },
    Document(AlertDoc),
}

impl PendingAlert {
    /// `cluster`: the operator's `--cluster-name`, which wins over the
    /// cluster a document's envelope names.
    pub fn new(raised: RaisedAlert, doc: &DecodedDoc, cluster: Option<&str>) -> Self {
        PendingAlert {
            time: alert_time(&raised.alert.event_time),
            content: Content::Raised {
                raised,
                facts: Box::new(EventFacts::of(doc).with_cluster(cluster)),
            },
        }
    }

    /// An alert given as its document (`@timestamp`, `rule.id`,
    /// `k8scop.group_key` and `k8scop.alert_id` are read from it).
    pub fn from_document(doc: AlertDoc) -> Self {
        PendingAlert {
            time: alert_time(doc.body["@timestamp"].as_str().unwrap_or_default()),
            content: Content::Document(doc),
        }
    }

    /// The alert's time, to the millisecond, as its document has it.
    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }

    pub fn rule_id(&self) -> &str {
        match &self.content {
            Content::Raised { raised, .. } => &raised.alert.rule_id,
            Content::Document(doc) => doc.body["rule"]["id"].as_str().unwrap_or_default(),
        }
    }

    /// The cluster the alert is about ("" when unknown): aggregates are
    /// per cluster.
    pub fn cluster(&self) -> &str {
        match &self.content {
            Content::Raised { facts, .. } => facts.cluster.as_deref().unwrap_or_default(),
            Content::Document(doc) => doc.body["orchestrator"]["cluster"]["name"]
                .as_str()
                .unwrap_or_default(),
        }
    }

    pub fn group_key(&self) -> &str {
        match &self.content {
            Content::Raised { raised, .. } => &raised.alert.group_key,
            Content::Document(doc) => doc.body["k8scop"]["group_key"].as_str().unwrap_or_default(),
        }
    }

    /// The id of an aggregate this alert starts, triggered by `source`.
    pub fn id(&self, source: &DocRef) -> String {
        match &self.content {
            Content::Raised { raised, .. } => {
                alert_id(&raised.alert.rule_id, &raised.alert.group_key, source)
            }
            Content::Document(doc) => doc.id.clone(),
        }
    }

    /// The alert's own document, as if it were the first of its aggregate.
    pub fn document(&self, source: &DocRef) -> AlertDoc {
        let id = self.id(source);
        let mut body = self.body();
        body["k8scop"]["alert_id"] = Value::String(id.clone());
        body["k8scop"]["sources"] = json!([source]);
        AlertDoc { id, body }
    }

    /// The alert's document, but for its aggregate's id and sources.
    pub fn body(&self) -> Value {
        match &self.content {
            Content::Raised { raised, facts } => document_body(raised, facts),
            Content::Document(doc) => doc.body.clone(),
        }
    }
}

/// What a checkpoint stores of an aggregate's latest alert: its document.
impl serde::Serialize for PendingAlert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for PendingAlert {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let body = Value::deserialize(d)?;
        let id = body["k8scop"]["alert_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(PendingAlert::from_document(AlertDoc { id, body }))
    }
}

/// Two alerts are equal when their documents are.
impl PartialEq for PendingAlert {
    fn eq(&self, other: &Self) -> bool {
        self.body() == other.body()
    }
}

/// An alert's time as its document dates it (RFC 3339 to the millisecond);
/// now, for a time that does not parse (the engine has already replaced
/// those by the document's).
fn alert_time(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time).map_or_else(
        |_| Utc::now(),
        |t| {
            let t = t.with_timezone(&Utc);
            DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
        },
    )
}

fn normalise_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .unwrap_or_else(|_| t.to_string())
}

fn set_path(doc: &mut Value, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = doc;
    for key in parents {
        node = node
            .as_object_mut()
            .expect("alert document nodes are objects")
            .entry(*key)
            .or_insert_with(|| json!({}));
    }
    node[*last] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let src = DocRef {
            index: Some("logs-2024.03.01".into()),
            id: Some("a".into()),
            ..Default::default()
        };
        let id = alert_id("p/r", "alice|default", &src);
        assert_eq!(id, alert_id("p/r", "alice|default", &src));
        assert_eq!(id.len(), 32);
        assert_ne!(id, alert_id("p/r", "bob|default", &src));
        assert_ne!(id, alert_id("p/other", "alice|default", &src));
        // The separator keeps ("a", "b|c") and ("a|b", "c") apart.
        assert_ne!(alert_id("a", "b|c", &src), alert_id("a|b", "c", &src));
        // Each event of a batch document has its own id.
        let (item0, item1) = (src.with_item(0), src.with_item(1));
        assert_ne!(alert_id("p/r", "g", &item0), alert_id("p/r", "g", &item1));
        assert_ne!(alert_id("p/r", "g", &item0), alert_id("p/r", "g", &src));
        assert_eq!(
            alert_id("p/r", "g", &item1),
            alert_id("p/r", "g", &src.with_item(1))
        );
        let line = DocRef::line(5);
        assert_ne!(
            alert_id("p/r", "g", &line.with_item(3)),
            alert_id("p/r", "g", &line)
        );
    }

    #[test]
    fn times_are_normalised_to_utc_millis() {
        assert_eq!(
            normalise_time("2024-03-01T12:00:00.123456+02:00"),
            "2024-03-01T10:00:00.123Z"
        );
        assert_eq!(normalise_time("not a time"), "not a time");
    }

    fn raised() -> (RaisedAlert, DecodedDoc) {
        use std::sync::Arc;

        use crate::contract::Interest;
        use crate::contract::{Alert, PackInfo, RuleInfo, Severity};
        use crate::engine::PackMeta;

        let rules = vec![RuleInfo {
            id: "p/exec".into(),
            title: "Exec into a pod".into(),
            description: "Someone ran a command in a container.".into(),
            severity: Severity::High,
            tags: vec!["attack.t1609".into()],
            interest: Interest {
                kinds: vec![],
                verbs: vec![],
                resources: vec![],
            },
            needs: crate::contract::AuditNeeds::metadata(),
        }];
        let info = PackInfo {
            name: "p".into(),
            version: "1.2.3".into(),
            rules,
            settings: vec![],
        };
        let pack = Arc::new(PackMeta::new(
            info,
            Default::default(),
            String::new(),
            false,
        ));
        let doc = crate::decode::Decoder::default()
            .decode_line(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create","stageTimestamp":"2024-03-01T10:00:00.5Z"}"#
                    .to_string(),
                7,
            )
            .unwrap();
        let alert = Alert {
            rule_id: "p/exec".into(),
            title: "Exec into a pod".into(),
            severity: Severity::High,
            group_key: "alice|web".into(),
            event_time: "2024-03-01T12:00:00.123456+02:00".into(),
            event_index: 0,
            context: crate::contract::EventContext::empty(),
            fields: vec![
                ("user".into(), "alice".into()),
                ("command".into(), "sh".into()),
            ],
        };
        let raised = RaisedAlert {
            pack,
            alert,
            doc_index: 0,
        };
        (raised, doc)
    }

    /// The aggregator builds an alert's document late, from the alert: it
    /// must be the document `alert_document` builds at once, and survive a
    /// checkpoint as that document.
    #[test]
    fn a_pending_alert_makes_the_same_document_later_and_through_a_checkpoint() {
        let (raised, doc) = raised();
        let now = alert_document(&raised, &doc);
        let pending = PendingAlert::new(raised, &doc, None);
        assert_eq!(pending.time().to_rfc3339(), "2024-03-01T10:00:00.123+00:00");
        assert_eq!(pending.rule_id(), "p/exec");
        assert_eq!(pending.group_key(), "alice|web");
        let later = pending.document(&doc.origin);
        assert_eq!(later.id, now.id);
        assert_eq!(later.body, now.body);
        assert_eq!(later.body["process"]["command_line"], "sh");
        assert_eq!(later.body["rule"]["version"], "1.2.3");

        let saved = serde_json::to_string(&pending).unwrap();
        let restored: PendingAlert = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, pending);
        assert_eq!(restored.time(), pending.time());
        assert_eq!(restored.rule_id(), "p/exec");
        assert_eq!(restored.group_key(), "alice|web");
    }

    /// A pack names the event's fields it wants by its alert's `context`;
    /// the host adds them from the event it parsed, in the SDK's order, and
    /// a field the pack set itself wins.
    #[test]
    fn the_fields_an_alert_names_by_its_context_come_from_the_triggering_event() {
        use crate::contract::EventContext;
        let (mut raised, _) = raised();
        let doc = crate::decode::Decoder::default()
            .decode_line(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseStarted","auditID":"a-1","verb":"create","requestURI":"/api/v1/namespaces/shop/pods/web-0/exec?command=sh","user":{"username":"bob","groups":["dev","system:authenticated"]},"sourceIPs":["10.1.2.3","10.9.9.9"],"userAgent":"kubectl/v1.30","objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web-0"},"responseStatus":{"code":101},"stageTimestamp":"2024-03-01T10:00:00Z"}"#
                    .to_string(),
                1,
            )
            .unwrap();
        raised.alert.context = EventContext::all() ^ EventContext::GROUPS;
        raised.alert.fields = vec![
            ("command".into(), "sh".into()),
            ("name".into(), "chosen by the pack".into()),
        ];
        let facts = EventFacts::of(&doc);
        let fields = alert_fields(&raised, &facts);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("user", "bob"),
                ("source_ip", "10.1.2.3"),
                ("user_agent", "kubectl/v1.30"),
                ("verb", "create"),
                ("resource", "pods/exec"),
                ("namespace", "shop"),
                ("name", "chosen by the pack"),
                ("response_code", "101"),
                ("audit_id", "a-1"),
                ("command", "sh"),
            ],
            "no impersonated user in the event, so none in the alert"
        );
        let body = alert_document(&raised, &doc).body;
        assert_eq!(body["k8scop"]["fields"]["resource"], "pods/exec");
        assert_eq!(body["k8scop"]["fields"]["name"], "chosen by the pack");
        assert_eq!(
            body["orchestrator"]["resource"]["name"],
            "chosen by the pack"
        );

        raised.alert.context = EventContext::GROUPS;
        raised.alert.fields.clear();
        assert_eq!(
            alert_fields(&raised, &facts),
            [("groups".to_string(), "dev,system:authenticated".to_string())]
        );
        raised.alert.context = EventContext::empty();
        assert!(alert_fields(&raised, &facts).is_empty());
    }

    #[test]
    fn an_alert_without_a_title_of_its_own_has_its_rules_and_one_with_its_own_shows_it() {
        let (mut raised, _) = raised();
        raised.alert.title = "sh run in web-0".into();
        assert_eq!(alert_title(&raised), "sh run in web-0");
        let doc = crate::decode::Decoder::default()
            .decode_line(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create","stageTimestamp":"2024-03-01T10:00:00Z"}"#
                    .to_string(),
                1,
            )
            .unwrap();
        let body = alert_document(&raised, &doc).body;
        assert_eq!(body["k8scop"]["title"], "sh run in web-0");
        assert_eq!(body["rule"]["name"], "Exec into a pod", "the rule's");

        raised.alert.title = String::new();
        assert_eq!(alert_title(&raised), "Exec into a pod");
        let body = alert_document(&raised, &doc).body;
        assert!(body["k8scop"].get("title").is_none(), "{body}");
    }
}
