//! The operator's TOML files, whatever they hold: the config file (flags,
//! `[[notify]]` channels, pack settings) and the chatter rules file are
//! read into settings or refused with an error; never a panic.
#![no_main]

use k8scop::chatter::parse_rules;
use k8scop::cli::config_file::{parse_pack_config, values_from_toml};
use k8scop::notify::config::channels_from_toml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(values) = values_from_toml(text, &[("rules".to_string(), ',')]) {
        for (key, _) in values {
            assert!(!key.contains('_'), "value {key} not named by its long flag");
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
