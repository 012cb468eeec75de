//! Running a pack natively, without WebAssembly: the same rule code linked
//! into a Rust program. Benchmarks use it to measure what the sandbox costs.

use std::cell::RefCell;
use std::collections::HashMap;

#[cfg(not(target_arch = "wasm32"))]
use crate::bindings::k8scop::rules::host::LogLevel;
pub use crate::bindings::k8scop::rules::types::{Alert, PackInfo};
use crate::{EventKind, Pack};

thread_local! {
    static CONFIG: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// A pack instance running natively.
pub struct NativePack<P: Pack> {
    pack: P,
}

impl<P: Pack> NativePack<P> {
    /// Build the pack with these configuration values.
    pub fn new(config: &[(&str, &str)]) -> Self {
        CONFIG.with(|c| {
            *c.borrow_mut() = config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        NativePack {
            pack: P::new(&crate::Config::new()),
        }
    }

    pub fn describe() -> PackInfo {
        crate::runtime::describe::<P>()
    }

    /// Evaluate a batch of `(kind, json)` events, as the WASM export does.
    pub fn evaluate<'a>(
        &mut self,
        events: impl IntoIterator<Item = (EventKind, &'a str)>,
    ) -> Vec<Alert> {
        crate::runtime::evaluate_batch(&mut self.pack, events.into_iter())
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn config_value(key: &str) -> Option<String> {
    CONFIG.with(|c| c.borrow().get(key).cloned())
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn log(level: LogLevel, message: &str) {
    if matches!(level, LogLevel::Warn | LogLevel::Error) {
        eprintln!("[{level:?}] {message}");
    }
}
