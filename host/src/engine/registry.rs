//! The loaded packs as a registry: loading a rules folder or one file,
//! syncing with the folder after a change (new, replaced, removed packs),
//! refusing a file that is not a valid pack of this contract, and
//! refusing rule ids that clash with a loaded pack's, while the version
//! already loaded keeps running.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::meta::PackMeta;
use super::pack::LoadedPack;
use super::{PackError, RuleEngine, content_hash, settings};

impl RuleEngine {
    /// Load every `.wasm` file of `dir`, in name order. Files that are not
    /// valid packs are refused (returned with the reason); the rest load.
    pub fn load_dir(&mut self, dir: &Path) -> anyhow::Result<Vec<(PathBuf, PackError)>> {
        let mut refused = Vec::new();
        for path in wasm_files(dir)? {
            if let Err(e) = self.load_file(&path) {
                tracing::error!(path = %path.display(), error = %e, "rule pack refused");
                self.refused.insert(path.clone(), e.to_string());
                refused.push((path, e));
            }
        }
        Ok(refused)
    }

    /// Bring the loaded packs in line with the folder: load new files,
    /// replace packs whose file content changed (a quarantined pack gets a
    /// fresh start), unload packs whose file is gone. A file that is
    /// refused leaves the version already loaded running.
    pub fn sync_dir(&mut self, dir: &Path) -> anyhow::Result<SyncReport> {
        let mut report = SyncReport::default();
        let mut present: Vec<(PathBuf, String)> = Vec::new();
        for path in wasm_files(dir)? {
            match std::fs::read(&path) {
                Ok(bytes) => present.push((path, content_hash(&bytes))),
                // Mid-swap or unreadable: next time.
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read a rule pack file")
                }
            }
        }
        self.refused
            .retain(|path, _| present.iter().any(|(p, _)| p == path));
        let before = self.packs.len();
        self.packs
            .retain(|p| present.iter().any(|(path, _)| *path == p.meta.path));
        report.unloaded = before - self.packs.len();
        for (path, hash) in present {
            let current = self.packs.iter().position(|p| p.meta.path == path);
            if current.is_some_and(|i| self.packs[i].meta.content_hash == hash) {
                continue;
            }
            match self.load_replacing(&path, current) {
                Ok(meta) => {
                    self.refused.remove(&path);
                    if current.is_some() {
                        report.replaced.push(meta.name().to_string());
                    } else {
                        report.loaded.push(meta.name().to_string());
                    }
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "rule pack refused; the version loaded before (if any) keeps running");
                    self.refused.insert(path.clone(), e.to_string());
                    report.refused.push((path, e));
                }
            }
        }
        if !report.is_empty() {
            tracing::info!(loaded = ?report.loaded, replaced = ?report.replaced, unloaded = report.unloaded, refused = report.refused.len(), "rules folder synced");
        }
        Ok(report)
    }

    /// Compile, instantiate and describe the pack in `path`.
    fn load_pack(&self, path: &Path) -> Result<LoadedPack, PackError> {
        let pack_config = &self.config.pack_config;
        let pack = LoadedPack::load(
            &self.wasm,
            &self.linker,
            path,
            |name| Arc::new(pack_config.get(name).cloned().unwrap_or_default()),
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

    /// Load `path`, in place of the pack at `replacing` if given.
    fn load_replacing(
        &mut self,
        path: &Path,
        replacing: Option<usize>,
    ) -> Result<Arc<PackMeta>, PackError> {
        let pack = self.load_pack(path)?;
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
    pub refused: Vec<(PathBuf, PackError)>,
}

impl SyncReport {
    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
            && self.replaced.is_empty()
            && self.unloaded == 0
            && self.refused.is_empty()
    }
}

/// The `.wasm` files of `dir` (symlinks followed, as ConfigMaps use them),
/// in name order. A `.wasm` entry that is not a file to read (a folder, a
/// dangling symlink, a symlink loop) is skipped, and said with the reason.
fn wasm_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the rules folder {}: {e}", dir.display()))?;
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if path.extension().is_none_or(|x| x != "wasm") {
            continue;
        }
        match skip_reason(&path) {
            None => paths.push(path),
            Some(reason) => {
                tracing::warn!(path = %path.display(), %reason, "rules folder entry skipped")
            }
        }
    }
    paths.sort();
    Ok(paths)
}

/// Why `path` is not a pack file to read, if it is not.
fn skip_reason(path: &Path) -> Option<String> {
    let error = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => return None,
        Ok(meta) if meta.is_dir() => return Some("a folder, not a file".into()),
        Ok(_) => return Some("not a regular file (a socket, FIFO or device)".into()),
        Err(e) => e,
    };
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    Some(if !is_link {
        format!("cannot read it: {error}")
    } else if error.kind() == std::io::ErrorKind::NotFound {
        let target = std::fs::read_link(path).unwrap_or_default();
        format!(
            "a dangling symlink: its target {} does not exist",
            target.display()
        )
    } else if symlink_loops(path) {
        "a symlink loop".into()
    } else {
        format!("a symlink that cannot be followed: {error}")
    })
}

/// Following the links from `path` comes back to one already followed.
fn symlink_loops(path: &Path) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut at = path.to_path_buf();
    while let Ok(target) = std::fs::read_link(&at) {
        if !seen.insert(at.clone()) || seen.len() > 40 {
            return true;
        }
        at = at.parent().unwrap_or(Path::new("")).join(target);
    }
    false
}
