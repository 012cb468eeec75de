//! `--cluster-field`: the document field that names its cluster, when a
//! fleet's audit logs share one index (`orchestrator.cluster.name` as an
//! ECS shipper writes it, `kubernetes.cluster.name`, a `cluster` label a
//! Fluent Bit filter adds). Read from the document's text, not its event:
//! it sits beside the audit event, not in it.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// The text at the dotted `path` of the JSON object `text`: nested objects
/// (`{"orchestrator":{"cluster":{"name":..}}}`), one flat key
/// (`{"orchestrator.cluster.name":..}`), or a mix. A number is read as its
/// text; anything else, or an empty text, names no cluster.
pub fn text_at(text: &str, path: &str) -> Option<String> {
    let object: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
    if let Some(value) = object.get(path) {
        return scalar(value);
    }
    // Each split of the path at a dot: the head a key here, the rest below.
    path.match_indices('.').find_map(|(at, _)| {
        let inner = object.get(&path[..at])?;
        text_at(inner.get(), &path[at + 1..])
    })
}

fn scalar(value: &RawValue) -> Option<String> {
    let text = match serde_json::from_str::<serde_json::Value>(value.get()).ok()? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_flat_and_mixed_paths_are_read() {
        let path = "orchestrator.cluster.name";
        for doc in [
            r#"{"orchestrator":{"cluster":{"name":"prod-eu"}},"verb":"get"}"#,
            r#"{"orchestrator.cluster.name":"prod-eu"}"#,
            r#"{"orchestrator":{"cluster.name":"prod-eu"}}"#,
            r#"{"orchestrator.cluster":{"name":"prod-eu"}}"#,
        ] {
            assert_eq!(text_at(doc, path).as_deref(), Some("prod-eu"), "{doc}");
        }
        assert_eq!(text_at(r#"{"cluster":7}"#, "cluster").as_deref(), Some("7"));
    }

    #[test]
    fn what_names_no_cluster() {
        for doc in [
            r#"{"orchestrator":{"cluster":{}}}"#,
            r#"{"orchestrator":{"cluster":{"name":""}}}"#,
            r#"{"orchestrator":{"cluster":{"name":["a"]}}}"#,
            r#"{"orchestrator":"prod"}"#,
            r#"not json"#,
        ] {
            assert_eq!(text_at(doc, "orchestrator.cluster.name"), None, "{doc}");
        }
    }
}
