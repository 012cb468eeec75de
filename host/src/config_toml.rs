//! Reading the operator's TOML files (the config file, the pack
//! configuration, the notification channels), which may hold secrets.

/// Parse a TOML file that may hold secrets. toml's own error message
/// quotes the offending line, a password with it: this one gives the line,
/// the column, the reason and the key, never a value.
pub fn parse_secret_toml(text: &str) -> anyhow::Result<toml::Table> {
    toml::from_str(text).map_err(|e| {
        let Some(span) = e.span() else {
            return anyhow::anyhow!("not valid TOML: {}", e.message());
        };
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
        let line_text = text.lines().nth(line - 1).unwrap_or_default();
        let key = line_text
            .split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| !key.is_empty() && !key.contains(['"', '\'']))
            .map(|key| format!(" (key `{key}`)"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "not valid TOML at line {line}, column {column}{key}: {}",
            e.message()
        )
    })
}
