//! The ECS check: every field of an alert document is an ECS field (or
//! k8scop's own, under `k8scop.*`) holding a value of the type ECS gives
//! it, and the alert index template maps every field. The field list is
//! ECS's own, `@elastic/ecs`'s `EcsFlat` (tests/ecs/, installed by
//! `make setup`).

use std::collections::BTreeMap;
use std::process::Command;

use k8scop_testkit::workspace_root;
use serde_json::Value;

/// ECS's field list: name -> {type, array, allowed, expected_types}.
pub struct Ecs {
    pub version: String,
    fields: BTreeMap<String, Value>,
}

impl Ecs {
    pub fn load() -> Self {
        let dir = workspace_root().join("tests/ecs");
        assert!(
            dir.join("node_modules/@elastic/ecs").is_dir(),
            "{}/node_modules/@elastic/ecs is missing: run `make setup` (npm ci in tests/ecs)",
            dir.display()
        );
        let out = Command::new("node")
            .arg("ecs_fields.js")
            .current_dir(&dir)
            .output()
            .expect("run node (the ECS check needs node)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
        let fields: BTreeMap<String, Value> =
            serde_json::from_value(dump["fields"].clone()).unwrap();
        assert!(fields.len() > 1000, "ECS has some 2,000 fields");
        Ecs {
            version: dump["version"].as_str().unwrap().to_string(),
            fields,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// What is wrong with `doc` as an ECS document (nothing: empty).
    pub fn problems(&self, doc: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        for (path, value) in leaves(doc) {
            if path.starts_with("k8scop.") {
                continue;
            }
            let Some(spec) = self.fields.get(&path) else {
                problems.push(format!("{path}: not an ECS field"));
                continue;
            };
            let ty = spec["type"].as_str().unwrap_or_default();
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            if value.is_array() && values.is_empty() {
                problems.push(format!("{path}: an empty array"));
            }
            for v in &values {
                if let Err(why) = of_type(ty, v) {
                    problems.push(format!("{path}: {v} is not ECS {ty}: {why}"));
                }
                if let Some(allowed) = spec["allowed"].as_array()
                    && !allowed.contains(v)
                {
                    problems.push(format!("{path}: {v} is not one of ECS's {allowed:?}"));
                }
            }
        }
        // Each event.type one ECS expects of each event.category.
        let expected = &self.fields["event.category"]["expected_types"];
        let as_list = |v: &Value| match v {
            Value::Array(a) => a.clone(),
            Value::Null => vec![],
            one => vec![one.clone()],
        };
        for category in as_list(&doc["event"]["category"]) {
            let Some(types) = category.as_str().and_then(|c| expected[c].as_array()) else {
                continue;
            };
            for t in as_list(&doc["event"]["type"]) {
                if !types.contains(&t) {
                    problems.push(format!(
                        "event.type {t} is not one ECS expects with event.category {category}"
                    ));
                }
            }
        }
        problems
    }
}

/// Whether `v` is a value of ECS type `ty`.
fn of_type(ty: &str, v: &Value) -> Result<(), String> {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
            v.is_string().then_some(()).ok_or("not a string".into())
        }
        "long" | "integer" | "short" | "byte" | "unsigned_long" => (v.is_i64() || v.is_u64())
            .then_some(())
            .ok_or("not an integer".into()),
        "float" | "scaled_float" | "double" | "half_float" => {
            v.is_number().then_some(()).ok_or("not a number".into())
        }
        "boolean" => v.is_boolean().then_some(()).ok_or("not a boolean".into()),
        "date" => {
            let s = v.as_str().ok_or("not a string")?;
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|_| ())
                .map_err(|e| format!("not RFC 3339 ({e})"))
        }
        "ip" => {
            let s = v.as_str().ok_or("not a string")?;
            s.parse::<std::net::IpAddr>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        other => Err(format!("a leaf where ECS has an {other}")),
    }
}

/// Every leaf of a document: its dotted path and its value (an array of
/// scalars is one leaf; an array of objects is walked into).
pub fn leaves(doc: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        let join = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    walk(&join(k), child, out);
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for item in items {
                    walk(prefix, item, out);
                }
            }
            leaf => out.push((prefix.to_string(), leaf)),
        }
    }
    let mut out = Vec::new();
    walk("", doc, &mut out);
    out
}

/// The alert template's fields with their types.
pub fn template_types() -> BTreeMap<String, String> {
    k8scop::es::template::mapped_field_types("k8scop-alerts")
}

/// The template type that stands for an ECS type where OpenSearch lacks it.
fn template_type_for(ecs: &str) -> &str {
    match ecs {
        "wildcard" | "constant_keyword" => "keyword",
        "match_only_text" => "text",
        other => other,
    }
}

/// Fields of `doc` the template does not map, or maps with a type other
/// than ECS's (k8scop.fields.* is the dynamic template's).
pub fn unmapped(doc: &Value, template: &BTreeMap<String, String>, ecs: &Ecs) -> Vec<String> {
    // Mapped as text before ECS was followed; changing a mapped type
    // would make the field a conflict across daily indices.
    const KEPT: &[&str] = &["rule.description"];
    let mut problems = Vec::new();
    for (path, _) in leaves(doc) {
        if path.starts_with("k8scop.fields.") {
            continue;
        }
        let Some(mapped) = template.get(&path) else {
            problems.push(format!("{path}: not mapped by the alert template"));
            continue;
        };
        if let Some(ty) = ecs.field(&path).and_then(|f| f["type"].as_str())
            && template_type_for(ty) != mapped
            && !KEPT.contains(&path.as_str())
        {
            problems.push(format!("{path}: mapped as {mapped}, ECS says {ty}"));
        }
    }
    problems
}
