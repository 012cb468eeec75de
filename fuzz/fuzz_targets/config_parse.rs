//! The operator's TOML files, whatever they hold: the config file (flags,
//! `[[notify]]` channels, pack settings) and the chatter rules file are
//! read into settings or refused with an error; never a panic.
#![no_main]

use k8scop::cli::config_file::{env_from_toml, parse_pack_config};
use k8scop::chatter::parse_rules;
use k8scop::notify::config::channels_from_toml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(settings) = env_from_toml(text) {
        for (key, _) in settings {
            assert!(
                key.starts_with("K8SCOP_"),
                "setting {key} outside k8scop's environment"
            );
        }
    }
    let _ = parse_pack_config(text);
    // Secrets named by `*_env` resolve to a fixed value, so channels with
    // them can be accepted too.
    let _ = channels_from_toml(text, &|_| Some("s3cret-token".to_string()));
    if let Ok(rules) = parse_rules(text) {
        for rule in &rules {
            assert!(!rule.name().is_empty(), "an operator rule has a name");
        }
    }
});
