//! What a pack said about itself when it loaded: read by the registry,
//! the trust boundary and every alert, so it stands apart from the running
//! pack that produced it.

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
}

impl PackMeta {
    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn rule(&self, id: &str) -> Option<&crate::contract::RuleInfo> {
        self.info.rules.iter().find(|r| r.id == id)
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
