//! What a pack said about itself when it loaded: read by the registry,
//! the trust boundary and every alert, so it stands apart from the running
//! pack that produced it.

use std::path::PathBuf;

use super::interest::PackInterest;
use crate::contract::PackInfo;

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
}
