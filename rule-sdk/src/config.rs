//! The pack's configuration, as the operator set it for this pack.
//!
//! Every key a pack reads while it is built (`Pack::new`) is recorded with
//! its type and default, and `describe` declares them to the host: the host
//! checks the operator's configuration file against what the pack really
//! reads, with no list to keep in step by hand.

use std::cell::RefCell;

use crate::bindings::k8scop::rules::types::{SettingInfo, SettingKind};

thread_local! {
    static RECORDED: RefCell<Option<Vec<SettingInfo>>> = const { RefCell::new(None) };
}

/// Build the pack, recording every configuration key it reads.
pub(crate) fn recording<P>(build: impl FnOnce() -> P) -> (P, Vec<SettingInfo>) {
    RECORDED.with(|r| *r.borrow_mut() = Some(Vec::new()));
    let pack = build();
    let settings = RECORDED.with(|r| r.borrow_mut().take()).unwrap_or_default();
    (pack, settings)
}

fn record(key: &str, kind: SettingKind, default: impl FnOnce() -> String) {
    RECORDED.with(|r| {
        if let Some(settings) = r.borrow_mut().as_mut()
            && !settings.iter().any(|s| s.key == key)
        {
            settings.push(SettingInfo {
                key: key.to_string(),
                kind,
                default: default(),
                description: String::new(),
            });
        }
    });
}

/// Read-only access to the pack's configuration values. Values are strings;
/// lists are comma-separated.
pub struct Config {
    _private: (),
}

impl Config {
    pub(crate) fn new() -> Self {
        Config { _private: () }
    }

    /// The raw value of `key`, if the operator set it (a text setting
    /// without a default).
    pub fn get(&self, key: &str) -> Option<String> {
        record(key, SettingKind::Text, String::new);
        self.value(key)
    }

    /// A text, or `default` when unset.
    pub fn text(&self, key: &str, default: &str) -> String {
        record(key, SettingKind::Text, || default.to_string());
        self.value(key).unwrap_or_else(|| default.to_string())
    }

    fn value(&self, key: &str) -> Option<String> {
        crate::host::config(key)
    }

    /// A comma-separated list, or `default` when unset. An empty value is an
    /// empty list (the operator cleared the defaults).
    pub fn list(&self, key: &str, default: &[&str]) -> Vec<String> {
        record(key, SettingKind::List, || default.join(","));
        match self.value(key) {
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
        record(key, SettingKind::Number, || default.to_string());
        match self.value(key) {
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
