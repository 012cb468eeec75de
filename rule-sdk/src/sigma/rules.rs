//! The Sigma rules of a pack instance: every admitted file loaded into
//! one rsigma engine, each audit event evaluated with it, and each match
//! raised as an alert of its rule.

use std::collections::{BTreeSet, HashMap};

use rsigma_eval::CorrelationEngine;
use rsigma_eval::result::ResultBody;
use rsigma_parser::SigmaCollection;

use super::bundle::RuleFile;
use super::event::AuditFields;
use super::load::{self, Refusal};
use crate::audit::Event;
use crate::{Alerts, RuleInfo};

pub struct SigmaRules {
    engine: CorrelationEngine,
    rules: Vec<RuleInfo>,
    /// Sigma id (as given to rsigma) → index in `rules`.
    by_sigma_id: HashMap<String, usize>,
    warnings: Vec<String>,
    refused: Vec<(String, Refusal)>,
}

impl SigmaRules {
    /// Load `files` for the pack named `pack`. A file that does not load
    /// is left out whole (and listed in [`Self::refused`]); the host
    /// refuses such files before they get here, so this is a second line.
    pub fn load(pack: &str, files: &[RuleFile]) -> Self {
        let mut rules = SigmaRules {
            engine: load::engine(),
            rules: Vec::new(),
            by_sigma_id: HashMap::new(),
            warnings: Vec::new(),
            refused: Vec::new(),
        };
        let mut parsed = Vec::new();
        for file in files {
            match load::parse(pack, file) {
                Ok(p) => parsed.push((file, p)),
                Err(refusal) => rules.refused.push((file.file.clone(), refusal)),
            }
        }
        // A correlation may count the rules of any file.
        let every_key: BTreeSet<String> = parsed.iter().flat_map(|(_, p)| p.keys()).collect();
        let mut merged = SigmaCollection::new();
        for (file, p) in parsed {
            let clash = p
                .rules
                .iter()
                .find(|(id, _)| rules.by_sigma_id.contains_key(id));
            let checked = match clash {
                Some((id, _)) => Err(Refusal {
                    line: super::locate::line_of(&file.text, id),
                    reason: format!("rule id {id:?} is already declared by another Sigma file"),
                }),
                None => load::compile(&file.text, &p, &every_key),
            };
            if let Err(refusal) = checked {
                rules.refused.push((file.file.clone(), refusal));
                continue;
            }
            for (sigma_id, info) in p.rules {
                rules.by_sigma_id.insert(sigma_id, rules.rules.len());
                rules.rules.push(info);
            }
            rules.warnings.extend(p.warnings);
            merged.rules.extend(p.collection.rules);
            merged.correlations.extend(p.collection.correlations);
            merged.filters.extend(p.collection.filters);
        }
        // One batch: rsigma builds its indexes once, and correlations find
        // their rules in any file.
        if let Err(e) = rules.engine.add_collection(&merged) {
            crate::log::error(&format!("Sigma rules: {e}; loading them one by one"));
            rules.engine = load::engine();
            for rule in &merged.rules {
                let _ = rules.engine.add_rule(rule);
            }
            for corr in &merged.correlations {
                let _ = rules.engine.add_correlation(corr);
            }
        }
        rules
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn refused(&self) -> &[(String, Refusal)] {
        &self.refused
    }

    /// Evaluate one audit event, raising an alert per matching rule
    /// (detections, then the correlations it completes).
    pub fn evaluate(&mut self, event: &Event<'_>, out: &mut Alerts) {
        if self.rules.is_empty() {
            return;
        }
        let seconds = crate::time::unix_millis(event.time()).map_or(0, |ms| ms.div_euclid(1000));
        let fields = AuditFields::new(event);
        for result in self.engine.process_event_at(&fields, seconds) {
            let Some(rule) = result
                .header
                .rule_id
                .as_deref()
                .and_then(|id| self.by_sigma_id.get(id))
                .map(|&i| &self.rules[i])
            else {
                continue;
            };
            let alert = out.raise_as(&rule.id, rule.severity).audit_context();
            match result.body {
                ResultBody::Detection(d) => {
                    alert
                        .group(&[event.username(), event.namespace(), &event.resource_path()])
                        .field("sigma_selections", d.matched_selections.join(","));
                }
                ResultBody::Correlation(c) => {
                    let group: Vec<&str> = c.group_key.iter().map(|(_, v)| v.as_str()).collect();
                    alert
                        .group(&group)
                        .field("sigma_correlation", format!("{:?}", c.correlation_type))
                        .field("count", format!("{}", c.aggregated_value));
                }
            }
        }
    }
}
