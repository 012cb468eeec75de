//! The dashboards under `deploy/`, checked without a Kibana: a wrong field
//! name or a dangling reference would only show as an empty panel, or a
//! failed import, in someone's cluster.
//!
//! - `deploy/kibana/k8scop.ndjson` (Kibana 8.8+): a data view, Lens charts,
//!   a saved search and a dashboard with a cluster control; every object in
//!   the current export format (`coreMigrationVersion`,
//!   `typeMigrationVersion`, no migrations newer than Kibana 8.8 knows);
//! - `deploy/opensearch-dashboards/k8scop.ndjson` (OpenSearch Dashboards
//!   2.x): the same charts as classic visualizations, none of Kibana 8's
//!   types or attributes, no `migrationVersion` newer than it knows.
//!
//! In both, every line is a JSON object, every field used is one the alert
//! index template maps (and aggregatable where aggregated), every
//! reference resolves to an object of the file with its type, and every
//! dashboard panel, Lens layer, control and search source has its
//! reference. The files are `scripts/dashboards.py`'s output, byte for
//! byte.

use std::collections::{BTreeMap, BTreeSet};

use k8scop::es::template;
use k8scop_testkit::workspace_root;
use serde_json::Value;

const KIBANA: &str = "deploy/kibana/k8scop.ndjson";
const OSD: &str = "deploy/opensearch-dashboards/k8scop.ndjson";

/// What Kibana writes as `coreMigrationVersion` from 8.8 on.
const KIBANA_CORE: &str = "8.8.0";
/// The newest migration of each type Kibana 8.8 knows: an object claiming
/// a newer one is refused by it.
const KIBANA_8_8_KNOWS: &[(&str, &str)] = &[
    ("index-pattern", "8.0.0"),
    ("lens", "8.6.0"),
    ("search", "8.0.0"),
    ("dashboard", "8.7.0"),
];
/// OpenSearch Dashboards (forked from Kibana 7.10.2): its types and the
/// newest migration of each.
const OSD_KNOWS: &[(&str, &str)] = &[
    ("index-pattern", "7.6.0"),
    ("visualization", "7.10.0"),
    ("search", "7.9.3"),
    ("dashboard", "7.9.3"),
];
/// Classic visualization types OpenSearch Dashboards draws.
const OSD_VIS_TYPES: &[&str] = &[
    "area",
    "histogram",
    "horizontal_bar",
    "line",
    "pie",
    "table",
    "metric",
    "input_control_vis",
    "markdown",
];
/// Lens' count of documents: no field.
const RECORDS: &str = "___records___";

fn alert_pattern() -> String {
    template::alert_template("k8scop-alerts")["index_patterns"][0]
        .as_str()
        .unwrap()
        .to_string()
}

/// One use of a field: where, which, and whether it is aggregated or
/// sorted on (which needs doc values: not `text`).
#[derive(Debug)]
struct FieldUse {
    at: String,
    field: String,
    aggregated: bool,
}

/// Saved objects nest JSON in strings (`visState`, `panelsJSON`,
/// `searchSourceJSON`): those are parsed and searched as well.
fn nested(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str(s).ok()
        }
        _ => None,
    }
}

/// Every field an object names, wherever it sits.
fn fields_used(value: &Value, at: &str, out: &mut Vec<FieldUse>) {
    if let Some(inner) = nested(value) {
        return fields_used(&inner, at, out);
    }
    fn push(out: &mut Vec<FieldUse>, at: &str, field: &str, aggregated: bool) {
        if field != RECORDS {
            out.push(FieldUse {
                at: at.to_string(),
                field: field.to_string(),
                aggregated,
            });
        }
    }
    match value {
        Value::Array(items) => items.iter().for_each(|i| fields_used(i, at, out)),
        Value::Object(map) => {
            // A classic aggregation (`{type, schema, params: {field}}`).
            let agg = map.contains_key("schema") && map.contains_key("type");
            for (key, v) in map {
                match (key.as_str(), v) {
                    // Lens columns and controls aggregate their field.
                    ("sourceField" | "fieldName", Value::String(f)) => push(out, at, f, true),
                    ("field" | "timeFieldName" | "key", Value::String(f)) => push(out, at, f, agg),
                    ("params", Value::Object(params)) if agg => {
                        if let Some(Value::String(f)) = params.get("field") {
                            push(out, at, f, true);
                        }
                        fields_used(v, at, out);
                    }
                    // A saved search's columns; Lens' datatable columns are
                    // objects (`{columnId}`), walked below.
                    ("columns", Value::Array(columns)) if columns.iter().all(Value::is_string) => {
                        columns
                            .iter()
                            .filter_map(Value::as_str)
                            .for_each(|c| push(out, at, c, false));
                    }
                    ("sort", Value::Array(sorts)) => {
                        for s in sorts {
                            if let Some(f) = s.get(0).and_then(Value::as_str) {
                                push(out, at, f, true);
                            }
                        }
                    }
                    // A KQL query names fields as `field: value`.
                    ("query", Value::String(q)) => {
                        for f in kql_fields(q) {
                            push(out, at, &f, false);
                        }
                    }
                    _ => fields_used(v, at, out),
                }
            }
        }
        _ => {}
    }
}

fn kql_fields(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .filter_map(|token| token.split_once(':').map(|(f, _)| f))
        .filter(|f| !f.is_empty() && !f.starts_with('"'))
        .map(|f| f.trim_start_matches('(').to_string())
        .collect()
}

fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// Every line a JSON object with a type and an id; blank lines skipped.
fn objects(ndjson: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        if !v["type"].is_string() || !v["id"].is_string() {
            return Err(format!("line {}: not a saved object (type, id)", i + 1));
        }
        out.push(v);
    }
    Ok(out)
}

fn at(o: &Value) -> String {
    format!("{} {}", o["type"].as_str().unwrap_or("?"), o["id"])
}

fn reference_names(o: &Value) -> BTreeMap<String, (String, String)> {
    o["references"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (text("name"), (text("type"), text("id")))
        })
        .collect()
}

/// What both dialects must get right: fields, references and the names
/// that tie a panel, layer, control or search source to its reference.
/// `panel_ref` is how the dashboard names a panel's reference.
fn common_problems(objects: &[Value], panel_ref: fn(&Value) -> String) -> Vec<String> {
    let types = template::mapped_field_types("k8scop-alerts");
    let ids: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().into(),
                o["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for o in objects {
        let at = at(o);
        if !seen.insert(at.clone()) {
            problems.push(format!("{at}: twice in the file"));
        }
        if !o["references"].is_array() {
            problems.push(format!("{at}: no `references` list"));
        }
        let refs = reference_names(o);
        for (name, key) in &refs {
            if !ids.contains(key) {
                problems.push(format!(
                    "{at}: reference {name:?} to {key:?}, not in the file"
                ));
            }
        }
        let mut need = |name: String, kind: &str| match refs.get(&name) {
            Some((t, _)) if t == kind => {}
            Some((t, _)) => {
                problems.push(format!("{at}: reference {name:?} is a {t}, not a {kind}"))
            }
            None => problems.push(format!("{at}: no reference named {name:?}")),
        };
        let attributes = &o["attributes"];
        if let Some(source) = nested(&attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            && let Some(name) = source["indexRefName"].as_str()
        {
            need(name.to_string(), "index-pattern");
        }
        if o["type"] == "lens" {
            let layers = &attributes["state"]["datasourceStates"]["formBased"]["layers"];
            for layer in layers.as_object().into_iter().flatten().map(|(id, _)| id) {
                need(
                    format!("indexpattern-datasource-layer-{layer}"),
                    "index-pattern",
                );
            }
        }
        if let Some(vis) = nested(&attributes["visState"]) {
            for control in vis["params"]["controls"].as_array().into_iter().flatten() {
                if let Some(name) = control["indexPatternRefName"].as_str() {
                    need(name.to_string(), "index-pattern");
                }
            }
        }
        if o["type"] == "dashboard" {
            let panels = nested(&attributes["panelsJSON"]).unwrap_or(Value::Null);
            let Some(panels) = panels.as_array().filter(|p| !p.is_empty()) else {
                problems.push(format!("{at}: no panels"));
                continue;
            };
            for panel in panels {
                let kind = panel["type"].as_str().unwrap_or("?");
                need(panel_ref(panel), kind);
            }
            let controls = nested(&attributes["controlGroupInput"]["panelsJSON"]);
            for (id, _) in controls.iter().flat_map(|c| c.as_object()).flatten() {
                need(
                    format!("controlGroup_{id}:optionsListDataView"),
                    "index-pattern",
                );
            }
        }
        if o["type"] == "index-pattern" {
            if attributes["title"] != alert_pattern().as_str() {
                problems.push(format!(
                    "{at}: the data view reads {} but alerts are written to {}",
                    attributes["title"],
                    alert_pattern()
                ));
            }
            if attributes["timeFieldName"] != "@timestamp" {
                problems.push(format!("{at}: the time field is not @timestamp"));
            }
        }
        let mut uses = Vec::new();
        fields_used(attributes, &at, &mut uses);
        for u in uses {
            match types.get(&u.field).map(String::as_str) {
                None => problems.push(format!(
                    "{}: field `{}` is not mapped by the alert index template",
                    u.at, u.field
                )),
                Some("text") if u.aggregated => problems.push(format!(
                    "{}: field `{}` is text, which cannot be aggregated or sorted",
                    u.at, u.field
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

fn kibana_problems(ndjson: &str) -> Vec<String> {
    let objects = match objects(ndjson) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    // Kibana 8 names a panel's reference `<panelIndex>:<panelRefName>`.
    let panel_ref = |p: &Value| {
        format!(
            "{}:{}",
            p["panelIndex"].as_str().unwrap_or_default(),
            p["panelRefName"].as_str().unwrap_or_default()
        )
    };
    let mut problems = common_problems(&objects, panel_ref);
    let knows: BTreeMap<&str, &str> = KIBANA_8_8_KNOWS.iter().copied().collect();
    for o in &objects {
        let at = at(o);
        let kind = o["type"].as_str().unwrap_or_default();
        if o["coreMigrationVersion"] != KIBANA_CORE {
            problems.push(format!("{at}: coreMigrationVersion is not {KIBANA_CORE}"));
        }
        if o.get("migrationVersion").is_some() {
            problems.push(format!("{at}: a 7.x migrationVersion"));
        }
        match (
            o["typeMigrationVersion"].as_str().and_then(version),
            knows.get(kind),
        ) {
            (None, _) => problems.push(format!("{at}: no typeMigrationVersion")),
            (_, None) => problems.push(format!("{at}: a {kind} is no type of this dashboard")),
            (Some(v), Some(max)) if v > version(max).unwrap() => problems.push(format!(
                "{at}: typeMigrationVersion {} is newer than Kibana 8.8 knows ({max})",
                o["typeMigrationVersion"]
            )),
            _ => {}
        }
        if kind == "dashboard" && o["attributes"]["controlGroupInput"]["panelsJSON"].is_null() {
            problems.push(format!("{at}: no control group"));
        }
    }
    problems
}

fn osd_problems(ndjson: &str) -> Vec<String> {
    let objects = match objects(ndjson) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    // Kibana 7.10's dashboards name a panel's reference by its `panelRefName`.
    let panel_ref = |p: &Value| p["panelRefName"].as_str().unwrap_or_default().to_string();
    let mut problems = common_problems(&objects, panel_ref);
    let knows: BTreeMap<&str, &str> = OSD_KNOWS.iter().copied().collect();
    for o in &objects {
        let at = at(o);
        let kind = o["type"].as_str().unwrap_or_default();
        let Some(max) = knows.get(kind) else {
            problems.push(format!(
                "{at}: OpenSearch Dashboards has no saved object type {kind}"
            ));
            continue;
        };
        for key in ["coreMigrationVersion", "typeMigrationVersion"] {
            if o.get(key).is_some() {
                problems.push(format!("{at}: {key} is Kibana 8's"));
            }
        }
        for (migrated, v) in o["migrationVersion"].as_object().into_iter().flatten() {
            let newer = match (v.as_str().and_then(version), knows.get(migrated.as_str())) {
                (Some(v), Some(m)) => v > version(m).unwrap(),
                _ => true,
            };
            if newer {
                problems.push(format!(
                    "{at}: migrationVersion {migrated} {v} is newer than OpenSearch Dashboards knows ({max})"
                ));
            }
        }
        let attributes = &o["attributes"];
        if attributes.get("controlGroupInput").is_some() {
            problems.push(format!("{at}: a control group is Kibana 8's"));
        }
        if kind == "visualization" {
            let vis = nested(&attributes["visState"]).unwrap_or(Value::Null);
            let vis_type = vis["type"].as_str().unwrap_or("?");
            if !OSD_VIS_TYPES.contains(&vis_type) {
                problems.push(format!(
                    "{at}: visualization type {vis_type} is not drawn by OpenSearch Dashboards"
                ));
            }
        }
    }
    problems
}

fn read(path: &str) -> String {
    let path = workspace_root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fields a file's charts and controls group or filter by.
fn grouped_fields(ndjson: &str) -> BTreeSet<String> {
    let mut uses = Vec::new();
    for o in objects(ndjson).unwrap() {
        if o["type"] != "search" {
            fields_used(&o["attributes"], "", &mut uses);
        }
    }
    uses.into_iter()
        .filter(|u| u.aggregated)
        .map(|u| u.field)
        .collect()
}

/// What the dashboards are for: each names these fields.
const SHOWN: &[&str] = &[
    "@timestamp",
    "k8scop.severity",
    "rule.name",
    "user.name",
    "orchestrator.namespace",
    "threat.tactic.name",
    "orchestrator.cluster.name",
];

#[test]
fn the_kibana_dashboard_is_a_current_lens_export_of_mapped_fields() {
    let ndjson = read(KIBANA);
    let problems = kibana_problems(&ndjson);
    assert!(problems.is_empty(), "{KIBANA}:\n{}", problems.join("\n"));
    let objects = objects(&ndjson).unwrap();
    let count = |kind: &str| objects.iter().filter(|o| o["type"] == kind).count();
    assert_eq!(count("index-pattern"), 1);
    assert_eq!(count("dashboard"), 1);
    assert!(count("lens") >= 6, "the six charts are Lens");
    assert_eq!(count("visualization"), 0, "no legacy visualizations");
    let shown = grouped_fields(&ndjson);
    for field in SHOWN {
        assert!(shown.contains(*field), "no chart of {field}: {shown:?}");
    }
    // The cluster filter is a control of the dashboard.
    let dashboard = objects.iter().find(|o| o["type"] == "dashboard").unwrap();
    let controls = nested(&dashboard["attributes"]["controlGroupInput"]["panelsJSON"]).unwrap();
    assert!(
        controls
            .as_object()
            .unwrap()
            .values()
            .any(|c| c["type"] == "optionsListControl"
                && c["explicitInput"]["fieldName"] == "orchestrator.cluster.name"),
        "{controls}"
    );
}

#[test]
fn the_opensearch_dashboard_has_only_what_opensearch_dashboards_imports() {
    let ndjson = read(OSD);
    let problems = osd_problems(&ndjson);
    assert!(problems.is_empty(), "{OSD}:\n{}", problems.join("\n"));
    let objects = objects(&ndjson).unwrap();
    assert_eq!(
        objects.iter().filter(|o| o["type"] == "dashboard").count(),
        1
    );
    let shown = grouped_fields(&ndjson);
    for field in SHOWN {
        assert!(shown.contains(*field), "no chart of {field}: {shown:?}");
    }
    // The same charts as Kibana's, by id.
    let ids = |text: &str, kind: &str| -> BTreeSet<String> {
        crate::objects(text)
            .unwrap()
            .into_iter()
            .filter(|o| o["type"] == kind)
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    let lens = ids(&read(KIBANA), "lens");
    let vis = ids(&ndjson, "visualization");
    assert!(
        lens.is_subset(&vis),
        "Kibana {lens:?}, OpenSearch Dashboards {vis:?}"
    );
}

/// Each check can fail: a broken copy of each file is caught.
#[test]
fn the_dashboard_checks_catch_what_would_break_an_import() {
    let kibana = read(KIBANA);
    let osd = read(OSD);
    let caught = |problems: Vec<String>, want: &str| {
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{want:?} not among {problems:#?}"
        );
    };
    let broken = |text: &str, from: &str, to: &str| {
        assert!(text.contains(from), "{from:?} is not in the file");
        text.replacen(from, to, 1)
    };

    // A typo'd field in a Lens column, a control, a classic aggregation.
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""sourceField":"user.name""#,
            r#""sourceField":"user.nmae""#,
        )),
        "`user.nmae` is not mapped",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#"\"fieldName\":\"orchestrator.cluster.name\""#,
            r#"\"fieldName\":\"orchestrator.cluster\""#,
        )),
        "`orchestrator.cluster` is not mapped",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#"\"field\":\"threat.tactic.name\""#,
            r#"\"field\":\"threat.tactic\""#,
        )),
        "`threat.tactic` is not mapped",
    );
    // An aggregation on a text field.
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""sourceField":"rule.name""#,
            r#""sourceField":"message""#,
        )),
        "`message` is text",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#"\"field\":\"rule.name\""#,
            r#"\"field\":\"rule.description\""#,
        )),
        "`rule.description` is text",
    );
    // A dangling reference, a panel without its reference, a wrong type.
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""id":"k8scop-top-users","type":"lens""#,
            r#""id":"k8scop-top-user","type":"lens""#,
        )),
        "not in the file",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""name":"k8scop-top-rules:panel_k8scop-top-rules""#,
            r#""name":"panel_0""#,
        )),
        "no reference named \"k8scop-top-rules:panel_k8scop-top-rules\"",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#""type":"visualization","name":"panel_2""#,
            r#""type":"search","name":"panel_2""#,
        )),
        "is a search, not a visualization",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""name":"indexpattern-datasource-layer-layer-0""#,
            r#""name":"layer-0""#,
        )),
        "no reference named \"indexpattern-datasource-layer-layer-0\"",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""name":"controlGroup_control-cluster:optionsListDataView""#,
            r#""name":"control""#,
        )),
        "controlGroup_control-cluster:optionsListDataView",
    );
    // The data view on another pattern.
    caught(
        osd_problems(&broken(
            &osd,
            r#""title":"k8scop-alerts-*""#,
            r#""title":"alerts-*""#,
        )),
        "alerts are written to k8scop-alerts-*",
    );
    // Kibana: versions.
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""coreMigrationVersion":"8.8.0","typeMigrationVersion":"8.6.0""#,
            r#""typeMigrationVersion":"8.6.0""#,
        )),
        "coreMigrationVersion is not 8.8.0",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""typeMigrationVersion":"8.6.0""#,
            r#""typeMigrationVersion":"10.1.0""#,
        )),
        "newer than Kibana 8.8 knows",
    );
    caught(
        kibana_problems(&broken(
            &kibana,
            r#""typeMigrationVersion":"8.7.0""#,
            r#""migrationVersion":{"dashboard":"8.7.0"}"#,
        )),
        "no typeMigrationVersion",
    );
    // OpenSearch Dashboards: a Lens object, a control group, a newer
    // migration, Kibana 8's version fields.
    let lens_line = kibana
        .lines()
        .find(|l| l.contains(r#""type":"lens""#))
        .unwrap();
    caught(
        osd_problems(&format!("{osd}{lens_line}\n")),
        "no saved object type lens",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#""attributes":{"title":"k8scop alerts""#,
            r#""attributes":{"controlGroupInput":{},"title":"k8scop alerts""#,
        )),
        "a control group is Kibana 8's",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#""index-pattern":"7.6.0""#,
            r#""index-pattern":"8.0.0""#,
        )),
        "newer than OpenSearch Dashboards knows",
    );
    caught(
        osd_problems(&broken(
            &osd,
            r#""migrationVersion":{"dashboard":"7.9.3"}"#,
            r#""coreMigrationVersion":"8.8.0""#,
        )),
        "coreMigrationVersion is Kibana 8's",
    );
    // A line that is not JSON.
    caught(
        kibana_problems(&format!("{kibana}{{not json\n")),
        "not JSON",
    );
}

/// The committed exports are the script's output: a hand edit of one
/// file would drift from the other and be lost at the next run.
#[test]
fn the_exports_are_what_the_script_writes() {
    let out = std::process::Command::new("python3")
        .arg(workspace_root().join("scripts/dashboards.py"))
        .arg("--check")
        .output()
        .expect("python3 runs scripts/dashboards.py");
    assert!(
        out.status.success(),
        "{}\nrun `python3 scripts/dashboards.py` and commit its output",
        String::from_utf8_lossy(&out.stderr)
    );
}
