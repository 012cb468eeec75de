//! One loaded rule pack: its compiled component, its live instance, what it
//! declared, and the limits it runs under.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime::{Engine as WasmEngine, Store};

use super::PackError;
use super::instance::{Instance, Recipe, new_store};
use super::meta::PackMeta;
use super::sandbox::{PackConfig, PackState, SandboxLimits};
use super::sigma_files::takes_sigma_rules;
use crate::contract::{Alert, Batch, Pack, PackInfo, PackPre};

pub struct LoadedPack {
    pub meta: Arc<PackMeta>,
    recipe: Recipe,
    /// The first is the pack's one instance, or a stateless pack's first
    /// of several (one per part of a batch, made when first needed).
    instances: Vec<Instance>,
    pub counters: PackCounters,
    /// Batches failed in a row (after their retry on a fresh instance).
    failures_in_a_row: u32,
    /// Set once the pack keeps failing: it is not called any more.
    pub quarantined: Option<String>,
    /// Measured cost per document offered to it, wanted or not
    /// (nanoseconds, smoothed): which packs to start first when batches are
    /// evaluated on several threads.
    pub(super) nanos_per_document: f64,
}

/// What a pack did, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackCounters {
    pub documents_evaluated: u64,
    pub batches: u64,
    pub batches_failed: u64,
    pub documents_unevaluated: u64,
    pub alerts: u64,
}

/// Batches failing in a row (each already retried once) before a pack is
/// quarantined.
pub const QUARANTINE_AFTER: u32 = 3;

impl LoadedPack {
    /// Compile, instantiate and describe the pack in `path`.
    pub fn load(
        engine: &WasmEngine,
        linker: &Linker<PackState>,
        path: &Path,
        config_for: impl Fn(&PackInfo) -> PackConfig,
        limits: &SandboxLimits,
        cache_dir: Option<&Path>,
    ) -> Result<Self, PackError> {
        let bytes = std::fs::read(path)
            .map_err(|e| PackError::Load(format!("cannot read {}: {e}", path.display())))?;
        Self::from_bytes(engine, linker, path, &bytes, config_for, limits, cache_dir)
    }

    pub fn from_bytes(
        engine: &WasmEngine,
        linker: &Linker<PackState>,
        path: &Path,
        bytes: &[u8],
        config_for: impl Fn(&PackInfo) -> PackConfig,
        limits: &SandboxLimits,
        cache_dir: Option<&Path>,
    ) -> Result<Self, PackError> {
        if wasmparser_is_core_module(bytes) {
            return Err(PackError::Load(
                "this is a core WebAssembly module, not a component: build the pack for the wasm32-wasip2 target".into(),
            ));
        }
        let hash = super::content_hash(bytes);
        let (component, from_cache) = super::module_cache::compile(engine, bytes, &hash, cache_dir)
            .map_err(|e| PackError::Load(format!("not a valid component: {e:#}")))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            PackError::Load(format!(
                "the pack does not fit this host's contract (k8scop:rules@{}): {e:#}",
                crate::contract::WIT_VERSION
            ))
        })?;
        let pre = PackPre::new(instance_pre).map_err(|e| {
            let exports: Vec<String> = component
                .component_type()
                .exports(engine)
                .map(|(name, _)| name.to_string())
                .collect();
            PackError::Load(format!(
                "the pack does not export this host's contract (k8scop:rules@{}); it exports [{}]: {e:#}",
                crate::contract::WIT_VERSION,
                exports.join(", ")
            ))
        })?;
        let mut store = new_store(engine, "", PackConfig::default(), limits);
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| PackError::Load(format!("instantiation failed: {e:#}")))?;
        let info = describe(&instance, &mut store)?;
        let config = config_for(&info);
        store.data_mut().identify(&info.name, config.clone());
        // A pack whose rules come from its configuration (Sigma files)
        // declares them once it can read it.
        let info = match takes_sigma_rules(&info) {
            true => same_name(&info.name, describe(&instance, &mut store)?)?,
            false => info,
        };
        let recipe = Recipe {
            pre,
            engine: engine.clone(),
            name: info.name.clone(),
            config,
            limits: limits.clone(),
        };
        Ok(LoadedPack {
            meta: Arc::new(PackMeta::new(info, path.to_path_buf(), hash, from_cache)),
            recipe,
            instances: vec![Instance::from_parts(store, instance)],
            counters: PackCounters::default(),
            failures_in_a_row: 0,
            quarantined: None,
            nanos_per_document: 0.0,
        })
    }

    /// The same pack on a fresh instance with new configuration values,
    /// described again (its Sigma files changed): no recompilation.
    pub fn reconfigure(&self, config: PackConfig) -> Result<LoadedPack, PackError> {
        let recipe = Recipe {
            pre: self.recipe.pre.clone(),
            engine: self.recipe.engine.clone(),
            name: self.recipe.name.clone(),
            config,
            limits: self.recipe.limits.clone(),
        };
        let mut instance = recipe.instantiate()?;
        let (pack, store) = instance.parts();
        let info = same_name(self.name(), describe(pack, store)?)?;
        let meta = PackMeta::new(
            info,
            self.meta.path.clone(),
            self.meta.content_hash.clone(),
            self.meta.from_cache,
        );
        Ok(LoadedPack {
            meta: Arc::new(meta),
            recipe,
            instances: vec![instance],
            counters: PackCounters::default(),
            failures_in_a_row: 0,
            quarantined: None,
            nanos_per_document: 0.0,
        })
    }

    /// Count a batch's outcome; true when this failure quarantines the pack.
    pub fn record(&mut self, documents: usize, result: Result<usize, &PackError>) -> bool {
        match result {
            Ok(alerts) => self.record_parts(documents, alerts, None),
            Err(error) => self.record_parts(0, 0, Some((documents, error))),
        }
    }

    /// Count a batch evaluated in parts: the documents and alerts of the
    /// parts that succeeded, and the documents of those that failed with
    /// the first failure. One batch, whatever the number of parts, so the
    /// counters do not depend on the threads. True when this failure
    /// quarantines the pack.
    pub fn record_parts(
        &mut self,
        evaluated: usize,
        alerts: usize,
        failed: Option<(usize, &PackError)>,
    ) -> bool {
        self.counters.batches += 1;
        self.counters.documents_evaluated += evaluated as u64;
        self.counters.alerts += alerts as u64;
        let Some((unevaluated, error)) = failed else {
            self.failures_in_a_row = 0;
            return false;
        };
        self.counters.batches_failed += 1;
        self.counters.documents_unevaluated += unevaluated as u64;
        self.failures_in_a_row += 1;
        if self.failures_in_a_row >= QUARANTINE_AFTER && self.quarantined.is_none() {
            self.quarantined = Some(format!(
                "failed {QUARANTINE_AFTER} batches in a row, each also on a fresh instance; last: {error}"
            ));
            return true;
        }
        false
    }

    pub fn name(&self) -> &str {
        self.meta.name()
    }

    /// Fold a batch's measured time into the cost per document offered.
    pub(super) fn observe_cost(&mut self, documents: usize, elapsed: std::time::Duration) {
        if documents == 0 {
            return;
        }
        let now = elapsed.as_nanos() as f64 / documents as f64;
        self.nanos_per_document = if self.nanos_per_document == 0.0 {
            now
        } else {
            0.8 * self.nanos_per_document + 0.2 * now
        };
    }

    /// Evaluate one batch on the pack's first instance.
    pub fn evaluate(&mut self, batch: Batch<'_>) -> Result<Vec<Alert>, PackError> {
        self.instances[0].evaluate(&self.recipe, batch)
    }

    /// Replace every instance by one fresh instance (state lost, like a
    /// restart).
    pub fn reset(&mut self) -> Result<(), PackError> {
        let fresh = self.recipe.instantiate()?;
        self.instances.clear();
        self.instances.push(fresh);
        Ok(())
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// At least `count` instances; false (and fewer) when one could not be
    /// made, which only costs parallelism.
    pub(super) fn ensure_instances(&mut self, count: usize) -> bool {
        while self.instances.len() < count {
            match self.recipe.instantiate() {
                Ok(instance) => self.instances.push(instance),
                Err(error) => {
                    tracing::warn!(pack = self.name(), %error, "cannot make another instance of a stateless pack: its batches stay on fewer threads");
                    return false;
                }
            }
        }
        true
    }

    /// The recipe and the first `count` instances, to evaluate parts of a
    /// batch side by side.
    pub(super) fn instances_mut(&mut self, count: usize) -> (&Recipe, &mut [Instance]) {
        let count = count.min(self.instances.len());
        (&self.recipe, &mut self.instances[..count])
    }
}

/// A core module starts with the magic and version 1; a component has the
/// same magic with a different version/layer field.
fn wasmparser_is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

fn describe(instance: &Pack, store: &mut Store<PackState>) -> Result<PackInfo, PackError> {
    let info = instance
        .k8scop_rules_rule_pack()
        .call_describe(store)
        .map_err(|e| PackError::Load(format!("describe() failed: {e:#}")))?;
    validate_info(&info)?;
    Ok(info)
}

/// The second description of a pack must be of the same pack.
fn same_name(name: &str, info: PackInfo) -> Result<PackInfo, PackError> {
    match info.name == name {
        true => Ok(info),
        false => Err(PackError::Load(format!(
            "describe() named the pack {name} and then {}",
            info.name
        ))),
    }
}

fn validate_info(info: &PackInfo) -> Result<(), PackError> {
    if info.name.trim().is_empty() {
        return Err(PackError::Load(
            "describe() returned an empty pack name".into(),
        ));
    }
    // A Sigma pack with no Sigma files yet has no rules, and is not called.
    if info.rules.is_empty() && !takes_sigma_rules(info) {
        return Err(PackError::Load(format!(
            "pack {} declares no rules",
            info.name
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for rule in &info.rules {
        if rule.id.trim().is_empty() {
            return Err(PackError::Load(format!(
                "pack {} declares a rule with an empty id",
                info.name
            )));
        }
        if !seen.insert(rule.id.as_str()) {
            return Err(PackError::Load(format!(
                "pack {} declares rule {} twice",
                info.name, rule.id
            )));
        }
    }
    Ok(())
}
