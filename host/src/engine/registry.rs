//! The loaded packs as a registry: loading the rules folders or one file,
//! syncing with the folders after a change (new, replaced, removed,
//! shadowed packs), refusing a file that is not a valid pack of this
//! contract, and refusing rule ids that clash with a loaded pack's, while
//! the version already loaded keeps running. Which files are in effect
//! across several folders is `folders.rs`'s; this applies it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::folders::{self, Named, Place};
use super::meta::PackMeta;
use super::pack::LoadedPack;
use super::sigma_files::takes_sigma_rules;
use super::{PackError, RuleEngine, content_hash, settings};

/// A pack file not loaded because a later folder has a pack of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    pub name: String,
    /// The file that replaces it.
    pub by: PathBuf,
    pub(super) content_hash: String,
}

impl RuleEngine {
    /// Load every `.wasm` file of `dir`, in name order. Files that are not
    /// valid packs are refused (returned with the reason); the rest load.
    pub fn load_dir(&mut self, dir: &Path) -> anyhow::Result<Vec<(PathBuf, PackError)>> {
        self.load_dirs(&[dir.to_path_buf()])
    }

    /// Load the packs of several folders, a later folder's pack replacing
    /// an earlier folder's of the same name. Refused files are returned.
    pub fn load_dirs(&mut self, dirs: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, PackError)>> {
        Ok(self.sync_dirs(dirs)?.refused)
    }

    /// [`Self::sync_dirs`] with one folder.
    pub fn sync_dir(&mut self, dir: &Path) -> anyhow::Result<SyncReport> {
        self.sync_dirs(&[dir.to_path_buf()])
    }

    /// Bring the loaded packs in line with the folders: load new files,
    /// replace packs whose file content changed (a quarantined pack gets a
    /// fresh start), unload packs whose file is gone, and of packs of one
    /// name in several folders keep the last folder's (the others are
    /// shadowed; removing it brings the earlier one back). A file that is
    /// refused leaves the version already loaded running.
    pub fn sync_dirs(&mut self, dirs: &[PathBuf]) -> anyhow::Result<SyncReport> {
        let mut report = SyncReport::default();
        let mut present: Vec<(usize, PathBuf, String)> = Vec::new();
        for (rank, path) in folders::pack_files(dirs)? {
            match std::fs::read(&path) {
                Ok(bytes) => present.push((rank, path, content_hash(&bytes))),
                // Mid-swap or unreadable: next time.
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read a rule pack file")
                }
            }
        }
        self.refused
            .retain(|path, _| present.iter().any(|(_, p, _)| p == path));
        // Sigma files first: a pack loaded below gets the files as they are now.
        let sigma = self.sigma.sync(dirs)?;
        for (path, refusal) in sigma.newly_refused {
            report.refused.push((
                path,
                PackError::Load(format!("not a valid Sigma file: {refusal}")),
            ));
        }
        for (path, refusal) in self.sigma.refused() {
            self.refused
                .insert(path.clone(), format!("not a valid Sigma file: {refusal}"));
        }
        // Every file's pack name: known for a file already loaded or
        // shadowed with this content; else the file is loaded to ask it.
        let mut fresh: HashMap<PathBuf, LoadedPack> = HashMap::new();
        let mut named = Vec::new();
        for (rank, path, hash) in &present {
            let loaded = self
                .packs
                .iter()
                .find(|p| p.meta.path == *path)
                .map(|p| (p.meta.content_hash.clone(), p.name().to_string()));
            // Running, but its Sigma files changed: reconfigured below.
            let known = match (&loaded, self.shadowed.get(path)) {
                (Some((h, name)), _) if h == hash => Some(name.clone()),
                (_, Some(s)) if s.content_hash == *hash => Some(s.name.clone()),
                _ => None,
            };
            let name = match known {
                Some(name) => name,
                None => match self.load_pack(path) {
                    Ok(pack) => {
                        let name = pack.name().to_string();
                        fresh.insert(path.clone(), pack);
                        name
                    }
                    Err(e) => {
                        self.refuse(path, e, &mut report);
                        // The version loaded before (if any) keeps its place.
                        match loaded {
                            Some((_, name)) => name,
                            None => continue,
                        }
                    }
                },
            };
            named.push(Named {
                rank: *rank,
                path: path.clone(),
                name,
            });
        }
        let before: Vec<(PathBuf, String)> = self
            .packs
            .iter()
            .map(|p| (p.meta.path.clone(), p.name().to_string()))
            .collect();
        let mut stash = HashMap::new();
        let mut instantiated = Vec::new();
        let places = loop {
            let places = folders::resolve(&named);
            let failed = self.apply(
                &places,
                &mut fresh,
                &mut stash,
                &mut instantiated,
                &mut report,
            );
            if failed.is_empty() {
                break places;
            }
            // A winning file refused (a rule id clash): its name falls
            // back to the earlier folders, so what ran keeps running.
            named.retain(|n| !failed.contains(&n.path));
        };
        self.note_shadowed(&places, &named, &present, &mut report);
        if sigma.changed {
            self.hand_over_sigma_files(&instantiated, &mut report);
        }
        for path in &instantiated {
            let Some(pack) = self.packs.iter().find(|p| p.meta.path == *path) else {
                continue;
            };
            let name = pack.name().to_string();
            if before.iter().any(|(p, n)| p == path || *n == name) {
                report.replaced.push(name);
            } else {
                report.loaded.push(name);
            }
        }
        report.unloaded = before
            .iter()
            .filter(|(path, name)| {
                !self
                    .packs
                    .iter()
                    .any(|p| p.meta.path == *path || p.name() == name)
            })
            .count();
        if !report.is_empty() {
            tracing::info!(loaded = ?report.loaded, replaced = ?report.replaced, unloaded = report.unloaded, shadowed = ?report.shadowed, refused = report.refused.len(), "rules folders synced");
        }
        Ok(report)
    }

    /// Make the loaded packs the active files of `places`: shadowed and
    /// vanished packs set aside first (so an override never clashes with
    /// the pack it replaces; kept in `stash` for a fallback within this
    /// sync), then the active files not yet running loaded (`instantiated`
    /// names them). Returns the active files left with no pack: refused.
    fn apply(
        &mut self,
        places: &[(PathBuf, Place)],
        fresh: &mut HashMap<PathBuf, LoadedPack>,
        stash: &mut HashMap<PathBuf, LoadedPack>,
        instantiated: &mut Vec<PathBuf>,
        report: &mut SyncReport,
    ) -> Vec<PathBuf> {
        let active = |path: &Path| {
            places
                .iter()
                .any(|(p, place)| p == path && *place == Place::Active)
        };
        let (keep, aside): (Vec<_>, Vec<_>) = std::mem::take(&mut self.packs)
            .into_iter()
            .partition(|p| active(&p.meta.path));
        self.packs = keep;
        stash.extend(aside.into_iter().map(|p| (p.meta.path.clone(), p)));
        let mut failed = Vec::new();
        for (path, place) in places {
            if *place != Place::Active {
                continue;
            }
            let current = self.packs.iter().position(|p| p.meta.path == *path);
            let (pack, new) = match fresh.remove(path) {
                Some(pack) => (pack, true),
                // Running already (unchanged, or its new content refused).
                None if current.is_some() => continue,
                None => match stash.remove(path) {
                    // Set aside in an earlier pass of this sync: as it was.
                    Some(pack) => (pack, false),
                    // Shadowed until now: the file is loaded again.
                    None => match self.load_pack(path) {
                        Ok(pack) => (pack, true),
                        Err(e) => {
                            self.refuse(path, e, report);
                            failed.push(path.clone());
                            continue;
                        }
                    },
                },
            };
            match self.insert_replacing(pack, current) {
                Ok(meta) if new => {
                    self.refused.remove(path);
                    tracing::info!(pack = meta.name(), version = meta.info.version, rules = meta.info.rules.len(), path = %path.display(), "rule pack loaded");
                    instantiated.push(path.clone());
                }
                Ok(_) => {}
                Err(e) => {
                    self.refuse(path, e, report);
                    if current.is_none() {
                        failed.push(path.clone());
                    }
                }
            }
        }
        failed
    }

    /// Give the packs that take Sigma rules, but were not just loaded
    /// with them, the Sigma files as they are now: each is described again
    /// on a fresh instance. One that fails keeps its earlier rules.
    fn hand_over_sigma_files(&mut self, instantiated: &[PathBuf], report: &mut SyncReport) {
        let takers: Vec<usize> = (0..self.packs.len())
            .filter(|&i| {
                let meta = &self.packs[i].meta;
                takes_sigma_rules(&meta.info) && !instantiated.contains(&meta.path)
            })
            .collect();
        let any_taker = self.packs.iter().any(|p| takes_sigma_rules(&p.meta.info));
        if !any_taker && self.sigma.running_count() > 0 {
            tracing::warn!(
                files = self.sigma.running_count(),
                "Sigma files in the rules folders, but no loaded pack takes Sigma rules: add k8scop-sigma.wasm to a rules folder"
            );
        }
        for i in takers {
            let pack = &self.packs[i];
            let path = pack.meta.path.clone();
            let config = self.config_for(&pack.meta.info);
            let result = pack
                .reconfigure(config)
                .map_err(PackError::one_line)
                .and_then(|fresh| self.insert_replacing(fresh, Some(i)));
            match result {
                Ok(meta) => {
                    tracing::info!(
                        pack = meta.name(),
                        rules = meta.info.rules.len(),
                        "Sigma rules reloaded"
                    );
                    report.replaced.push(meta.name().to_string());
                }
                Err(e) => self.refuse(&path, e, report),
            }
        }
    }

    /// The configuration a pack gets: the operator's values for its name,
    /// and the Sigma files if it takes them.
    fn config_for(&self, info: &crate::contract::PackInfo) -> super::PackConfig {
        let mut values = self
            .config
            .pack_config
            .get(&info.name)
            .cloned()
            .unwrap_or_default();
        if takes_sigma_rules(info) {
            values.insert(
                rule_sdk::sigma::SETTING.to_string(),
                self.sigma.bundle().to_string(),
            );
        }
        Arc::new(values)
    }

    /// Record the shadowed files of `places`, saying the newly shadowed.
    fn note_shadowed(
        &mut self,
        places: &[(PathBuf, Place)],
        named: &[Named],
        present: &[(usize, PathBuf, String)],
        report: &mut SyncReport,
    ) {
        let hash_of = |path: &Path| {
            present
                .iter()
                .find(|(_, p, _)| p == path)
                .map(|(_, _, h)| h.clone())
                .unwrap_or_default()
        };
        let mut shadowed = BTreeMap::new();
        for ((path, place), file) in places.iter().zip(named) {
            if let Place::Shadowed { by } = place {
                let entry = Shadowed {
                    name: file.name.clone(),
                    by: by.clone(),
                    content_hash: hash_of(path),
                };
                if self.shadowed.get(path).is_none_or(|s| s.by != entry.by) {
                    tracing::info!(pack = %file.name, path = %path.display(), "rule pack shadowed by {}", by.display());
                    report.shadowed.push(file.name.clone());
                }
                shadowed.insert(path.clone(), entry);
            }
        }
        self.shadowed = shadowed;
    }

    fn refuse(&mut self, path: &Path, e: PackError, report: &mut SyncReport) {
        tracing::error!(path = %path.display(), error = %e, "rule pack refused; the version loaded before (if any) keeps running");
        self.refused.insert(path.to_path_buf(), e.to_string());
        report.refused.push((path.to_path_buf(), e));
    }

    /// Files not loaded because a later folder has a pack of their name.
    pub fn shadowed(&self) -> impl Iterator<Item = (&PathBuf, &Shadowed)> {
        self.shadowed.iter()
    }

    /// Compile, instantiate and describe the pack in `path`.
    fn load_pack(&self, path: &Path) -> Result<LoadedPack, PackError> {
        let pack_config = &self.config.pack_config;
        let pack = LoadedPack::load(
            &self.wasm,
            &self.linker,
            path,
            |info| self.config_for(info),
            &self.config.limits,
            self.config.cache_dir.as_deref(),
        )
        .map_err(PackError::one_line)?;
        if let Some(values) = pack_config.get(pack.meta.name()) {
            settings::check(&pack.meta.info, values)
                .map_err(|e| PackError::Load(super::one_line(&e)))?;
        }
        Ok(pack)
    }

    /// Put `pack` in place of the pack at `replacing` if given, unless its
    /// rule ids clash (then the old one stays).
    fn insert_replacing(
        &mut self,
        pack: LoadedPack,
        replacing: Option<usize>,
    ) -> Result<Arc<PackMeta>, PackError> {
        let old = replacing.map(|i| self.packs.remove(i));
        if let Err(e) = self.check_clashes(&pack) {
            if let (Some(i), Some(old)) = (replacing, old) {
                self.packs.insert(i, old);
            }
            return Err(e);
        }
        let meta = pack.meta.clone();
        match replacing {
            Some(i) => self.packs.insert(i, pack),
            None => self.packs.push(pack),
        }
        Ok(meta)
    }

    /// Hand these Sigma files to the packs loaded from now on (`rules
    /// test` on `.yml` files): a file that does not load is an error that
    /// names it and its line.
    pub fn use_sigma_files(&mut self, paths: &[PathBuf]) -> anyhow::Result<()> {
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            files.push((path.clone(), text));
        }
        self.sigma.set(files).map_err(|(path, refusal)| {
            anyhow::anyhow!("{} is not a valid Sigma file: {refusal}", path.display())
        })
    }

    /// Load one pack. Refused if invalid or if a rule id clashes with a pack
    /// already loaded.
    pub fn load_file(&mut self, path: &Path) -> Result<Arc<PackMeta>, PackError> {
        let pack = self.load_pack(path)?;
        self.check_clashes(&pack)?;
        let meta = pack.meta.clone();
        tracing::info!(
            pack = meta.name(),
            version = meta.info.version,
            rules = meta.info.rules.len(),
            path = %path.display(),
            "rule pack loaded"
        );
        self.packs.push(pack);
        Ok(meta)
    }

    fn check_clashes(&self, new: &LoadedPack) -> Result<(), PackError> {
        for loaded in &self.packs {
            if loaded.name() == new.name() {
                return Err(PackError::Load(format!(
                    "a pack named {} is already loaded from {}",
                    new.name(),
                    loaded.meta.path.display()
                )));
            }
            for rule in &new.meta.info.rules {
                if loaded.meta.rule(&rule.id).is_some() {
                    return Err(PackError::Load(format!(
                        "rule id {} is already declared by pack {}",
                        rule.id,
                        loaded.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// What a sync of the rules folder changed.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub loaded: Vec<String>,
    pub replaced: Vec<String>,
    pub unloaded: usize,
    /// Packs newly shadowed by a later folder's pack of the same name.
    pub shadowed: Vec<String>,
    pub refused: Vec<(PathBuf, PackError)>,
}

impl SyncReport {
    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
            && self.replaced.is_empty()
            && self.unloaded == 0
            && self.shadowed.is_empty()
            && self.refused.is_empty()
    }
}
