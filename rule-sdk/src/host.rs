//! What the host gives a pack, and nothing else: its log, and the pack's
//! configuration values. In WebAssembly these are the contract's imports;
//! natively (tests, benchmarks) the configuration is set by `NativePack`
//! and warnings go to stderr.

pub use crate::bindings::k8scop::rules::host::LogLevel;

#[cfg(target_arch = "wasm32")]
pub(crate) fn config(key: &str) -> Option<String> {
    crate::bindings::k8scop::rules::host::config(key)
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn log(level: LogLevel, message: &str) {
    crate::bindings::k8scop::rules::host::log(level, message)
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static NATIVE_CONFIG: std::cell::RefCell<std::collections::HashMap<String, String>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The configuration a natively run pack reads.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn set_native_config(values: &[(&str, &str)]) {
    NATIVE_CONFIG.with(|c| {
        *c.borrow_mut() = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn config(key: &str) -> Option<String> {
    NATIVE_CONFIG.with(|c| c.borrow().get(key).cloned())
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn log(level: LogLevel, message: &str) {
    if matches!(level, LogLevel::Warn | LogLevel::Error) {
        eprintln!("[{level:?}] {message}");
    }
}

/// A pack built to WebAssembly reads the host's values, never these.
#[cfg(target_arch = "wasm32")]
pub(crate) fn set_native_config(_: &[(&str, &str)]) {}
