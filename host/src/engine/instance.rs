//! A pack's live instances. A stateful pack has one, which sees every batch
//! in order; a stateless pack may have one per thread, each evaluating a
//! part of a batch. Each instance lives in its own store, so instances
//! share nothing but the compiled code.

use wasmtime::{Engine as WasmEngine, Store};

use super::admission::check_alert_limits;
use super::sandbox::{PackConfig, PackState, SandboxLimits};
use super::{EPOCH_TICK, PackError};
use crate::contract::{Alert, Batch, Pack, PackPre};

/// What a fresh instance of a pack is made from.
pub struct Recipe {
    pub(super) pre: PackPre<PackState>,
    pub(super) engine: WasmEngine,
    pub(super) name: String,
    pub(super) config: PackConfig,
    pub(super) limits: SandboxLimits,
}

/// One instance of a pack in its own store.
pub struct Instance {
    store: Store<PackState>,
    instance: Pack,
}

impl Recipe {
    /// A fresh instance (state lost, like a restart).
    pub fn instantiate(&self) -> Result<Instance, PackError> {
        let mut store = new_store(&self.engine, &self.name, self.config.clone(), &self.limits);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PackError::Load(format!("instantiation failed: {e:#}")))?;
        Ok(Instance { store, instance })
    }
}

impl Instance {
    /// The instance `describe()` was called on when the pack loaded, before
    /// its name was known.
    pub(super) fn from_parts(store: Store<PackState>, instance: Pack) -> Self {
        Instance { store, instance }
    }

    /// The instance and its store, to call it outside a batch
    /// (`describe()` again, once its configuration is set).
    pub(super) fn parts(&mut self) -> (&Pack, &mut Store<PackState>) {
        (&self.instance, &mut self.store)
    }

    /// Evaluate one batch. A trap or an exceeded limit leaves the instance
    /// in an unknown state, so it is replaced by a fresh one and the batch
    /// is tried once more; a second failure is the caller's to report.
    pub fn evaluate(&mut self, recipe: &Recipe, batch: Batch<'_>) -> Result<Vec<Alert>, PackError> {
        match self.call_evaluate(recipe, batch.clone()) {
            Ok(alerts) => Ok(alerts),
            Err(first) => {
                tracing::warn!(pack = %recipe.name, error = %first, "batch failed; retrying once on a fresh instance");
                *self = recipe.instantiate()?;
                self.call_evaluate(recipe, batch).inspect_err(|_| {
                    // Leave a usable instance for the next batch.
                    if let Ok(fresh) = recipe.instantiate() {
                        *self = fresh;
                    }
                })
            }
        }
    }

    fn call_evaluate(
        &mut self,
        recipe: &Recipe,
        batch: Batch<'_>,
    ) -> Result<Vec<Alert>, PackError> {
        let limits = &recipe.limits;
        self.store.data_mut().reset_call_budget();
        self.store.set_epoch_deadline(deadline_ticks(limits));
        let result = self
            .instance
            .k8scop_rules_rule_pack()
            .call_evaluate(&mut self.store, batch);
        let suppressed = std::mem::take(&mut self.store.data_mut().log_lines_suppressed);
        if suppressed > 0 {
            tracing::warn!(
                pack = %recipe.name,
                suppressed,
                "pack log lines over the per-call limit were dropped"
            );
        }
        match result {
            Err(trap) => Err(PackError::Trap(describe_trap(&trap, limits))),
            Ok(Err(message)) => Err(PackError::Failed(
                super::sandbox::truncate(&message, 2048).to_string(),
            )),
            Ok(Ok(alerts)) => check_alert_limits(alerts, limits),
        }
    }
}

pub(super) fn new_store(
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
