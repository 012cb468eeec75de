//! A partition: a named share of the logs, given as a query, read with
//! its own checkpoint by whichever replica holds its lease. Written
//! `NAME=QUERY` (`--partition`, repeatable), where QUERY is
//! Elasticsearch query DSL (`{"term": {...}}`), `field:value1,value2` (a
//! `terms` query: the field holds one of the values), or `*`: every
//! document no other partition's query matches, so nothing falls between
//! the partitions.

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub name: String,
    /// The filter this partition adds to every read.
    pub query: Value,
}

/// A partition as written, before `*` is resolved against the others.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub name: String,
    pub query: SpecQuery,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpecQuery {
    Query(Value),
    /// Whatever no other partition matches.
    Rest,
}

impl std::str::FromStr for PartitionSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, query) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: write a partition as NAME=QUERY"))?;
        let name = name.trim();
        // The name is part of document ids (lease, checkpoint) and metrics.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "{name:?}: a partition name is letters, digits, '-', '_' and '.'"
            ));
        }
        Ok(PartitionSpec {
            name: name.to_string(),
            query: parse_query(query.trim()).map_err(|e| format!("partition {name}: {e:#}"))?,
        })
    }
}

fn parse_query(text: &str) -> anyhow::Result<SpecQuery> {
    if text == "*" {
        return Ok(SpecQuery::Rest);
    }
    if text.starts_with('{') {
        let query: Value = serde_json::from_str(text).context("the query is not valid JSON")?;
        anyhow::ensure!(
            query.as_object().is_some_and(|o| o.len() == 1),
            "a query object has exactly one key (term, terms, bool, ...)"
        );
        return Ok(SpecQuery::Query(query));
    }
    let (field, values) = text
        .split_once(':')
        .context("the query is JSON, field:value1,value2 or *")?;
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    anyhow::ensure!(
        !field.trim().is_empty() && !values.is_empty(),
        "field:value1,value2 needs a field and at least one value"
    );
    Ok(SpecQuery::Query(json!({"terms": {field.trim(): values}})))
}

/// The partitions, `*` resolved: at most one rest partition, names unique.
pub fn resolve(specs: &[PartitionSpec]) -> anyhow::Result<Vec<Partition>> {
    let mut names = std::collections::BTreeSet::new();
    for spec in specs {
        anyhow::ensure!(
            names.insert(spec.name.as_str()),
            "partition {} is named twice",
            spec.name
        );
    }
    let named: Vec<Value> = specs
        .iter()
        .filter_map(|s| match &s.query {
            SpecQuery::Query(q) => Some(q.clone()),
            SpecQuery::Rest => None,
        })
        .collect();
    anyhow::ensure!(
        specs.len() - named.len() <= 1,
        "only one partition may be * (the rest)"
    );
    Ok(specs
        .iter()
        .map(|spec| Partition {
            name: spec.name.clone(),
            query: match &spec.query {
                SpecQuery::Query(q) => q.clone(),
                SpecQuery::Rest => json!({"bool": {"must_not": named}}),
            },
        })
        .collect())
}

impl Partition {
    /// The read's filter: the operator's `--query`, if any, and this one.
    pub fn filter(&self, extra: Option<Value>) -> Value {
        match extra {
            None => self.query.clone(),
            Some(extra) => json!({"bool": {"filter": [extra, self.query]}}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> PartitionSpec {
        text.parse().unwrap()
    }

    #[test]
    fn the_short_form_is_a_terms_query_and_json_is_taken_as_is() {
        assert_eq!(
            spec("east=orchestrator.cluster.name: east-1, east-2").query,
            SpecQuery::Query(json!({"terms": {"orchestrator.cluster.name": ["east-1", "east-2"]}}))
        );
        assert_eq!(
            spec(r#"prod={"term": {"objectRef.namespace": "prod"}}"#).query,
            SpecQuery::Query(json!({"term": {"objectRef.namespace": "prod"}}))
        );
    }

    #[test]
    fn bad_partitions_are_refused_with_the_reason() {
        for (text, says) in [
            ("no-equals", "NAME=QUERY"),
            ("a b=x:y", "partition name"),
            ("a=field:", "at least one value"),
            ("a={not json", "not valid JSON"),
            (r#"a={"term": {}, "terms": {}}"#, "exactly one key"),
            ("a=just-words", "field:value1,value2"),
        ] {
            let error = text.parse::<PartitionSpec>().unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn the_rest_partition_is_what_no_other_matches() {
        let parts = resolve(&[spec("a=c:east"), spec("b=c:west"), spec("rest=*")]).unwrap();
        assert_eq!(
            parts[2].query,
            json!({"bool": {"must_not": [{"terms": {"c": ["east"]}}, {"terms": {"c": ["west"]}}]}})
        );
        assert!(resolve(&[spec("a=*"), spec("b=*")]).is_err());
        assert!(resolve(&[spec("a=c:x"), spec("a=c:y")]).is_err());
    }

    #[test]
    fn the_operators_query_and_the_partitions_both_filter() {
        let part = &resolve(&[spec("a=c:east")]).unwrap()[0];
        assert_eq!(part.filter(None), json!({"terms": {"c": ["east"]}}));
        assert_eq!(
            part.filter(Some(json!({"term": {"origin": "audit"}}))),
            json!({"bool": {"filter": [{"term": {"origin": "audit"}}, {"terms": {"c": ["east"]}}]}})
        );
    }
}
