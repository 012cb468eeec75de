//! The operator's TOML config file, whatever it holds: read into settings
//! or refused with an error; never a panic.
#![no_main]

use k8scop::cli::config_file::{env_from_toml, parse_pack_config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(settings) = env_from_toml(text) {
        for (key, _) in settings {
            assert!(key.starts_with("K8SCOP_"), "setting {key} outside k8scop's environment");
        }
    }
    let _ = parse_pack_config(text);
});
