//! JSON Patch (RFC 6902) request bodies: `kubectl patch --type=json` sends a
//! list of operations instead of the object, so a rule reading
//! `requestObject` as an object sees nothing. These helpers let it read
//! what the operations set, as operations or laid out as an object
//! ([`Event::request_written`]), so one check covers a create, an update, a
//! merge patch and a JSON patch.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::Event;
use crate::pod::PodSpec;

/// One operation of a JSON Patch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchOp<'a> {
    /// `add`, `replace`, `remove`, `move`, `copy` or `test`.
    pub op: &'a str,
    /// A JSON pointer (`/data/password`, `/rules/-`).
    pub path: &'a str,
    /// The value `add`, `replace` and `test` carry.
    pub value: Option<&'a Value>,
}

impl<'a> PatchOp<'a> {
    /// True for the operations that write a value (`add`, `replace`).
    pub fn sets(&self) -> bool {
        matches!(self.op, "add" | "replace")
    }

    /// The path's reference tokens, unescaped (`~1` is `/`, `~0` is `~`):
    /// `/data/tls~1key` -> `["data", "tls/key"]`.
    pub fn tokens(&self) -> Vec<String> {
        pointer_tokens(self.path)
    }
}

/// The operations of a JSON Patch body; empty when `body` is not one (an
/// object, a merge patch, or a list that is not of operations).
pub fn json_patch_ops(body: &Value) -> Vec<PatchOp<'_>> {
    let Some(items) = body.as_array() else {
        return Vec::new();
    };
    let ops: Option<Vec<PatchOp<'_>>> = items
        .iter()
        .map(|item| {
            Some(PatchOp {
                op: item.get("op")?.as_str()?,
                path: item.get("path")?.as_str()?,
                value: item.get("value"),
            })
        })
        .collect();
    ops.unwrap_or_default()
}

/// The reference tokens of a JSON pointer, unescaped.
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .strip_prefix('/')
        .map(|rest| {
            rest.split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect()
        })
        .unwrap_or_default()
}

/// What the `add` and `replace` operations write, laid out as an object:
/// `/spec/type` = `"NodePort"` becomes `{"spec": {"type": "NodePort"}}`.
/// Array positions skipped over are filled with empty values of the same
/// kind, so `/containers/1/image` makes a list whose first container is
/// empty. Removals, moves and copies write nothing visible.
pub fn written_object(ops: &[PatchOp<'_>]) -> Value {
    let mut root = Value::Object(Map::new());
    for op in ops.iter().filter(|op| op.sets()) {
        if let Some(value) = op.value {
            place(&mut root, &op.tokens(), value);
        }
    }
    root
}

/// Put `value` at `tokens` under `at`, making the objects and arrays on the
/// way. A token that does not fit what is already there is skipped.
fn place(at: &mut Value, tokens: &[String], value: &Value) {
    let Some((token, rest)) = tokens.split_first() else {
        *at = value.clone();
        return;
    };
    // What goes at this token: the value itself, or a container for the
    // next token.
    let fresh = || match rest.first() {
        None => empty_like(value),
        Some(next) if next == "-" || next.parse::<usize>().is_ok() => Value::Array(Vec::new()),
        Some(_) => Value::Object(Map::new()),
    };
    match at {
        Value::Object(map) => {
            let slot = map.entry(token.clone()).or_insert_with(fresh);
            place(slot, rest, value);
        }
        Value::Array(items) => {
            let index = if token == "-" {
                items.len()
            } else {
                match token.parse::<usize>() {
                    // A patch body is the client's: cap what it can make us build.
                    Ok(i) if i <= 10_000 => i,
                    _ => return,
                }
            };
            while items.len() <= index {
                items.push(fresh());
            }
            place(&mut items[index], rest, value);
        }
        _ => {}
    }
}

/// An empty value of the same JSON type, to pad arrays with.
fn empty_like(value: &Value) -> Value {
    match value {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::String(_) => Value::String(String::new()),
        Value::Bool(_) => Value::Bool(false),
        Value::Number(_) => Value::from(0),
        Value::Null => Value::Null,
    }
}

impl Event<'_> {
    /// The object the request writes: the request body when it is an
    /// object (create, update, merge or strategic-merge patch, apply), or
    /// what a JSON patch's operations set, laid out by [`written_object`].
    /// `None` at Metadata level.
    pub fn request_written(&self) -> Option<Cow<'_, Value>> {
        match self.request_object()? {
            object @ Value::Object(_) => Some(Cow::Borrowed(object)),
            body => {
                let ops = json_patch_ops(body);
                (!ops.is_empty()).then(|| Cow::Owned(written_object(&ops)))
            }
        }
    }

    /// The pod spec the request writes (see [`Event::request_pod_spec`]),
    /// also through a JSON patch.
    pub fn request_written_pod_spec(&self) -> Option<PodSpec> {
        crate::pod::pod_spec_of(self.request_written()?.as_ref())
    }

    /// The request's JSON Patch operations (`kubectl patch --type=json`);
    /// empty for any other body, and at Metadata level.
    pub fn request_patch_ops(&self) -> Vec<PatchOp<'_>> {
        self.request_object()
            .map(json_patch_ops)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_and_tokens() {
        let body = json!([
            {"op": "add", "path": "/data/db~1password", "value": "hunter2"},
            {"op": "replace", "path": "/spec/type", "value": "NodePort"},
            {"op": "remove", "path": "/metadata/labels/a~0b"}
        ]);
        let ops = json_patch_ops(&body);
        assert_eq!(ops.len(), 3);
        assert!(ops[0].sets() && ops[1].sets() && !ops[2].sets());
        assert_eq!(ops[0].tokens(), ["data", "db/password"]);
        assert_eq!(ops[1].value, Some(&json!("NodePort")));
        assert_eq!(ops[2].tokens(), ["metadata", "labels", "a~b"]);
        assert_eq!(ops[2].value, None);
        assert_eq!(pointer_tokens(""), Vec::<String>::new());
        assert_eq!(pointer_tokens("/"), [""]);
    }

    #[test]
    fn written_objects() {
        let ops = json!([
            {"op": "replace", "path": "/spec/type", "value": "NodePort"},
            {"op": "add", "path": "/data/pass~1word", "value": "x"},
            {"op": "add", "path": "/rules/-", "value": {"verbs": ["*"]}},
            {"op": "add", "path": "/spec/template/spec/containers/1/securityContext/privileged", "value": true},
            {"op": "add", "path": "/spec/template/spec/containers/1/name", "value": "b"},
            {"op": "add", "path": "/verbs/2", "value": "*"},
            {"op": "remove", "path": "/metadata/labels"},
            {"op": "add", "path": "/spec/type/oops", "value": 1},
            {"op": "add", "path": "/huge/99999999", "value": 1}
        ]);
        let written = written_object(&json_patch_ops(&ops));
        assert_eq!(
            written,
            json!({
                "spec": {"type": "NodePort", "template": {"spec": {"containers": [
                    {}, {"securityContext": {"privileged": true}, "name": "b"}]}}},
                "data": {"pass/word": "x"},
                "rules": [{"verbs": ["*"]}],
                "verbs": ["", "", "*"],
                "huge": []
            })
        );
        let json = format!(r#"{{"kind":"Event","verb":"patch","requestObject":{ops}}}"#);
        let e = Event::from_json(&json).unwrap();
        let spec = e.request_written_pod_spec().unwrap();
        assert!(spec.containers[1].is_privileged());
        assert_eq!(spec.containers[1].name, "b");
        assert_eq!(
            e.request_written().unwrap().pointer("/spec/type"),
            Some(&json!("NodePort"))
        );
        // An object body is written as it is.
        let merge = Event::from_json(
            r#"{"kind":"Event","verb":"patch","requestObject":{"spec":{"hostNetwork":true}}}"#,
        )
        .unwrap();
        assert!(merge.request_written_pod_spec().unwrap().host_network);
        assert!(
            Event::from_json(r#"{"kind":"Event"}"#)
                .unwrap()
                .request_written()
                .is_none()
        );
    }

    #[test]
    fn other_bodies_are_no_patch() {
        assert!(json_patch_ops(&json!({"data": {"a": "b"}})).is_empty());
        assert!(json_patch_ops(&json!(["a", "b"])).is_empty());
        assert!(json_patch_ops(&json!([{"op": "add"}])).is_empty());
        let e = Event::from_json(
            r#"{"kind":"Event","verb":"patch","requestObject":[{"op":"add","path":"/x","value":1}]}"#,
        )
        .unwrap();
        assert_eq!(e.request_patch_ops().len(), 1);
        let meta = Event::from_json(r#"{"kind":"Event","verb":"patch"}"#).unwrap();
        assert!(meta.request_patch_ops().is_empty());
    }
}
