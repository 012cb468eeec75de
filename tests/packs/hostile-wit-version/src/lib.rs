//! The same pack shape, against `k8scop:rules@9.0.0`: a contract this host
//! does not speak. Only built for WebAssembly: its export names are not
//! valid native symbols.
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "pack", path: "wit" });

use k8scop::rules::types::{Alert, Event, PackInfo};

struct Future;

impl exports::k8scop::rules::rule_pack::Guest for Future {
    fn describe() -> PackInfo {
        PackInfo {
            name: "hostile-wit-version".into(),
            version: "9.0.0".into(),
            rules: Vec::new(),
        }
    }
    fn evaluate(_: Vec<Event>) -> Result<Vec<Alert>, String> {
        Ok(Vec::new())
    }
}

export!(Future);
