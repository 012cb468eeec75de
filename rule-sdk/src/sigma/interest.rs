//! A Sigma rule's interest (the verbs and resources it can match), read
//! off its detections, so the host sends the pack only events some rule
//! can match. Sound before precise: wherever the condition does not pin a
//! field to plain values (a modifier, a wildcard, a `not`), the field is
//! left open ("any").

use std::collections::BTreeSet;

use rsigma_parser::{
    ConditionExpr, Detection, Detections, Quantifier, SelectorPattern, SigmaValue,
};

/// What a condition pins: `None` for a field it leaves open.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Pinned {
    pub verbs: Option<BTreeSet<String>>,
    pub resources: Option<BTreeSet<String>>,
    pub subresources: Option<BTreeSet<String>>,
}

impl Pinned {
    /// The interest's verbs and resources (`pods/exec`, `pods/*`), empty
    /// for "any".
    pub fn lists(&self) -> (Vec<String>, Vec<String>) {
        let verbs = self.verbs.iter().flatten().cloned().collect();
        let resources = match (&self.resources, &self.subresources) {
            (None, _) => Vec::new(),
            (Some(rs), None) => rs.iter().map(|r| format!("{r}/*")).collect(),
            (Some(rs), Some(subs)) => rs
                .iter()
                .flat_map(|r| subs.iter().map(move |s| format!("{r}/{s}")))
                .collect(),
        };
        (verbs, resources)
    }

    /// Both must hold: each field takes the narrower pin.
    pub fn and(self, other: Pinned) -> Pinned {
        let narrower = |a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>| match (a, b) {
            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
            (a, b) => a.or(b),
        };
        Pinned {
            verbs: narrower(self.verbs, other.verbs),
            resources: narrower(self.resources, other.resources),
            subresources: narrower(self.subresources, other.subresources),
        }
    }

    /// Either may hold: a field stays pinned only if both pin it.
    pub fn or(self, other: Pinned) -> Pinned {
        let wider = |a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>| match (a, b) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
        Pinned {
            verbs: wider(self.verbs, other.verbs),
            resources: wider(self.resources, other.resources),
            subresources: wider(self.subresources, other.subresources),
        }
    }
}

/// What the rule's conditions pin (several conditions: any may match).
pub(super) fn pinned(detections: &Detections) -> Pinned {
    detections
        .conditions
        .iter()
        .map(|c| condition(c, detections))
        .reduce(Pinned::or)
        .unwrap_or_default()
}

fn condition(expr: &ConditionExpr, detections: &Detections) -> Pinned {
    match expr {
        ConditionExpr::And(parts) => parts
            .iter()
            .map(|p| condition(p, detections))
            .reduce(Pinned::and)
            .unwrap_or_default(),
        ConditionExpr::Or(parts) => parts
            .iter()
            .map(|p| condition(p, detections))
            .reduce(Pinned::or)
            .unwrap_or_default(),
        ConditionExpr::Not(_) => Pinned::default(),
        ConditionExpr::Identifier(name) => detections
            .named
            .get(name)
            .map(detection)
            .unwrap_or_default(),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let named = detections.named.iter().filter(|(name, _)| match pattern {
                SelectorPattern::Them => !name.starts_with('_'),
                SelectorPattern::Pattern(p) => glob(p, name),
            });
            let parts = named.map(|(_, d)| detection(d));
            match quantifier {
                Quantifier::All => parts.reduce(Pinned::and),
                _ => parts.reduce(Pinned::or),
            }
            .unwrap_or_default()
        }
    }
}

fn detection(d: &Detection) -> Pinned {
    match d {
        Detection::AllOf(items) => items.iter().fold(Pinned::default(), |pinned, item| {
            let Some(name) = &item.field.name else {
                return pinned;
            };
            let values: Option<BTreeSet<String>> = if item.field.modifiers.is_empty() {
                item.values.iter().map(plain).collect()
            } else {
                None
            };
            let Some(values) = values else { return pinned };
            let pin = match name.as_str() {
                "verb" => Pinned {
                    verbs: Some(values),
                    ..Pinned::default()
                },
                "objectRef.resource" => Pinned {
                    resources: Some(values),
                    ..Pinned::default()
                },
                "objectRef.subresource" => Pinned {
                    subresources: Some(values),
                    ..Pinned::default()
                },
                _ => return pinned,
            };
            pinned.and(pin)
        }),
        Detection::AnyOf(parts) => parts
            .iter()
            .map(detection)
            .reduce(Pinned::or)
            .unwrap_or_default(),
        Detection::And(parts) => parts
            .iter()
            .map(detection)
            .reduce(Pinned::and)
            .unwrap_or_default(),
        _ => Pinned::default(),
    }
}

/// A value matched as is (no wildcard), lower-cased: Sigma compares
/// without case, and Kubernetes verbs and resources are lower case.
fn plain(value: &SigmaValue) -> Option<String> {
    match value {
        SigmaValue::String(s) => s.as_plain().map(|s| s.to_lowercase()),
        _ => None,
    }
}

/// A selector's pattern: `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => name.strip_prefix(head).is_some_and(|rest| {
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (verbs, resources) of a rule with this detection.
    fn interest(detection: &str) -> (Vec<String>, Vec<String>) {
        let yaml = format!(
            "title: t\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n{detection}"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
        assert!(collection.errors.is_empty(), "{:?}", collection.errors);
        pinned(&collection.rules[0].detection).lists()
    }

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_values_pin_verbs_and_resources() {
        let (verbs, resources) = interest(
            "    sel:\n        verb: [Create, update]\n        objectRef.resource: pods\n        objectRef.subresource: exec\n    condition: sel\n",
        );
        assert_eq!(verbs, strings(&["create", "update"]));
        assert_eq!(resources, strings(&["pods/exec"]));
        // No subresource named: the resource with or without one.
        let (_, resources) =
            interest("    sel:\n        objectRef.resource: secrets\n    condition: sel\n");
        assert_eq!(resources, strings(&["secrets/*"]));
    }

    #[test]
    fn or_widens_and_narrows_not_and_modifiers_open() {
        // `or`: both sides pin verbs, so verbs stay pinned (to both).
        let (verbs, resources) = interest(
            "    a:\n        verb: delete\n        objectRef.resource: pods\n    b:\n        verb: create\n    condition: a or b\n",
        );
        assert_eq!(verbs, strings(&["create", "delete"]));
        assert!(resources.is_empty(), "b leaves resources open");
        // `and`: the narrower pin wins.
        let (verbs, _) = interest(
            "    a:\n        verb: [get, list]\n    b:\n        verb: list\n    condition: a and b\n",
        );
        assert_eq!(verbs, strings(&["list"]));
        // `not`, a modifier, a wildcard: open.
        for detection in [
            "    a:\n        verb: delete\n    condition: not a\n",
            "    a:\n        verb|startswith: del\n    condition: a\n",
            "    a:\n        verb: 'del*'\n    condition: a\n",
        ] {
            assert_eq!(interest(detection), (vec![], vec![]), "{detection}");
        }
        // `1 of a*` is an `or` of the matching selections; `all of` an `and`.
        let (verbs, _) = interest(
            "    a1:\n        verb: get\n    a2:\n        verb: list\n    b:\n        verb: watch\n    condition: 1 of a*\n",
        );
        assert_eq!(verbs, strings(&["get", "list"]));
        let (verbs, _) = interest(
            "    a1:\n        verb: [get, list]\n    a2:\n        verb: list\n    condition: all of a*\n",
        );
        assert_eq!(verbs, strings(&["list"]));
    }
}
