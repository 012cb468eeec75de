//! The operator's configuration of a pack checked against the keys the pack
//! declares (`pack-info.settings`: every key it reads, with its type), when
//! the pack loads. A misspelt key would otherwise be ignored in silence and
//! a wrong type replace the defaults: both refuse the pack, naming the key
//! and the closest valid one.

use std::collections::BTreeMap;

use crate::contract::{PackInfo, SettingKind};
use crate::spelling::closest;

/// Every mistake in `values` for this pack, as one message (none: fine).
pub fn check(info: &PackInfo, values: &BTreeMap<String, String>) -> Result<(), String> {
    let mut problems = Vec::new();
    for (key, value) in values {
        if key == rule_sdk::sigma::SETTING {
            problems.push(format!(
                "setting {key:?} is set by k8scop from the Sigma files (.yml, .yaml) in the rules folders: put Sigma rules there"
            ));
            continue;
        }
        let Some(setting) = info.settings.iter().find(|s| &s.key == key) else {
            let known: Vec<&str> = info.settings.iter().map(|s| s.key.as_str()).collect();
            problems.push(match closest(key, &known) {
                Some(near) => format!("unknown setting {key:?} (did you mean {near:?}?)"),
                None if known.is_empty() => {
                    format!("unknown setting {key:?} (the pack reads no settings)")
                }
                None => format!("unknown setting {key:?} (known: {})", known.join(", ")),
            });
            continue;
        };
        let fits = match setting.kind {
            SettingKind::Number => value.trim().parse::<u64>().is_ok(),
            SettingKind::Boolean => matches!(value.trim(), "true" | "false"),
            SettingKind::Text | SettingKind::List => true,
        };
        if !fits {
            problems.push(format!(
                "setting {key:?} must be a {}, not {value:?}",
                setting.kind.as_str()
            ));
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "configuration of pack {}: {}",
            info.name,
            problems.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::SettingInfo;

    fn info() -> PackInfo {
        let setting = |key: &str, kind| SettingInfo {
            key: key.into(),
            kind,
            default: String::new(),
            description: String::new(),
        };
        PackInfo {
            name: "p".into(),
            version: "1".into(),
            rules: vec![],
            settings: vec![
                setting("ignore_users", SettingKind::List),
                setting("secret_burst_threshold", SettingKind::Number),
            ],
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn declared_keys_of_the_right_type_pass() {
        let ok = values(&[("ignore_users", "a,b"), ("secret_burst_threshold", "12")]);
        assert_eq!(check(&info(), &ok), Ok(()));
    }

    #[test]
    fn a_misspelt_key_names_the_closest_one() {
        let err = check(&info(), &values(&[("ignore_user", "a")])).unwrap_err();
        assert_eq!(
            err,
            "configuration of pack p: unknown setting \"ignore_user\" (did you mean \"ignore_users\"?)"
        );
        let err = check(&info(), &values(&[("colour", "red")])).unwrap_err();
        assert!(
            err.contains("known: ignore_users, secret_burst_threshold"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_is_named() {
        let err = check(&info(), &values(&[("secret_burst_threshold", "ten")])).unwrap_err();
        assert!(err.contains("must be a number, not \"ten\""), "{err}");
    }
}
