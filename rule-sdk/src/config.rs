//! The pack's configuration, as the operator set it for this pack.

/// Read-only access to the pack's configuration values. Values are strings;
/// lists are comma-separated.
pub struct Config {
    _private: (),
}

impl Config {
    pub(crate) fn new() -> Self {
        Config { _private: () }
    }

    /// The raw value of `key`, if the operator set it.
    pub fn get(&self, key: &str) -> Option<String> {
        crate::runtime::host_config(key)
    }

    /// A comma-separated list, or `default` when unset. An empty value is an
    /// empty list (the operator cleared the defaults).
    pub fn list(&self, key: &str, default: &[&str]) -> Vec<String> {
        match self.get(key) {
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A list of name patterns (see [`crate::Patterns`]), or `default`.
    pub fn patterns(&self, key: &str, default: &[&str]) -> crate::Patterns {
        crate::Patterns::new(&self.list(key, default))
    }

    /// An unsigned number, or `default` when unset or not a number (logged).
    pub fn u64(&self, key: &str, default: u64) -> u64 {
        match self.get(key) {
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                crate::log::warn(&format!(
                    "config {key}={v:?} is not a number; using {default}"
                ));
                default
            }),
            None => default,
        }
    }
}
