//! An audit event as rsigma sees it: each Sigma field name looked up in
//! the event the host already parsed, without turning it back into JSON.
//! Only a rule naming a body path (`requestObject...`) makes the body
//! parse, once per event.

use std::borrow::Cow;

use rsigma_eval::event::{Event as SigmaEvent, EventValue};
use serde_json::Value;

use super::fields;
use crate::audit::{Event, Text};

/// The fields of one audit event, by Sigma field name.
pub struct AuditFields<'e, 'a> {
    event: &'e Event<'a>,
}

impl<'e, 'a> AuditFields<'e, 'a> {
    pub fn new(event: &'e Event<'a>) -> Self {
        AuditFields { event }
    }

    /// The value at one audit path (no alias).
    fn at(&self, path: &str) -> Option<EventValue<'e>> {
        let e = self.event;
        let user = |u: Option<&'e crate::UserInfo<'a>>, field: &str| -> Option<EventValue<'e>> {
            let u = u?;
            match field {
                "username" => text(&u.username),
                "uid" => text(&u.uid),
                "groups" => list(u.groups.iter()),
                _ => {
                    let key = field.strip_prefix("extra.")?;
                    list(u.extra.iter().filter(|(k, _)| k == key).map(|(_, v)| v))
                }
            }
        };
        if let Some(field) = path.strip_prefix("user.") {
            return user(Some(&e.user), field);
        }
        if let Some(field) = path.strip_prefix("impersonatedUser.") {
            return user(e.impersonated_user.as_ref(), field);
        }
        if let Some(field) = path.strip_prefix("objectRef.") {
            let o = e.object_ref.as_ref()?;
            return text(match field {
                "resource" => &o.resource,
                "namespace" => &o.namespace,
                "name" => &o.name,
                "uid" => &o.uid,
                "apiGroup" => &o.api_group,
                "apiVersion" => &o.api_version,
                "resourceVersion" => &o.resource_version,
                "subresource" => &o.subresource,
                _ => return None,
            });
        }
        if let Some(field) = path.strip_prefix("responseStatus.") {
            let s = e.response_status.as_ref()?;
            return match field {
                "code" => Some(EventValue::Int(s.code.into())),
                "status" => text(&s.status),
                "reason" => text(&s.reason),
                "message" => text(&s.message),
                _ => None,
            };
        }
        if let Some(key) = path.strip_prefix("annotations.") {
            let (_, value) = e.annotations.iter().find(|(k, _)| k == key)?;
            return text(value);
        }
        for (prefix, body) in [
            ("requestObject", e.request_object()),
            ("responseObject", e.response_object()),
        ] {
            if let Some(rest) = path.strip_prefix(prefix) {
                let body = body?;
                return match rest.strip_prefix('.') {
                    Some(rest) => json_at(body, rest),
                    None if rest.is_empty() => Some(EventValue::from(body)),
                    None => None,
                };
            }
        }
        text(match path {
            "kind" => &e.kind,
            "apiVersion" => &e.api_version,
            "level" => &e.level,
            "auditID" => &e.audit_id,
            "stage" => &e.stage,
            "requestURI" => &e.request_uri,
            "verb" => &e.verb,
            "userAgent" => &e.user_agent,
            "requestReceivedTimestamp" => &e.request_received_timestamp,
            "stageTimestamp" => &e.stage_timestamp,
            "timestamp" => &e.timestamp,
            "metadata.creationTimestamp" => &e.metadata.as_ref()?.creation_timestamp,
            "sourceIPs" => return list(e.source_ips.iter()),
            _ => return None,
        })
    }

    /// Every text of the event, bodies included (keyword rules).
    fn each_text(&self, visit: &mut dyn FnMut(&str)) {
        let e = self.event;
        for path in fields::TEXTS {
            if let Some(EventValue::Str(s)) = self.at(path) {
                visit(&s);
            }
        }
        for s in e.source_ips.iter().chain(&e.user.groups) {
            visit(s);
        }
        for (_, v) in e.annotations.iter().chain(&e.user.extra) {
            visit(v);
        }
        for body in [e.request_object(), e.response_object()]
            .into_iter()
            .flatten()
        {
            each_json_text(body, visit, 64);
        }
    }
}

impl SigmaEvent for AuditFields<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let aliased = fields::paths(path);
        if aliased.is_empty() {
            return self.at(path);
        }
        let mut found: Vec<EventValue<'_>> = Vec::new();
        for value in aliased.iter().filter_map(|p| self.at(p)) {
            match value {
                EventValue::Array(values) => found.extend(values),
                value => found.push(value),
            }
        }
        match found.len() {
            0 => None,
            1 => found.pop(),
            _ => Some(EventValue::Array(found)),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut any = false;
        self.each_text(&mut |s| any = any || pred(s));
        any
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut all = Vec::new();
        self.each_text(&mut |s| all.push(Cow::Owned(s.to_string())));
        all
    }

    fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for path in fields::TEXTS
            .iter()
            .chain(fields::LISTS)
            .chain(fields::NUMBERS)
        {
            if let Some(value) = self.at(path) {
                object.insert(path.to_string(), value.to_json());
            }
        }
        Value::Object(object)
    }
}

fn text<'e>(t: &'e Text<'_>) -> Option<EventValue<'e>> {
    (!t.is_empty()).then(|| EventValue::Str(Cow::Borrowed(t.as_ref())))
}

fn list<'e>(items: impl Iterator<Item = &'e Text<'e>>) -> Option<EventValue<'e>> {
    let values: Vec<EventValue<'e>> = items
        .map(|t| EventValue::Str(Cow::Borrowed(t.as_ref())))
        .collect();
    (!values.is_empty()).then_some(EventValue::Array(values))
}

/// The values at a dotted path in a JSON body. Through an array every
/// element is followed (any element may match, as Sigma means it);
/// several values come as one array.
fn json_at<'v>(root: &'v Value, path: &str) -> Option<EventValue<'v>> {
    let mut found = Vec::new();
    collect(root, &path.split('.').collect::<Vec<_>>(), &mut found);
    match found.len() {
        0 => None,
        1 => found.pop().map(EventValue::from),
        _ => Some(EventValue::Array(
            found.into_iter().map(EventValue::from).collect(),
        )),
    }
}

fn collect<'v>(value: &'v Value, path: &[&str], out: &mut Vec<&'v Value>) {
    match (value, path.split_first()) {
        (Value::Array(items), Some(_)) => items.iter().for_each(|v| collect(v, path, out)),
        (Value::Object(map), Some((key, rest))) => {
            if let Some(v) = map.get(*key) {
                collect(v, rest, out);
            }
        }
        (_, None) => out.push(value),
        _ => {}
    }
}

fn each_json_text(value: &Value, visit: &mut dyn FnMut(&str), depth: usize) {
    if depth == 0 {
        return;
    }
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) => items
            .iter()
            .for_each(|v| each_json_text(v, visit, depth - 1)),
        Value::Object(map) => map
            .values()
            .for_each(|v| each_json_text(v, visit, depth - 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create",
        "user":{"username":"alice","groups":["dev","system:authenticated"],"extra":{"scopes":["a","b"]}},
        "sourceIPs":["10.0.0.7"],"objectRef":{"resource":"pods","namespace":"default","name":"web"},
        "responseStatus":{"code":201},"annotations":{"authorization.k8s.io/decision":"allow"},
        "requestObject":{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/etc"}},{"name":"e","emptyDir":{}}],
        "containers":[{"name":"a","securityContext":{"privileged":true}},{"name":"b"}]}},
        "stageTimestamp":"2024-03-01T10:00:00Z"}"#;

    fn str(v: Option<EventValue<'_>>) -> Option<String> {
        v.and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    #[test]
    fn audit_paths_read_the_parsed_event() {
        let e = Event::from_json(POD).unwrap();
        let f = AuditFields::new(&e);
        assert_eq!(str(f.get_field("verb")), Some("create".into()));
        assert_eq!(
            str(f.get_field("objectRef.namespace")),
            Some("default".into())
        );
        assert_eq!(
            f.get_field("responseStatus.code"),
            Some(EventValue::Int(201))
        );
        assert_eq!(f.get_field("objectRef.subresource"), None);
        assert_eq!(
            str(f.get_field("annotations.authorization.k8s.io/decision")),
            Some("allow".into())
        );
        let Some(EventValue::Array(groups)) = f.get_field("user.groups") else {
            panic!("groups are a list")
        };
        assert_eq!(groups.len(), 2);
        let Some(EventValue::Array(scopes)) = f.get_field("user.extra.scopes") else {
            panic!("extra values are a list")
        };
        assert_eq!(scopes.len(), 2);
    }

    #[test]
    fn body_paths_follow_arrays_and_aliases_map() {
        let e = Event::from_json(POD).unwrap();
        let f = AuditFields::new(&e);
        assert_eq!(
            f.get_field("requestObject.spec.containers.securityContext.privileged"),
            Some(EventValue::Bool(true))
        );
        assert_eq!(str(f.get_field("hostPath")), Some("/etc".into()));
        assert_eq!(f.get_field("capabilities"), None);
        assert!(f.any_string_value(&|s| s == "/etc"));
        assert!(f.any_string_value(&|s| s == "alice"));
        assert!(!f.any_string_value(&|s| s == "mallory"));
    }
}
