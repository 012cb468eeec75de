//! What a rule pack may use, and how much: the store each pack runs in.
//!
//! Rules are untrusted code. WASI is linked because the Rust standard library
//! imports it, but with a context that grants nothing: no preopened
//! directories, no environment, no arguments, no network, stdio discarded,
//! and clocks frozen at the epoch (a clock would let a rule leak timing and
//! make results depend on when they ran).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::contract::{LogLevel, k8scop};

/// The limits every pack runs under.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Linear memory a pack may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall time one `evaluate` call may take before it is interrupted.
    pub batch_time: Duration,
    /// Alerts one `evaluate` call may return.
    pub max_alerts_per_batch: usize,
    /// Bytes of text (ids, titles, keys, fields) those alerts may carry.
    pub max_alert_bytes: usize,
    /// Log lines one call may write; the rest are counted, not written.
    pub max_log_lines_per_call: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 256 << 20,
            batch_time: Duration::from_secs(5),
            max_alerts_per_batch: 10_000,
            max_alert_bytes: 16 << 20,
            max_log_lines_per_call: 100,
        }
    }
}

/// A pack's configuration values, set by the operator.
pub type PackConfig = Arc<BTreeMap<String, String>>;

/// The data of one pack's wasmtime store.
pub struct PackState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pack_name: String,
    config: PackConfig,
    log_budget: usize,
    log_lines_left: usize,
    pub(crate) log_lines_suppressed: u64,
}

impl PackState {
    pub fn new(pack_name: &str, config: PackConfig, limits: &SandboxLimits) -> Self {
        PackState {
            wasi: deny_all_wasi(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            pack_name: pack_name.to_string(),
            config,
            log_budget: limits.max_log_lines_per_call,
            log_lines_left: limits.max_log_lines_per_call,
            log_lines_suppressed: 0,
        }
    }

    /// Called before each call into the pack.
    pub fn reset_call_budget(&mut self) {
        self.log_lines_left = self.log_budget;
    }

    /// Once describe() has named the pack, its configuration is known.
    pub fn identify(&mut self, name: &str, config: PackConfig) {
        self.pack_name = name.to_string();
        self.config = config;
    }
}

fn deny_all_wasi() -> WasiCtx {
    WasiCtxBuilder::new()
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for PackState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl k8scop::rules::types::Host for PackState {}

impl k8scop::rules::host::Host for PackState {
    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_lines_left == 0 {
            self.log_lines_suppressed += 1;
            return;
        }
        self.log_lines_left -= 1;
        // A hostile pack could write megabytes per line.
        let message = truncate(&message, 2048);
        let pack = self.pack_name.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(pack, "{message}"),
            LogLevel::Debug => tracing::debug!(pack, "{message}"),
            LogLevel::Info => tracing::info!(pack, "{message}"),
            LogLevel::Warn => tracing::warn!(pack, "{message}"),
            LogLevel::Error => tracing::error!(pack, "{message}"),
        }
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}
