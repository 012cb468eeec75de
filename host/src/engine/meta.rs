//! What a pack said about itself when it loaded: read by the registry,
//! the trust boundary and every alert, so it stands apart from the running
//! pack that produced it.

use std::collections::HashMap;
use std::path::PathBuf;

use super::interest::PackInterest;
use crate::contract::PackInfo;
use rule_sdk::STATELESS_TAG;

/// What a pack declared about itself in describe(), shared with every alert.
#[derive(Debug)]
pub struct PackMeta {
    pub info: PackInfo,
    pub interest: PackInterest,
    pub path: PathBuf,
    /// SHA-256 of the file, to tell a changed file from a touched one.
    pub content_hash: String,
    /// Loaded precompiled from the module cache.
    pub from_cache: bool,
    /// Each rule's position in `info.rules`, by id: every alert is checked
    /// against its rule, and a pack may declare hundreds (Sigma files).
    rule_index: HashMap<String, usize>,
}

impl PackMeta {
    pub fn new(info: PackInfo, path: PathBuf, content_hash: String, from_cache: bool) -> Self {
        let mut rule_index = HashMap::with_capacity(info.rules.len());
        for (i, rule) in info.rules.iter().enumerate() {
            // The first of a repeated id, as a scan would find.
            rule_index.entry(rule.id.clone()).or_insert(i);
        }
        PackMeta {
            interest: PackInterest::new(&info.rules),
            info,
            path,
            content_hash,
            from_cache,
            rule_index,
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn rule(&self, id: &str) -> Option<&crate::contract::RuleInfo> {
        self.rule_index.get(id).map(|&i| &self.info.rules[i])
    }

    /// The pack declared itself stateless: every rule carries the tag
    /// `k8scop.stateless` (`rule_sdk::STATELESS_TAG`), saying its alerts for
    /// an event depend on that event alone. Its batches may then be cut
    /// into parts evaluated side by side on instances of their own. A pack
    /// built before the convention carries no such tag: stateful, as it
    /// always was.
    pub fn stateless(&self) -> bool {
        let tagged = |r: &crate::contract::RuleInfo| r.tags.iter().any(|t| t == STATELESS_TAG);
        !self.info.rules.is_empty() && self.info.rules.iter().all(tagged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{AuditNeeds, Interest, RuleInfo, Severity};

    fn rule(id: &str, title: &str) -> RuleInfo {
        RuleInfo {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            severity: Severity::Low,
            tags: vec![],
            interest: Interest {
                kinds: vec![],
                verbs: vec![],
                resources: vec![],
            },
            needs: AuditNeeds::metadata(),
        }
    }

    #[test]
    fn a_rule_is_found_by_its_id_the_first_of_a_repeated_one() {
        let info = PackInfo {
            name: "p".into(),
            version: "1".into(),
            rules: vec![rule("p/a", "A"), rule("p/b", "B"), rule("p/a", "A again")],
            settings: vec![],
        };
        let meta = PackMeta::new(info, PathBuf::new(), String::new(), false);
        assert_eq!(meta.rule("p/b").map(|r| r.title.as_str()), Some("B"));
        assert_eq!(meta.rule("p/a").map(|r| r.title.as_str()), Some("A"));
        assert!(meta.rule("p/c").is_none());
        assert!(meta.rule("").is_none());
    }
}
