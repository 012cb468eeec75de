//! One loaded rule pack: its compiled component, its live instance, what it
//! declared, and the limits it runs under.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime::{Engine as WasmEngine, Store};

use super::admission::check_alert_limits;
use super::interest::PackInterest;
use super::meta::PackMeta;
use super::sandbox::{PackConfig, PackState, SandboxLimits};
use super::sigma_files::takes_sigma_rules;
use super::{EPOCH_TICK, PackError};
use crate::contract::{Alert, Batch, Pack, PackInfo, PackPre};

pub struct LoadedPack {
    pub meta: Arc<PackMeta>,
    pre: PackPre<PackState>,
    engine: WasmEngine,
    store: Store<PackState>,
    instance: Pack,
    config: PackConfig,
    limits: SandboxLimits,
    pub counters: PackCounters,
    /// Batches failed in a row (after their retry on a fresh instance).
    failures_in_a_row: u32,
    /// Set once the pack keeps failing: it is not called any more.
    pub quarantined: Option<String>,
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
        let interest = PackInterest::new(&info.rules);
        Ok(LoadedPack {
            meta: Arc::new(PackMeta {
                info,
                interest,
                path: path.to_path_buf(),
                content_hash: hash,
                from_cache,
            }),
            pre,
            engine: engine.clone(),
            store,
            instance,
            config,
            limits: limits.clone(),
            counters: PackCounters::default(),
            failures_in_a_row: 0,
            quarantined: None,
        })
    }

    /// The same pack on a fresh instance with new configuration values,
    /// described again (its Sigma files changed): no recompilation.
    pub fn reconfigure(&self, config: PackConfig) -> Result<LoadedPack, PackError> {
        let mut store = new_store(&self.engine, self.name(), config.clone(), &self.limits);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PackError::Load(format!("instantiation failed: {e:#}")))?;
        let info = same_name(self.name(), describe(&instance, &mut store)?)?;
        let meta = PackMeta {
            interest: PackInterest::new(&info.rules),
            info,
            path: self.meta.path.clone(),
            content_hash: self.meta.content_hash.clone(),
            from_cache: self.meta.from_cache,
        };
        Ok(LoadedPack {
            meta: Arc::new(meta),
            pre: self.pre.clone(),
            engine: self.engine.clone(),
            store,
            instance,
            config,
            limits: self.limits.clone(),
            counters: PackCounters::default(),
            failures_in_a_row: 0,
            quarantined: None,
        })
    }

    /// Count a batch's outcome; true when this failure quarantines the pack.
    pub fn record(&mut self, documents: usize, result: Result<usize, &PackError>) -> bool {
        self.counters.batches += 1;
        match result {
            Ok(alerts) => {
                self.counters.documents_evaluated += documents as u64;
                self.counters.alerts += alerts as u64;
                self.failures_in_a_row = 0;
                false
            }
            Err(error) => {
                self.counters.batches_failed += 1;
                self.counters.documents_unevaluated += documents as u64;
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= QUARANTINE_AFTER && self.quarantined.is_none() {
                    self.quarantined = Some(format!(
                        "failed {QUARANTINE_AFTER} batches in a row, each also on a fresh instance; last: {error}"
                    ));
                    return true;
                }
                false
            }
        }
    }

    pub fn name(&self) -> &str {
        self.meta.name()
    }

    /// Evaluate one batch. A trap or an exceeded limit leaves the instance
    /// in an unknown state, so it is replaced by a fresh one and the batch is
    /// tried once more; a second failure is the caller's to report.
    pub fn evaluate(&mut self, batch: Batch<'_>) -> Result<Vec<Alert>, PackError> {
        match self.call_evaluate(batch.clone()) {
            Ok(alerts) => Ok(alerts),
            Err(first) => {
                tracing::warn!(pack = self.name(), error = %first, "batch failed; retrying once on a fresh instance");
                self.reset()?;
                self.call_evaluate(batch).inspect_err(|_| {
                    // Leave a usable instance for the next batch.
                    let _ = self.reset();
                })
            }
        }
    }

    fn call_evaluate(&mut self, batch: Batch<'_>) -> Result<Vec<Alert>, PackError> {
        self.store.data_mut().reset_call_budget();
        self.store.set_epoch_deadline(deadline_ticks(&self.limits));
        let result = self
            .instance
            .k8scop_rules_rule_pack()
            .call_evaluate(&mut self.store, batch);
        let suppressed = std::mem::take(&mut self.store.data_mut().log_lines_suppressed);
        if suppressed > 0 {
            tracing::warn!(
                pack = self.name(),
                suppressed,
                "pack log lines over the per-call limit were dropped"
            );
        }
        match result {
            Err(trap) => Err(PackError::Trap(describe_trap(&trap, &self.limits))),
            Ok(Err(message)) => Err(PackError::Failed(
                super::sandbox::truncate(&message, 2048).to_string(),
            )),
            Ok(Ok(alerts)) => check_alert_limits(alerts, &self.limits),
        }
    }

    /// Replace the instance by a fresh one (state lost, like a restart).
    pub fn reset(&mut self) -> Result<(), PackError> {
        let mut store = new_store(
            &self.engine,
            self.meta.name(),
            self.config.clone(),
            &self.limits,
        );
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PackError::Load(format!("re-instantiation failed: {e:#}")))?;
        self.store = store;
        self.instance = instance;
        Ok(())
    }
}

fn new_store(
    engine: &WasmEngine,
    name: &str,
    config: PackConfig,
    limits: &SandboxLimits,
) -> Store<PackState> {
    let mut store = Store::new(engine, PackState::new(name, config, limits));
    store.limiter(|state| &mut state.limits);
    // Instantiation runs guest code too (constructors), under the same budget.
    store.set_epoch_deadline(deadline_ticks(limits));
    store
}

fn deadline_ticks(limits: &SandboxLimits) -> u64 {
    (limits.batch_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

fn describe_trap(trap: &wasmtime::Error, limits: &SandboxLimits) -> String {
    match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "exceeded its time budget of {:?} per batch",
            limits.batch_time
        ),
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            "trapped (unreachable: a Rust panic, or an allocation over the memory cap)".to_string()
        }
        _ => {
            let text = format!("{trap:#}");
            if text.contains("forcing trap when growing memory") {
                format!(
                    "exceeded its memory cap of {} MiB",
                    limits.memory_bytes >> 20
                )
            } else {
                format!("trapped: {}", super::sandbox::truncate(&text, 2000))
            }
        }
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
