//! The Sigma files of the rules folders (`*.yml`, `*.yaml`): each checked
//! as the k8scop-sigma pack will load it (the same code, `rule_sdk::sigma`),
//! refused with its line when it would not load, and the admitted ones
//! handed to every pack that takes Sigma rules, as its `sigma-rules`
//! setting. A file is checked again only when its content changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rule_sdk::sigma::{self, Checked, Refusal, RuleFile};

use crate::contract::PackInfo;

/// The name Sigma rule ids are checked under (`k8scop-sigma/<id>`).
const SIGMA_PACK: &str = "k8scop-sigma";

/// Whether a pack takes the Sigma files: it reads the `sigma-rules` setting.
pub fn takes_sigma_rules(info: &PackInfo) -> bool {
    info.settings.iter().any(|s| s.key == sigma::SETTING)
}

/// One Sigma file as last checked.
#[derive(Debug, Clone)]
struct Entry {
    /// Of the content last checked ("" to check it again next time).
    hash: String,
    /// The other files' rule keys it was checked with (its correlations
    /// may name them): a change there checks it again.
    context: String,
    /// What correlations in other files may name in it.
    keys: Vec<String>,
    /// Why the content last checked is refused, if it is.
    refused: Option<Refusal>,
    /// What packs run of this file: its content when admitted, else the
    /// version admitted before (a refused edit leaves it running).
    running: Option<(RuleFile, Checked)>,
}

#[derive(Debug, Default)]
pub struct SigmaFiles {
    /// Every Sigma file of the folders, in folder then name order.
    files: Vec<(PathBuf, Entry)>,
    /// The running files as one setting value.
    bundle: String,
}

/// What a sync of the Sigma files found.
#[derive(Debug, Default)]
pub struct SigmaSync {
    /// The running files differ from before: packs taking them reload.
    pub changed: bool,
    /// Files refused at this sync, not refused with this content before.
    pub newly_refused: Vec<(PathBuf, Refusal)>,
}

impl SigmaFiles {
    /// Look at the folders again: check new and changed files, forget
    /// removed ones.
    pub fn sync(&mut self, dirs: &[PathBuf]) -> anyhow::Result<SigmaSync> {
        let mut found = Vec::new();
        for path in super::folders::sigma_files(dirs)? {
            match std::fs::read_to_string(&path) {
                Ok(text) => found.push((path, text)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read a Sigma file")
                }
            }
        }
        Ok(self.recheck(found))
    }

    /// Hand these files to the packs, as if found in a folder (`rules
    /// test` on `.yml` files): any refusal is returned.
    pub fn set(&mut self, files: Vec<(PathBuf, String)>) -> Result<(), (PathBuf, Refusal)> {
        match self.recheck(files).newly_refused.into_iter().next() {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// Check the files whose content, or whose other files' rules, changed.
    fn recheck(&mut self, found: Vec<(PathBuf, String)>) -> SigmaSync {
        let mut report = SigmaSync::default();
        let before = std::mem::take(&mut self.files);
        let previous = |path: &Path| before.iter().find(|(p, _)| p == path).map(|(_, e)| e);
        let hashes: Vec<String> = found
            .iter()
            .map(|(_, text)| super::content_hash(text.as_bytes()))
            .collect();
        let keys: Vec<Vec<String>> = found
            .iter()
            .zip(&hashes)
            .map(|((path, text), hash)| match previous(path) {
                Some(e) if e.hash == *hash => e.keys.clone(),
                _ => sigma::rule_keys(&RuleFile::new(file_name(path), text.clone())),
            })
            .collect();
        for (i, ((path, text), hash)) in found.into_iter().zip(hashes).enumerate() {
            let elsewhere: BTreeSet<String> = keys
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, k)| k.iter().cloned())
                .collect();
            let context = super::content_hash(
                elsewhere
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
                    .as_bytes(),
            );
            let entry = match previous(&path) {
                Some(e) if e.hash == hash && e.context == context => e.clone(),
                earlier => {
                    let file = RuleFile::new(file_name(&path), text);
                    let running = earlier.and_then(|e| e.running.clone());
                    let entry = check(&path, file, &elsewhere, running);
                    if let Some(refusal) = &entry.refused {
                        report.newly_refused.push((path.clone(), refusal.clone()));
                    }
                    Entry {
                        hash,
                        context,
                        keys: keys[i].clone(),
                        ..entry
                    }
                }
            };
            self.files.push((path, entry));
        }
        self.refuse_duplicate_ids(&mut report);
        report.changed = self.rebundle();
        report
    }

    /// A rule id already declared by an earlier running file refuses the
    /// later file (ids name rules in alerts: two cannot share one).
    fn refuse_duplicate_ids(&mut self, report: &mut SigmaSync) {
        let mut owners: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (path, entry) in &mut self.files {
            let Some((file, checked)) = &entry.running else {
                continue;
            };
            let clash = checked
                .rules
                .iter()
                .find_map(|r| owners.get(&r.id).map(|owner| (r.id.clone(), owner.clone())));
            let Some((id, owner)) = clash else {
                for rule in &checked.rules {
                    owners.insert(rule.id.clone(), path.clone());
                }
                continue;
            };
            let sigma_id = id.trim_start_matches(&format!("{SIGMA_PACK}/")).to_string();
            let refusal = Refusal {
                line: sigma::line_of(&file.text, &sigma_id),
                reason: format!("rule id {id} is already declared by {}", owner.display()),
            };
            tracing::error!(path = %path.display(), %refusal, "Sigma file refused");
            report.newly_refused.push((path.clone(), refusal.clone()));
            entry.refused = Some(refusal);
            entry.running = None;
            // Checked again next time, when the clash may be gone.
            entry.hash.clear();
        }
    }

    /// Rewrite the setting value; true when it changed.
    fn rebundle(&mut self) -> bool {
        let running: Vec<RuleFile> = self.running().map(|(_, file, _)| file.clone()).collect();
        let bundle = sigma::encode(&running);
        let changed = bundle != self.bundle;
        self.bundle = bundle;
        changed
    }

    fn running(&self) -> impl Iterator<Item = (&PathBuf, &RuleFile, &Checked)> {
        self.files
            .iter()
            .filter_map(|(p, e)| e.running.as_ref().map(|(f, c)| (p, f, c)))
    }

    /// The `sigma-rules` value: every running file.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// How many files packs run.
    pub fn running_count(&self) -> usize {
        self.running().count()
    }

    /// Every file whose content is refused, with the reason.
    pub fn refused(&self) -> impl Iterator<Item = (&PathBuf, &Refusal)> {
        self.files
            .iter()
            .filter_map(|(p, e)| e.refused.as_ref().map(|r| (p, r)))
    }

    /// The running files for `/status`: path, rule ids, warnings.
    pub fn status_json(&self) -> Vec<serde_json::Value> {
        self.running()
            .map(|(path, _, checked)| {
                let rules: Vec<&str> = checked.rules.iter().map(|r| r.id.as_str()).collect();
                serde_json::json!({"path": path, "rules": rules, "warnings": checked.warnings})
            })
            .collect()
    }
}

/// Check one file's content, logging what an operator must know; a
/// refused content keeps `before` running.
fn check(
    path: &Path,
    file: RuleFile,
    elsewhere: &BTreeSet<String>,
    before: Option<(RuleFile, Checked)>,
) -> Entry {
    let (refused, running) = match sigma::check_file(SIGMA_PACK, &file, elsewhere) {
        Ok(checked) => {
            for warning in &checked.warnings {
                tracing::warn!(path = %path.display(), "{warning}");
            }
            tracing::info!(path = %path.display(), rules = checked.rules.len(), "Sigma file admitted");
            (None, Some((file, checked)))
        }
        Err(refusal) => {
            tracing::error!(path = %path.display(), %refusal, "Sigma file refused; the rules loaded before keep running");
            (Some(refusal), before)
        }
    };
    Entry {
        hash: String::new(),
        context: String::new(),
        keys: Vec::new(),
        refused,
        running,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
