//! The rule engine: loads rule packs (WebAssembly components) and evaluates
//! batches of decoded documents with them.
//!
//! Cost model (measured): parsing an event's JSON, not the call boundary,
//! is the price of rules. So the host parses each event once, natively, for
//! all packs, and hands each pack a batch (`batch.rs`) whose events it reads
//! without parsing: never one call per event, and only the events some rule
//! of the pack is interested in.

pub mod batch;
pub mod bindings;
pub mod interest;
pub mod module_cache;
pub mod pack;
pub mod sandbox;
pub mod settings;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

use batch::BatchText;
use bindings::Pack;
pub use bindings::{Alert, AuditLevel, AuditStage, EventKind, PackInfo, RuleInfo, Severity};
use interest::EventFacts;
pub use pack::{LoadedPack, PackMeta};
use sandbox::PackState;
pub use sandbox::{PackConfig, SandboxLimits};

use crate::decode::DecodedDoc;

/// The contract version this host implements (the `wit/` package version).
pub const WIT_VERSION: &str = "0.3.0";

/// Granularity of the per-batch time budget.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum PackError {
    #[error("refused: {0}")]
    Load(String),
    #[error("{0}")]
    Trap(String),
    #[error("evaluate() returned an error: {0}")]
    Failed(String),
    #[error("{0}")]
    Limit(String),
    #[error("quarantined: {0}")]
    Quarantined(String),
}

/// Operator settings for the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub limits: SandboxLimits,
    /// Configuration values per pack name.
    pub pack_config: BTreeMap<String, BTreeMap<String, String>>,
    /// Where compiled packs are cached (see `module_cache`); none: compile
    /// at every load.
    pub cache_dir: Option<PathBuf>,
    /// Give every pack every document, ignoring the interests the packs
    /// declared (only to measure what the interest filter saves).
    pub evaluate_everything: bool,
}

/// An alert raised by a pack, pointing at the document that triggered it.
#[derive(Debug, Clone)]
pub struct RaisedAlert {
    pub pack: Arc<PackMeta>,
    pub alert: Alert,
    /// Index of the triggering document in the batch given to `evaluate`.
    pub doc_index: usize,
}

/// A pack that could not evaluate a batch, even on a fresh instance.
#[derive(Debug, Clone)]
pub struct PackFailure {
    pub pack: String,
    pub error: PackError,
    /// How many documents of the batch the pack did not evaluate.
    pub documents: usize,
}

/// An alert refused because it did not make sense (unknown rule id, event
/// index out of range): counted and reported, never silently dropped.
#[derive(Debug, Clone)]
pub struct RejectedAlert {
    pub pack: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub alerts: Vec<RaisedAlert>,
    pub failures: Vec<PackFailure>,
    pub rejected: Vec<RejectedAlert>,
    /// Documents decoded as audit events whose fields do not have the audit
    /// schema's types, with the reason: given to no pack, counted as
    /// malformed.
    pub malformed: Vec<(usize, String)>,
    /// (pack, documents evaluated, time spent) per pack called.
    pub evaluations: Vec<(String, usize, Duration)>,
}

pub struct RuleEngine {
    /// Files refused at the last load or sync, with the reason.
    refused: std::collections::BTreeMap<PathBuf, String>,
    /// The host's own "pack", naming the alerts the engine raises itself.
    host_meta: Arc<PackMeta>,
    wasm: wasmtime::Engine,
    linker: Linker<PackState>,
    packs: Vec<LoadedPack>,
    /// The batch being written, kept between calls so its buffers are
    /// reused rather than allocated (and page-faulted in) per batch.
    batch: BatchText,
    config: EngineConfig,
    ticker_stop: Arc<AtomicBool>,
}

impl RuleEngine {
    pub fn new(config: EngineConfig) -> anyhow::Result<Self> {
        let mut wasm_config = wasmtime::Config::new();
        wasm_config.wasm_component_model(true);
        wasm_config.epoch_interruption(true);
        // For rule authors profiling a pack: `perf record` then resolves the
        // JIT-compiled pack code through /tmp/perf-<pid>.map.
        if std::env::var_os("K8SCOP_WASM_PERFMAP").is_some() {
            wasm_config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let wasm = wasmtime::Engine::new(&wasm_config)?;
        let mut linker = Linker::new(&wasm);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Pack::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(wasm.clone(), ticker_stop.clone());
        Ok(RuleEngine {
            refused: Default::default(),
            host_meta: Arc::new(host_meta()),
            wasm,
            linker,
            packs: Vec::new(),
            batch: BatchText::default(),
            config,
            ticker_stop,
        })
    }

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
        )?;
        if let Some(values) = pack_config.get(pack.meta.name()) {
            settings::check(&pack.meta.info, values).map_err(PackError::Load)?;
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

    pub fn packs(&self) -> impl Iterator<Item = &Arc<PackMeta>> {
        self.packs.iter().map(|p| &p.meta)
    }

    /// Files refused (at the last load or sync), with the reason.
    pub fn refused(&self) -> impl Iterator<Item = (&PathBuf, &String)> {
        self.refused.iter()
    }

    /// The status as JSON, for `/status`.
    pub fn status_json(&self) -> serde_json::Value {
        let packs: Vec<serde_json::Value> = self
            .status()
            .into_iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name, "version": p.version, "path": p.path, "rules": p.rules,
                    "state": if p.quarantined.is_some() { "quarantined" } else { "active" },
                    "reason": p.quarantined,
                    "documents_evaluated": p.counters.documents_evaluated,
                    "documents_unevaluated": p.counters.documents_unevaluated,
                    "batches": p.counters.batches,
                    "batches_failed": p.counters.batches_failed,
                    "alerts": p.counters.alerts,
                })
            })
            .collect();
        let refused: Vec<serde_json::Value> = self
            .refused
            .iter()
            .map(|(path, reason)| serde_json::json!({"path": path, "state": "refused", "reason": reason}))
            .collect();
        serde_json::json!({"packs": packs, "refused": refused})
    }

    /// Every loaded pack with its state and counters.
    pub fn status(&self) -> Vec<PackStatus> {
        self.packs
            .iter()
            .map(|p| PackStatus {
                name: p.name().to_string(),
                version: p.meta.info.version.clone(),
                path: p.meta.path.clone(),
                rules: p.meta.info.rules.len(),
                quarantined: p.quarantined.clone(),
                counters: p.counters.clone(),
            })
            .collect()
    }

    /// Give every pack a fresh instance, forgetting state (between the
    /// independent cases of `rules test`).
    pub fn reset_all(&mut self) -> Result<(), PackError> {
        self.packs.iter_mut().try_for_each(LoadedPack::reset)
    }

    /// Evaluate a batch of documents with every pack interested in them.
    pub fn evaluate(&mut self, docs: &[DecodedDoc]) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let everything = self.config.evaluate_everything;
        let selections: Vec<Vec<usize>> = self
            .packs
            .iter()
            .map(|pack| {
                docs.iter()
                    .enumerate()
                    .filter(|(_, d)| everything || pack.meta.interest.matches(&facts(d)))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        // Each document some pack wants is parsed once, for all of them.
        let mut wanted = vec![false; docs.len()];
        selections.iter().flatten().for_each(|&i| wanted[i] = true);
        let text = &mut self.batch;
        text.clear();
        // The position of each written document among the batch's events.
        let written: Vec<Option<usize>> = docs
            .iter()
            .zip(&wanted)
            .enumerate()
            .map(|(i, (doc, wanted))| {
                if !wanted {
                    return None;
                }
                text.push(doc)
                    .inspect_err(|reason| outcome.malformed.push((i, reason.clone())))
                    .ok()
            })
            .collect();
        for (pack, mut selected) in self.packs.iter_mut().zip(selections) {
            selected.retain(|&i| written[i].is_some());
            if selected.is_empty() {
                continue;
            }
            // A pack that wants every written event gets the blocks as they
            // are; any other gets a copy of its blocks.
            let own_blocks;
            let batch = if selected.len() == text.len() {
                text.all()
            } else {
                let events: Vec<usize> = selected.iter().filter_map(|&i| written[i]).collect();
                own_blocks = text.blocks(&events);
                text.batch(&own_blocks)
            };
            if let Some(reason) = &pack.quarantined {
                // Not called any more, but what it would have seen is
                // counted and reported, never silently skipped.
                let error = PackError::Quarantined(reason.clone());
                pack.record(selected.len(), Err(&error));
                outcome.failures.push(PackFailure {
                    pack: pack.name().to_string(),
                    error,
                    documents: selected.len(),
                });
                continue;
            }
            let started = std::time::Instant::now();
            let result = pack.evaluate(batch);
            outcome
                .evaluations
                .push((pack.name().to_string(), selected.len(), started.elapsed()));
            let quarantined_now = pack.record(selected.len(), result.as_ref().map(Vec::len));
            if quarantined_now {
                let reason = pack.quarantined.clone().unwrap_or_default();
                tracing::error!(pack = pack.name(), %reason, "rule pack QUARANTINED until its file changes");
                outcome.alerts.push(quarantine_alert(
                    &self.host_meta,
                    pack,
                    &reason,
                    &docs[selected[0]],
                    selected[0],
                ));
            }
            match result {
                Ok(alerts) => admit_alerts(&pack.meta, alerts, &selected, docs, &mut outcome),
                Err(error) => {
                    tracing::error!(pack = pack.name(), %error, documents = selected.len(), "pack failed on a batch");
                    outcome.failures.push(PackFailure {
                        pack: pack.name().to_string(),
                        error,
                        documents: selected.len(),
                    });
                }
            }
        }
        outcome
    }
}

impl Drop for RuleEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// What the interest filter looks at in a document.
pub fn facts(doc: &DecodedDoc) -> EventFacts<'_> {
    EventFacts {
        kind: doc.kind,
        verb: &doc.verb,
        resource: &doc.resource,
        subresource: &doc.subresource,
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
/// in name order.
fn wasm_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the rules folder {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

pub(crate) fn content_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A loaded pack as an operator sees it.
#[derive(Debug, Clone)]
pub struct PackStatus {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub rules: usize,
    /// `Some(reason)` once quarantined.
    pub quarantined: Option<String>,
    pub counters: pack::PackCounters,
}

/// The rules the host raises alerts for itself.
pub const PACK_QUARANTINED: &str = "k8scop-host/pack-quarantined";

fn host_meta() -> PackMeta {
    let rule = RuleInfo {
        id: PACK_QUARANTINED.into(),
        title: "Rule pack quarantined".into(),
        description: "A rule pack kept failing (trapping, looping or exceeding its limits) and is no longer run until its file changes: the detections it holds are off.".into(),
        severity: Severity::High,
        tags: vec!["attack.t1562.001".into()],
        interest: bindings::Interest { kinds: vec![], verbs: vec![], resources: vec![] },
        needs: bindings::AuditNeeds::metadata(),
    };
    let info = PackInfo {
        name: "k8scop-host".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        rules: vec![rule],
        settings: vec![],
    };
    PackMeta {
        interest: interest::PackInterest::new(&[]),
        info,
        path: PathBuf::new(),
        content_hash: String::new(),
        from_cache: false,
    }
}

/// The alert saying `pack` is quarantined, pinned to the batch's first
/// document it could not evaluate.
fn quarantine_alert(
    host: &Arc<PackMeta>,
    pack: &LoadedPack,
    reason: &str,
    doc: &DecodedDoc,
    doc_index: usize,
) -> RaisedAlert {
    RaisedAlert {
        pack: host.clone(),
        alert: Alert {
            rule_id: PACK_QUARANTINED.into(),
            title: format!("Rule pack {} quarantined", pack.name()),
            severity: Severity::High,
            group_key: format!("{}|{}", pack.name(), pack.meta.info.version),
            event_time: doc.time.clone(),
            event_index: 0,
            fields: vec![
                ("pack".into(), pack.name().into()),
                ("pack_version".into(), pack.meta.info.version.clone()),
                ("path".into(), pack.meta.path.display().to_string()),
                ("reason".into(), sandbox::truncate(reason, 1000).into()),
            ],
        },
        doc_index,
    }
}

/// The alert's document index in the whole batch, if the alert is valid.
/// Take what a pack returned for `docs` (of which it saw `selected`) into
/// `outcome`: an alert naming a rule the pack did not declare, or an event
/// it was not given, is rejected and counted, never trusted. Everything
/// here comes from untrusted code (fuzzed by `fuzz/fuzz_targets/pack_alerts.rs`).
pub fn admit_alerts(
    meta: &Arc<PackMeta>,
    alerts: Vec<Alert>,
    selected: &[usize],
    docs: &[DecodedDoc],
    outcome: &mut BatchOutcome,
) {
    for alert in alerts {
        match check_alert(meta, &alert, selected) {
            Ok(doc_index) => outcome.alerts.push(RaisedAlert {
                pack: meta.clone(),
                alert: fill_time(alert, &docs[doc_index]),
                doc_index,
            }),
            Err(reason) => {
                tracing::warn!(pack = meta.name(), %reason, "alert rejected");
                outcome.rejected.push(RejectedAlert {
                    pack: meta.name().to_string(),
                    reason,
                });
            }
        }
    }
}

fn check_alert(meta: &PackMeta, alert: &Alert, selected: &[usize]) -> Result<usize, String> {
    if meta.rule(&alert.rule_id).is_none() {
        return Err(format!(
            "alert names rule {:?}, which pack {} did not declare",
            sandbox::truncate(&alert.rule_id, 200),
            meta.name()
        ));
    }
    selected
        .get(alert.event_index as usize)
        .copied()
        .ok_or_else(|| {
            format!(
                "alert of rule {} points at event {} of a batch of {}",
                alert.rule_id,
                alert.event_index,
                selected.len()
            )
        })
}

/// Make an admitted alert safe to index: its time must be an RFC 3339 time
/// (else the triggering document's time is used: a pack's garbage time
/// would make the alert index refuse the alert), and its field names must
/// be plain names (Elasticsearch refuses empty names and reads dots as
/// object paths, which can conflict inside one document).
fn fill_time(mut alert: Alert, doc: &DecodedDoc) -> Alert {
    if chrono::DateTime::parse_from_rfc3339(&alert.event_time).is_err() {
        alert.event_time.clone_from(&doc.time);
    }
    for (key, _) in &mut alert.fields {
        if !is_plain_field_name(key) {
            *key = plain_field_name(key);
        }
    }
    alert
}

const MAX_FIELD_NAME: usize = 64;

fn is_plain_field_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_FIELD_NAME
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `key` with every character outside `[A-Za-z0-9_-]` replaced by `_`,
/// cut to 64 bytes; `_` if nothing is left.
pub fn plain_field_name(key: &str) -> String {
    let mut plain: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_FIELD_NAME)
        .collect();
    if plain.is_empty() {
        plain.push('_');
    }
    plain
}

/// Advances the wasmtime epoch, which bounds how long a pack's call may run.
fn spawn_epoch_ticker(engine: wasmtime::Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("k8scop-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawn the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;

    fn doc() -> DecodedDoc {
        Decoder::default()
            .decode_line(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"objectRef":{"resource":"secrets"},"stageTimestamp":"2024-03-01T10:00:00Z"}"#.to_string(),
                1,
            )
            .unwrap()
    }

    fn alert(event_time: &str, fields: &[(&str, &str)]) -> Alert {
        Alert {
            rule_id: PACK_QUARANTINED.into(),
            title: "t".into(),
            severity: Severity::High,
            group_key: "g".into(),
            event_time: event_time.into(),
            event_index: 0,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    // What `make fuzz` (pack_alerts) checks: whatever a pack returns, an
    // admitted alert can be indexed.
    #[test]
    fn a_packs_unusable_time_and_field_names_are_made_indexable() {
        let meta = Arc::new(host_meta());
        let docs = [doc()];
        let mut outcome = BatchOutcome::default();
        let alerts = vec![
            alert(
                "yesterday",
                &[("", "a"), ("user.name", "b"), ("ok-name_1", "c")],
            ),
            alert("2024-03-01T09:00:00+01:00", &[]),
            Alert {
                event_index: 7,
                ..alert("", &[])
            },
        ];
        admit_alerts(&meta, alerts, &[0], &docs, &mut outcome);
        assert_eq!(outcome.rejected.len(), 1, "event 7 of a batch of 1");
        let [first, second] = &outcome.alerts[..] else {
            panic!("two admitted: {:?}", outcome.alerts.len());
        };
        assert_eq!(first.alert.event_time, "2024-03-01T10:00:00Z");
        let names: Vec<&str> = first.alert.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["_", "user_name", "ok-name_1"]);
        assert_eq!(second.alert.event_time, "2024-03-01T09:00:00+01:00");
        assert_eq!(plain_field_name(&"é".repeat(100)).len(), 64);
    }
}
