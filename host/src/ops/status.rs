//! The rule packs' status as the running sidecar sees it, served as JSON
//! on `/status`: loaded packs with their state (active or quarantined, and
//! why) and counters, and the files refused with the reason. The engine
//! publishes a fresh snapshot after each batch and each reload.

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

#[derive(Clone, Debug, Default)]
pub struct StatusBoard(Arc<RwLock<Value>>);

impl StatusBoard {
    pub fn new() -> Self {
        StatusBoard(Arc::new(RwLock::new(json!({"packs": [], "refused": []}))))
    }

    pub fn publish(&self, status: Value) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = status;
    }

    pub fn snapshot(&self) -> Value {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
