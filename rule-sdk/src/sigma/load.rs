//! One Sigma file turned into rules: parsed and compiled by rsigma, each
//! rule given its k8scop id, title, severity, tags and interest, and every
//! problem named with its line. The host checks a file with
//! [`check_file`]; the pack loads the admitted files with the same steps.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use rsigma_eval::{CorrelationConfig, CorrelationEngine};
use rsigma_parser::{Detection, Level, SigmaCollection, SigmaRule, SigmaValue};

use super::bundle::RuleFile;
use super::interest::{Pinned, pinned};
use super::{fields, locate};
use crate::bindings::k8scop::rules::types as wit;
use crate::{EventKind, Needs, RuleInfo, Severity};

/// A file that loads: the rules it declares, and what an operator should
/// know (a field no audit event carries, a log source not audit).
#[derive(Debug, Clone)]
pub struct Checked {
    pub rules: Vec<RuleInfo>,
    pub warnings: Vec<String>,
}

/// A file refused: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: u32,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A parsed and compiled file.
pub(super) struct Parsed {
    pub collection: SigmaCollection,
    /// Per rule (detections first, then correlations): its Sigma id (its
    /// own, or one made from the file name) and how it is declared.
    pub rules: Vec<(String, RuleInfo)>,
    pub warnings: Vec<String>,
}

impl Parsed {
    /// What a correlation may name to count this file's rules: their ids
    /// and names.
    pub fn keys(&self) -> Vec<String> {
        let rules = self.collection.rules.iter().map(|r| (&r.id, &r.name));
        let correlations = self
            .collection
            .correlations
            .iter()
            .map(|c| (&c.id, &c.name));
        rules
            .chain(correlations)
            .flat_map(|(id, name)| [id.clone(), name.clone()])
            .flatten()
            .collect()
    }
}

/// Check one Sigma file as the pack named `pack` would load it; a
/// correlation in it may name the rules of this file and `elsewhere`
/// (the ids and names of the other files' rules, see [`rule_keys`]).
pub fn check_file(
    pack: &str,
    file: &RuleFile,
    elsewhere: &BTreeSet<String>,
) -> Result<Checked, Refusal> {
    let parsed = parse(pack, file)?;
    compile(&file.text, &parsed, elsewhere)?;
    Ok(Checked {
        rules: parsed.rules.into_iter().map(|(_, info)| info).collect(),
        warnings: parsed.warnings,
    })
}

/// The ids and names a correlation elsewhere may name in `file` (none
/// when it does not parse).
pub fn rule_keys(file: &RuleFile) -> Vec<String> {
    parse("", file).map(|p| p.keys()).unwrap_or_default()
}

/// The engine every pack instance evaluates with (one per instance).
pub(super) fn engine() -> CorrelationEngine {
    CorrelationEngine::new(CorrelationConfig::default())
}

/// Parse `file` and name and describe its rules.
pub(super) fn parse(pack: &str, file: &RuleFile) -> Result<Parsed, Refusal> {
    let text = &file.text;
    let mut collection =
        rsigma_parser::parse_sigma_yaml(text).map_err(|e| locate::refusal(text, &e.to_string()))?;
    if let Some(error) = collection.errors.first() {
        return Err(locate::refusal(text, error));
    }
    if collection.rules.is_empty() && collection.correlations.is_empty() {
        return Err(Refusal {
            line: 1,
            reason: "no Sigma rule in the file (a rule has a title, a logsource and a detection)"
                .into(),
        });
    }
    // A rule without an id is named after its file, so alerts and
    // `rules list` can name it.
    let mut unnamed = 0;
    let mut name = |id: &mut Option<String>| {
        if id.is_none() {
            unnamed += 1;
            *id = Some(match unnamed {
                1 => file.stem().to_string(),
                n => format!("{}-{n}", file.stem()),
            });
        }
        id.clone().unwrap_or_default()
    };
    let mut rules = Vec::new();
    let mut warnings = Vec::new();
    let mut detection_interest: HashMap<String, (Pinned, Needs)> = HashMap::new();
    for rule in &mut collection.rules {
        let sigma_id = name(&mut rule.id);
        let (info, pinned, rule_warnings) = describe(pack, &sigma_id, rule);
        warnings.extend(rule_warnings);
        for key in [Some(&sigma_id), rule.name.as_ref()].into_iter().flatten() {
            detection_interest.insert(key.clone(), (pinned.clone(), needs_of(&info)));
        }
        rules.push((sigma_id, info));
    }
    for corr in &mut collection.correlations {
        let sigma_id = name(&mut corr.id);
        // What the rules it counts can match; open if one is elsewhere.
        let referenced: Option<Vec<&(Pinned, Needs)>> = corr
            .rules
            .iter()
            .map(|r| detection_interest.get(r))
            .collect();
        let (pinned, needs) = match referenced {
            Some(refs) if !refs.is_empty() => (
                refs.iter()
                    .map(|(p, _)| p.clone())
                    .reduce(Pinned::or)
                    .unwrap_or_default(),
                refs.iter()
                    .map(|(_, n)| *n)
                    .max_by_key(|n| level_rank(n.level))
                    .unwrap_or(Needs::METADATA),
            ),
            _ => (Pinned::default(), Needs::METADATA),
        };
        let info = rule_info(
            pack,
            &sigma_id,
            &corr.title,
            corr.description.as_deref(),
            corr.level,
            &corr.tags,
            &pinned,
            needs,
        );
        rules.push((sigma_id, info));
    }
    let mut seen = BTreeSet::new();
    if let Some((sigma_id, _)) = rules.iter().find(|(id, _)| !seen.insert(id)) {
        return Err(Refusal {
            line: locate::line_of(text, sigma_id),
            reason: format!("two rules of the file have the id {sigma_id:?}"),
        });
    }
    Ok(Parsed {
        collection,
        rules,
        warnings,
    })
}

/// Compile every rule of a parsed file in a scratch engine, one by one
/// so a failure names its rule, and check that each correlation names
/// rules that exist (here or `elsewhere`).
pub(super) fn compile(
    text: &str,
    parsed: &Parsed,
    elsewhere: &BTreeSet<String>,
) -> Result<(), Refusal> {
    let mut scratch = engine();
    for rule in &parsed.collection.rules {
        scratch.add_rule(rule).map_err(|e| {
            locate::rule_refusal(text, &rule.title, &format!("rule {:?}: {e}", rule.title))
        })?;
    }
    let own = parsed.keys();
    for corr in &parsed.collection.correlations {
        if let Some(missing) = corr
            .rules
            .iter()
            .find(|r| !own.contains(r) && !elsewhere.contains(*r))
        {
            return Err(locate::rule_refusal(
                text,
                missing,
                &format!(
                    "correlation {:?} names rule {missing:?}, which no Sigma file in the rules folders declares",
                    corr.title
                ),
            ));
        }
        scratch.add_correlation(corr).map_err(|e| {
            locate::rule_refusal(
                text,
                &corr.title,
                &format!("correlation {:?}: {e}", corr.title),
            )
        })?;
    }
    Ok(())
}

/// A detection rule's declaration, what it pins, and its warnings.
fn describe(pack: &str, sigma_id: &str, rule: &SigmaRule) -> (RuleInfo, Pinned, Vec<String>) {
    let mut warnings = Vec::new();
    let source = &rule.logsource;
    let is =
        |v: &Option<String>, want: &str| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(want));
    if !(is(&source.product, "kubernetes") && is(&source.service, "audit")) {
        warnings.push(format!(
            "rule {sigma_id} ({:?}): its logsource is not Kubernetes audit (product: kubernetes, service: audit); k8scop gives it audit events, which it was not written for",
            rule.title
        ));
    }
    let mut needs = Needs::METADATA;
    let mut named = Vec::new();
    for detection in rule.detection.named.values() {
        detection_fields(detection, "", &mut named);
    }
    named.sort();
    named.dedup();
    for (field, values) in &named {
        if !fields::reachable(field) {
            warnings.push(format!(
                "rule {sigma_id} ({:?}): field `{field}` is not in a Kubernetes audit event nor in k8scop's Sigma field mapping, so a selection on it never matches: the rule cannot match as written",
                rule.title
            ));
        } else if fields::NUMBERS.contains(&field.as_str())
            && let Some(bad) = values.iter().find(|v| v.parse::<i64>().is_err())
        {
            warnings.push(format!(
                "rule {sigma_id} ({:?}): `{field}` is a number, so the value {bad:?} never matches it",
                rule.title
            ));
        }
        match fields::body(field) {
            Some("responseObject") => needs = request_response(),
            Some(_) if needs.level == wit::AuditLevel::Metadata => needs = Needs::REQUEST,
            _ => {}
        }
    }
    let pinned = pinned(&rule.detection);
    let info = rule_info(
        pack,
        sigma_id,
        &rule.title,
        rule.description.as_deref(),
        rule.level,
        &rule.tags,
        &pinned,
        needs,
    );
    (info, pinned, warnings)
}

/// Every field a detection names, with its plain values (for the checks).
fn detection_fields(d: &Detection, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
    match d {
        Detection::AllOf(items) => {
            for item in items {
                if let Some(name) = &item.field.name {
                    let values = item
                        .values
                        .iter()
                        .filter_map(|v| match v {
                            SigmaValue::String(s) => s.as_plain(),
                            SigmaValue::Integer(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .collect();
                    out.push((format!("{prefix}{name}"), values));
                }
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            parts.iter().for_each(|p| detection_fields(p, prefix, out))
        }
        Detection::ArrayMatch { field, body, .. } => {
            detection_fields(body, &format!("{prefix}{field}."), out)
        }
        Detection::Conditional { named, .. } => named
            .values()
            .for_each(|p| detection_fields(p, prefix, out)),
        Detection::Keywords(_) => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn rule_info(
    pack: &str,
    sigma_id: &str,
    title: &str,
    description: Option<&str>,
    level: Option<Level>,
    tags: &[String],
    pinned: &Pinned,
    needs: Needs,
) -> RuleInfo {
    let (verbs, resources) = pinned.lists();
    RuleInfo {
        id: format!("{pack}/{sigma_id}"),
        title: title.to_string(),
        description: description.unwrap_or(title).trim().to_string(),
        severity: severity(level),
        tags: tags.to_vec(),
        interest: wit::Interest {
            kinds: vec![EventKind::Audit],
            verbs,
            resources,
        },
        needs: needs.to_wit(),
    }
}

fn needs_of(info: &RuleInfo) -> Needs {
    match info.needs.level {
        wit::AuditLevel::Metadata => Needs::METADATA,
        wit::AuditLevel::Request => Needs::REQUEST,
        wit::AuditLevel::RequestResponse => request_response(),
    }
}

fn request_response() -> Needs {
    Needs {
        level: wit::AuditLevel::RequestResponse,
        ..Needs::METADATA
    }
}

fn level_rank(level: wit::AuditLevel) -> u8 {
    match level {
        wit::AuditLevel::Metadata => 0,
        wit::AuditLevel::Request => 1,
        wit::AuditLevel::RequestResponse => 2,
    }
}

/// Sigma's level as a severity; a rule without one is medium.
fn severity(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational) => Severity::Info,
        Some(Level::Low) => Severity::Low,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
        Some(Level::Medium) | None => Severity::Medium,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> Refusal {
        check_file("p", &RuleFile::new("bad.yml", text), &BTreeSet::new())
            .map(|c| c.rules.len())
            .unwrap_err()
    }

    const HEAD: &str =
        "title: T\nid: t-1\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n";

    #[test]
    fn a_refusal_names_the_line_and_the_reason() {
        let cases = [
            // YAML that does not parse.
            (
                format!("{HEAD}    selection:\n        verb: [create\n    condition: selection\n"),
                9,
                "YAML",
            ),
            // A condition that does not parse: its own line.
            (
                format!(
                    "{HEAD}    selection:\n        verb: create\n    condition: selection and not\n"
                ),
                9,
                "Condition",
            ),
            // A condition naming a selection that does not exist.
            (
                format!("{HEAD}    selection:\n        verb: create\n    condition: selektion\n"),
                9,
                "selektion",
            ),
            // A modifier Sigma does not have.
            (
                format!(
                    "{HEAD}    selection:\n        verb|containz: create\n    condition: selection\n"
                ),
                8,
                "containz",
            ),
            // No detection at all.
            (
                "title: T\nlogsource:\n    product: kubernetes\n".to_string(),
                1,
                "detection",
            ),
        ];
        for (text, line, word) in cases {
            let r = refusal(&text);
            println!("{r}");
            assert!(r.reason.contains(word), "{word}: {r}");
            assert_eq!(r.line, line, "{word}: {r}");
        }
    }
}
