//! The configuration file (TOML). Precedence: flags, then environment
//! variables, then the file, then defaults. Each key of the file is the
//! flag's name (`es-url` or `es_url`); the file's values become the flags'
//! defaults (see `layered`), so clap applies one precedence rule to all
//! four, and the process environment is never written.
//!
//! ```toml
//! es-url = "https://elasticsearch:9200"
//! es-api-key-file = "/etc/k8scop/api-key"
//! logs-prefix = "logs"
//! alerts-prefix = "k8scop-alerts"
//! aggregate-window = 600
//! interval = 5
//! ```
//!
//! Per-pack settings live in their own file (`--pack-config`), one table
//! per pack. Notification channels are `[[notify]]` tables of this file
//! (see `crate::notify::config`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// The flags' values the file sets, by long flag name (`es-url`).
/// `known`: the flags a file may set (their long names).
/// `lists`: the flags that take a list, with the delimiter their text
/// joins it with (`rules`, `:`).
pub fn values_from_file(
    path: &Path,
    known: &[String],
    lists: &[(String, char)],
) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let values = values_from_toml(&text, lists)
        .with_context(|| format!("in the config file {}", path.display()))?;
    check_keys(&text, known).with_context(|| format!("in the config file {}", path.display()))?;
    Ok(values)
}

/// A key that names no flag would be ignored in silence (`aggregate-windw`
/// leaves the default on): an error naming the closest flag.
fn check_keys(text: &str, known: &[String]) -> anyhow::Result<()> {
    let table = crate::config_toml::parse_secret_toml(text)?;
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for key in table.keys().filter(|k| *k != "notify") {
        let flag = key.replace('_', "-");
        if known.contains(&flag.as_str()) {
            continue;
        }
        match crate::spelling::closest(&flag, &known) {
            Some(near) => anyhow::bail!("unknown key `{key}` (did you mean `{near}`?)"),
            None => anyhow::bail!(
                "unknown key `{key}`: keys are the flags' names, as in `k8scop run --help`"
            ),
        }
    }
    Ok(())
}

/// The file's values as text, by long flag name (`aggregate_window` is
/// `aggregate-window`). A value that is not a string, number or boolean is
/// an error naming the key, never the value; except a list of texts for
/// a flag of `lists` (`rules = ["/a", "/b"]`), joined with its delimiter.
pub fn values_from_toml(
    text: &str,
    lists: &[(String, char)],
) -> anyhow::Result<BTreeMap<String, String>> {
    let table = crate::config_toml::parse_secret_toml(text)?;
    table
        .into_iter()
        // Not a flag: read by `read_notify`.
        .filter(|(key, _)| key != "notify")
        .map(|(key, value)| {
            let flag = key.replace('_', "-");
            let delimiter = lists
                .iter()
                .find(|(name, _)| *name == flag)
                .map(|(_, d)| *d);
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Array(items) if delimiter.is_some() => items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s),
                        other => Err(anyhow::anyhow!(
                            "`{key}` must be a list of texts, found {}",
                            other.type_str()
                        )),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
                    .join(&delimiter.unwrap_or(':').to_string()),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                other => anyhow::bail!(
                    "`{key}` must be a string, number or boolean, not {}",
                    other.type_str()
                ),
            };
            Ok((flag, text))
        })
        .collect()
}

/// The notification channels (`[[notify]]`) of the config file, checked
/// and with their secrets read; none without a file.
pub fn read_notify(path: Option<&Path>) -> anyhow::Result<Vec<crate::notify::ChannelConfig>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    crate::notify::config::channels_from_toml(&text, &|name| std::env::var(name).ok())
        .with_context(|| format!("in the config file {}", path.display()))
}

/// `[pack-name]` tables of `key = value`; arrays become comma-separated
/// lists, numbers and booleans their text.
pub fn read_pack_config(path: &Path) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_pack_config(&text).with_context(|| format!("in pack configuration {}", path.display()))
}

pub fn parse_pack_config(text: &str) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let table = crate::config_toml::parse_secret_toml(text)?;
    let mut packs = BTreeMap::new();
    for (pack, values) in table {
        let toml::Value::Table(values) = values else {
            anyhow::bail!("`{pack}` must be a table of settings ([{pack}])");
        };
        let mut settings = BTreeMap::new();
        for (key, value) in values {
            let text = match value {
                toml::Value::String(s) => s,
                // A list setting is a list of texts: `[1, 2]` would replace
                // the defaults with nothing that can match.
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s),
                        other => Err(anyhow::anyhow!(
                            "[{pack}] {key}: a list of texts (\"...\"), found {}",
                            other.type_str()
                        )),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
                    .join(","),
                toml::Value::Table(_) => {
                    anyhow::bail!("[{pack}] {key}: nested tables are not settings")
                }
                other => other.to_string(),
            };
            settings.insert(key, text);
        }
        packs.insert(pack, settings);
    }
    Ok(packs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_become_flag_names() {
        let values = values_from_toml(
            "es-url = \"http://es:9200\"\naggregate_window = 600\nes-insecure-skip-verify = true\n",
            &[],
        )
        .unwrap();
        let expected: BTreeMap<String, String> = [
            ("aggregate-window", "600"),
            ("es-insecure-skip-verify", "true"),
            ("es-url", "http://es:9200"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(values, expected);
        assert!(values_from_toml("x = [1]", &[]).is_err());
        // Channels are not flags.
        let values =
            values_from_toml("interval = 5\n[[notify]]\ntype = \"webhook\"\n", &[]).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values["interval"], "5");
    }

    /// A syntax error names the line and the key, never the value: the
    /// line may hold a password.
    #[test]
    fn a_syntax_error_shows_the_key_not_the_secret() {
        let text =
            "es-url = \"http://es:9200\"\nes-password = \"PwSecret987\nlogs-prefix = \"logs\"\n";
        let err = format!("{:#}", values_from_toml(text, &[]).unwrap_err());
        assert!(!err.contains("PwSecret987"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("`es-password`"), "{err}");
        let err = format!(
            "{:#}",
            parse_pack_config("[p]\nkey = \"s3cr3t").unwrap_err()
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn pack_config_values_become_strings() {
        let c = parse_pack_config(
            "[k8scop-classic]\nignore_users = [\"system:node:*\", \"ci-bot\"]\nthreshold = 5\nstrict = true\nnote = \"x\"\n",
        )
        .unwrap();
        let classic = &c["k8scop-classic"];
        assert_eq!(classic["ignore_users"], "system:node:*,ci-bot");
        assert_eq!(classic["threshold"], "5");
        assert_eq!(classic["strict"], "true");
        assert_eq!(classic["note"], "x");
        assert!(parse_pack_config("ignore_users = 1").is_err());
        let err = parse_pack_config("[k8scop-falco]\nignore_users = [1, 2]").unwrap_err();
        assert!(err.to_string().contains("a list of texts"), "{err}");
        assert!(parse_pack_config("[p]\nx = { a = 1 }").is_err());
    }
}
