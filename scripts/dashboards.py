#!/usr/bin/env python3
"""Writes the dashboards of k8scop's alert indices as saved-object exports:

  deploy/kibana/k8scop.ndjson                 Kibana 8.8 or later: Lens
  deploy/opensearch-dashboards/k8scop.ndjson  OpenSearch Dashboards 2.x:
                                              classic visualizations

Why a script: a Lens object nests ids (layers, columns, panels, references)
that must agree with each other, and `panelsJSON` is JSON inside a string;
generated, they agree by construction and the two files show the same
charts. Run it from the repository root after changing a chart; commit its
output. `host/tests/dashboards.rs` checks the files (fields the alert
template maps, references, versions) without a running Kibana, and that
they are this script's output (`--check`).
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_VIEW = "k8scop-alerts"
PATTERN = "k8scop-alerts-*"
DASHBOARD = "k8scop-dashboard"
TITLE = "k8scop alerts"
DESCRIPTION = "Alerts raised by k8scop's rule packs over Kubernetes audit logs."

# Kibana writes coreMigrationVersion 8.8.0 from 8.8 on. Each type's
# typeMigrationVersion is the oldest migration whose shape these objects
# already have, so Kibana 8.8+ runs only the later ones and accepts them.
KIBANA_CORE = "8.8.0"
KIBANA_TYPES = {
    "index-pattern": "8.0.0",
    "lens": "8.6.0",  # the formBased datasource, partition `metrics`
    "search": "7.9.3",
    "dashboard": "8.7.0",
}
# OpenSearch Dashboards (forked from Kibana 7.10.2) refuses an object whose
# migrationVersion is newer than its own migrations.
OSD_TYPES = {
    "index-pattern": "7.6.0",
    "visualization": "7.10.0",
    "search": "7.9.3",
    "dashboard": "7.9.3",
}

EMPTY_QUERY = {"query": "", "language": "kuery"}

# One chart: (id, title, description, kind, field, size, extra metric).
# kind: time (stacked by field over @timestamp), bars, table, donut.
CHARTS = [
    ("k8scop-severity-over-time", "k8scop: alerts over time by severity",
     "Alert documents per interval, stacked by k8scop.severity.",
     "time", "k8scop.severity", 5),
    ("k8scop-top-rules", "k8scop: top rules",
     "Rules by alerts raised; occurrences counts the repeats merged into them.",
     "table", "rule.name", 15),
    ("k8scop-top-users", "k8scop: top users",
     "Who triggered the most alerts.", "bars", "user.name", 10),
    ("k8scop-top-namespaces", "k8scop: top namespaces",
     "Where the most alerts happened.", "bars", "orchestrator.namespace", 10),
    ("k8scop-attack-tactics", "k8scop: ATT&CK tactics",
     "Alerts by MITRE ATT&CK tactic of the rule.", "donut", "threat.tactic.name", 10),
    ("k8scop-alerts-per-cluster", "k8scop: alerts per cluster",
     "Alerts by the cluster whose audit log raised them.", "bars",
     "orchestrator.cluster.name", 20),
]

SEARCH_ID = "k8scop-latest-alerts"
SEARCH_TITLE = "k8scop: latest alerts"
SEARCH_COLUMNS = [
    "k8scop.severity", "rule.name", "user.name", "user.effective.name", "source.ip",
    "orchestrator.cluster.name", "orchestrator.namespace", "orchestrator.resource.type",
    "orchestrator.resource.name", "event.action", "container.name",
    "process.command_line", "host.name", "k8scop.count", "k8scop.first_seen",
    "k8scop.last_seen", "rule.id",
]

# Dashboard layout (48 columns): the time chart across, then rows of three.
LAYOUT = {
    "k8scop-severity-over-time": (0, 0, 48, 12),
    "k8scop-top-rules": (0, 12, 24, 15),
    "k8scop-attack-tactics": (24, 12, 24, 15),
    "k8scop-top-users": (0, 27, 16, 15),
    "k8scop-top-namespaces": (16, 27, 16, 15),
    "k8scop-alerts-per-cluster": (32, 27, 16, 15),
    SEARCH_ID: (0, 42, 48, 20),
}
CLUSTER_FIELD = "orchestrator.cluster.name"


def dumps(value):
    """JSON nested in a string, as saved objects keep it."""
    return json.dumps(value, separators=(",", ":"))


def search_source(with_index):
    source = {"query": EMPTY_QUERY, "filter": []}
    if with_index:
        source["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
    return {"searchSourceJSON": dumps(source)}


def index_ref():
    return {"id": DATA_VIEW, "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern"}


# ------------------------------------------------------------------ Kibana --

def count_column(label="Alerts"):
    return {"label": label, "dataType": "number", "operationType": "count",
            "isBucketed": False, "scale": "ratio", "sourceField": "___records___",
            "params": {"emptyAsNull": True}, "customLabel": True}


def sum_column(field, label):
    return {"label": label, "dataType": "number", "operationType": "sum",
            "isBucketed": False, "scale": "ratio", "sourceField": field,
            "params": {"emptyAsNull": True}, "customLabel": True}


def terms_column(field, size, order_by):
    return {"label": f"Top {size} values of {field}", "dataType": "string",
            "operationType": "terms", "sourceField": field, "isBucketed": True,
            "scale": "ordinal",
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by},
                       "orderDirection": "desc", "otherBucket": True,
                       "missingBucket": False, "parentFormat": {"id": "terms"},
                       "include": [], "exclude": [], "includeIsRegex": False,
                       "excludeIsRegex": False}}


def date_column():
    return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
            "sourceField": "@timestamp", "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def lens(chart):
    chart_id, title, description, kind, field, size = chart
    layer = "layer-0"
    count, terms = "col-count", "col-terms"
    columns = {terms: terms_column(field, size, count), count: count_column()}
    order = [terms, count]
    if kind == "time":
        columns["col-time"] = date_column()
        order = [terms, "col-time", count]
        vis_type = "lnsXY"
        visualization = {
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide", "preferredSeriesType": "bar_stacked",
            "layers": [{"layerId": layer, "layerType": "data", "seriesType": "bar_stacked",
                        "xAccessor": "col-time", "splitAccessor": terms,
                        "accessors": [count]}],
        }
    elif kind == "bars":
        vis_type = "lnsXY"
        visualization = {
            "legend": {"isVisible": False, "position": "right"},
            "valueLabels": "show", "preferredSeriesType": "bar_horizontal",
            "layers": [{"layerId": layer, "layerType": "data",
                        "seriesType": "bar_horizontal", "xAccessor": terms,
                        "accessors": [count]}],
        }
    elif kind == "table":
        columns["col-occurrences"] = sum_column("k8scop.count", "Occurrences")
        order = [terms, count, "col-occurrences"]
        vis_type = "lnsDatatable"
        visualization = {"layerId": layer, "layerType": "data",
                         "columns": [{"columnId": c} for c in order]}
    elif kind == "donut":
        vis_type = "lnsPie"
        visualization = {
            "shape": "donut",
            "layers": [{"layerId": layer, "layerType": "data", "primaryGroups": [terms],
                        "metrics": [count], "numberDisplay": "percent",
                        "categoryDisplay": "default", "legendDisplay": "default",
                        "nestedLegend": False}],
        }
    else:
        raise ValueError(kind)
    return {
        "id": chart_id,
        "type": "lens",
        "coreMigrationVersion": KIBANA_CORE,
        "typeMigrationVersion": KIBANA_TYPES["lens"],
        "attributes": {
            "title": title,
            "description": description,
            "visualizationType": vis_type,
            "state": {
                "visualization": visualization,
                "query": EMPTY_QUERY,
                "filters": [],
                "datasourceStates": {"formBased": {"layers": {layer: {
                    "columns": columns, "columnOrder": order, "incompleteColumns": {},
                }}}},
                "internalReferences": [],
                "adHocDataViews": {},
            },
        },
        "references": [{"id": DATA_VIEW, "type": "index-pattern",
                        "name": f"indexpattern-datasource-layer-{layer}"}],
    }


def kibana_data_view():
    return {
        "id": DATA_VIEW,
        "type": "index-pattern",
        "coreMigrationVersion": KIBANA_CORE,
        "typeMigrationVersion": KIBANA_TYPES["index-pattern"],
        "attributes": {"title": PATTERN, "name": "k8scop alerts",
                       "timeFieldName": "@timestamp", "fields": "[]",
                       "fieldFormatMap": "{}", "fieldAttrs": "{}", "runtimeFieldMap": "{}",
                       "sourceFilters": "[]", "typeMeta": "{}"},
        "references": [],
    }


def search(extra):
    obj = {
        "id": SEARCH_ID,
        "type": "search",
        "attributes": {"title": SEARCH_TITLE,
                       "description": "Newest alerts first, with who, what, where and how often.",
                       "columns": SEARCH_COLUMNS, "sort": [["@timestamp", "desc"]],
                       "hits": 0, "version": 1,
                       "kibanaSavedObjectMeta": search_source(True)},
        "references": [index_ref()],
    }
    obj.update(extra)
    return obj


def kibana_dashboard():
    panels, references = [], []
    for panel_id, (x, y, w, h) in LAYOUT.items():
        kind = "search" if panel_id == SEARCH_ID else "lens"
        panels.append({"version": KIBANA_CORE, "type": kind,
                       "gridData": {"x": x, "y": y, "w": w, "h": h, "i": panel_id},
                       "panelIndex": panel_id, "embeddableConfig": {"enhancements": {}},
                       "panelRefName": f"panel_{panel_id}"})
        references.append({"id": panel_id, "type": kind,
                           "name": f"{panel_id}:panel_{panel_id}"})
    control = "control-cluster"
    controls = {control: {
        "order": 0, "width": "medium", "grow": True, "type": "optionsListControl",
        "explicitInput": {"id": control, "fieldName": CLUSTER_FIELD, "title": "Cluster",
                          "selectedOptions": [], "enhancements": {}},
    }}
    references.append({"id": DATA_VIEW, "type": "index-pattern",
                       "name": f"controlGroup_{control}:optionsListDataView"})
    return {
        "id": DASHBOARD,
        "type": "dashboard",
        "coreMigrationVersion": KIBANA_CORE,
        "typeMigrationVersion": KIBANA_TYPES["dashboard"],
        "attributes": {
            "title": TITLE,
            "description": DESCRIPTION,
            "panelsJSON": dumps(panels),
            "optionsJSON": dumps({"useMargins": True, "syncColors": False,
                                  "syncCursor": True, "syncTooltips": False,
                                  "hidePanelTitles": False}),
            "controlGroupInput": {
                "controlStyle": "oneLine",
                "chainingSystem": "HIERARCHICAL",
                "ignoreParentSettingsJSON": dumps({"ignoreFilters": False,
                                                   "ignoreQuery": False,
                                                   "ignoreTimerange": False,
                                                   "ignoreValidations": False}),
                "panelsJSON": dumps(controls),
            },
            "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": search_source(False),
        },
        "references": references,
    }


def kibana():
    return ([kibana_data_view()] + [lens(c) for c in CHARTS]
            + [search({"coreMigrationVersion": KIBANA_CORE,
                       "typeMigrationVersion": KIBANA_TYPES["search"]})]
            + [kibana_dashboard()])


# ------------------------------------------------- OpenSearch Dashboards --

def count_agg(label="Alerts"):
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric",
            "params": {"customLabel": label}}


def terms_agg(agg_id, field, size, schema, label):
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "size": size, "order": "desc", "orderBy": "1",
                       "otherBucket": False, "missingBucket": False,
                       "customLabel": label}}


def bar_params(kind):
    horizontal = kind == "horizontal_bar"
    return {
        "type": kind, "addTooltip": True, "addLegend": not horizontal,
        "legendPosition": "right", "times": [], "addTimeMarker": False,
        "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category",
                          "position": "left" if horizontal else "bottom", "show": True,
                          "scale": {"type": "linear"},
                          "labels": {"show": True, "filter": not horizontal,
                                     "truncate": 100}, "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value",
                       "position": "bottom" if horizontal else "left", "show": True,
                       "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False,
                                  "truncate": 100}, "title": {"text": "Alerts"}}],
        "seriesParams": [{"show": True, "type": "histogram", "mode": "stacked",
                          "data": {"label": "Alerts", "id": "1"},
                          "valueAxis": "ValueAxis-1"}],
        "labels": {"show": horizontal},
    }


def vis_state(chart):
    _, title, _, kind, field, size = chart
    if kind == "time":
        aggs = [count_agg(),
                {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
                 "params": {"field": "@timestamp", "interval": "auto",
                            "min_doc_count": 1, "extended_bounds": {}}},
                terms_agg("3", field, size, "group", "Severity")]
        return {"title": title, "type": "histogram", "aggs": aggs,
                "params": bar_params("histogram")}
    if kind == "bars":
        return {"title": title, "type": "horizontal_bar",
                "aggs": [count_agg(), terms_agg("2", field, size, "segment", field)],
                "params": bar_params("horizontal_bar")}
    if kind == "table":
        aggs = [count_agg(),
                {"id": "2", "enabled": True, "type": "sum", "schema": "metric",
                 "params": {"field": "k8scop.count", "customLabel": "Occurrences"}},
                terms_agg("3", field, size, "bucket", "Rule")]
        return {"title": title, "type": "table", "aggs": aggs,
                "params": {"perPage": 10, "showPartialRows": False,
                           "showMetricsAtAllLevels": False, "showTotal": False,
                           "totalFunc": "sum", "percentageCol": ""}}
    if kind == "donut":
        return {"title": title, "type": "pie",
                "aggs": [count_agg(), terms_agg("2", field, size, "segment", "Tactic")],
                "params": {"type": "pie", "addTooltip": True, "addLegend": True,
                           "legendPosition": "right", "isDonut": True,
                           "labels": {"show": False, "values": True, "last_level": True,
                                      "truncate": 100}}}
    raise ValueError(kind)


def visualization(vis_id, title, description, state, references, with_index):
    return {
        "id": vis_id,
        "type": "visualization",
        "migrationVersion": {"visualization": OSD_TYPES["visualization"]},
        "attributes": {"title": title, "description": description,
                       "visState": dumps(state), "uiStateJSON": "{}", "version": 1,
                       "kibanaSavedObjectMeta": search_source(with_index)},
        "references": references,
    }


CLUSTER_CONTROL_ID = "k8scop-cluster-filter"


def osd_cluster_control():
    """The classic input control: OSD's cluster filter (no control group)."""
    state = {"title": "k8scop: cluster", "type": "input_control_vis", "aggs": [],
             "params": {"controls": [{
                 "id": "1", "fieldName": CLUSTER_FIELD, "label": "Cluster",
                 "type": "list", "parent": "",
                 "indexPatternRefName": "control_0_index_pattern",
                 "options": {"type": "terms", "multiselect": True,
                             "dynamicOptions": True, "size": 20, "order": "desc"}}],
                 "updateFiltersOnChange": True, "useTimeFilter": True,
                 "pinFilters": False}}
    return visualization(CLUSTER_CONTROL_ID, "k8scop: cluster",
                         "Filter the dashboard by cluster.", state,
                         [{"id": DATA_VIEW, "type": "index-pattern",
                           "name": "control_0_index_pattern"}], False)


def osd_dashboard():
    layout = {CLUSTER_CONTROL_ID: (0, 0, 48, 5)}
    layout.update({k: (x, y + 5, w, h) for k, (x, y, w, h) in LAYOUT.items()})
    panels, references = [], []
    for i, (panel_id, (x, y, w, h)) in enumerate(layout.items()):
        kind = "search" if panel_id == SEARCH_ID else "visualization"
        index = str(i + 1)
        panels.append({"version": "7.10.2", "type": kind,
                       "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                       "panelIndex": index, "embeddableConfig": {},
                       "panelRefName": f"panel_{i}"})
        references.append({"id": panel_id, "type": kind, "name": f"panel_{i}"})
    return {
        "id": DASHBOARD,
        "type": "dashboard",
        "migrationVersion": {"dashboard": OSD_TYPES["dashboard"]},
        "attributes": {
            "title": TITLE, "description": DESCRIPTION, "hits": 0,
            "panelsJSON": dumps(panels),
            "optionsJSON": dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": search_source(False),
        },
        "references": references,
    }


def opensearch_dashboards():
    data_view = {
        "id": DATA_VIEW,
        "type": "index-pattern",
        "migrationVersion": {"index-pattern": OSD_TYPES["index-pattern"]},
        # No `fields`: without them it reads the mapping when first opened
        # (an empty list would be taken as the field list).
        "attributes": {"title": PATTERN, "timeFieldName": "@timestamp"},
        "references": [],
    }
    charts = [visualization(c[0], c[1], c[2], vis_state(c), [index_ref()], True)
              for c in CHARTS]
    saved_search = search({"migrationVersion": {"search": OSD_TYPES["search"]}})
    return [data_view, osd_cluster_control()] + charts + [saved_search, osd_dashboard()]


def ndjson(objects):
    lines = [json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in objects]
    return "\n".join(lines) + "\n"


def main(check):
    """Write the exports, or with --check say which differ (a hand edit)."""
    stale = []
    for path, objects in [(ROOT / "deploy/kibana/k8scop.ndjson", kibana()),
                          (ROOT / "deploy/opensearch-dashboards/k8scop.ndjson",
                           opensearch_dashboards())]:
        text, name = ndjson(objects), path.relative_to(ROOT)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(name))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"{name}: {len(objects)} objects")
    if stale:
        sys.exit(f"not what scripts/dashboards.py writes: {', '.join(stale)}")


if __name__ == "__main__":
    main("--check" in sys.argv[1:])
