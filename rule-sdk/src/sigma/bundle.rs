//! The Sigma files as one configuration value: a JSON list of
//! `{"file": name, "text": yaml}`, in the order the host found them. A
//! configuration value is one text, and a file's name is part of what a
//! rule is called when it has no id.

use serde::{Deserialize, Serialize};

/// One Sigma file: its name (no folder) and its YAML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFile {
    pub file: String,
    pub text: String,
}

impl RuleFile {
    pub fn new(file: impl Into<String>, text: impl Into<String>) -> Self {
        RuleFile {
            file: file.into(),
            text: text.into(),
        }
    }

    /// The file name without its `.yml`/`.yaml` extension.
    pub fn stem(&self) -> &str {
        self.file
            .strip_suffix(".yml")
            .or_else(|| self.file.strip_suffix(".yaml"))
            .unwrap_or(&self.file)
    }
}

/// The configuration value holding `files`.
pub fn encode(files: &[RuleFile]) -> String {
    serde_json::to_string(files).expect("a list of texts serializes")
}

/// The files of a configuration value written by [`encode`].
pub fn decode(value: &str) -> Result<Vec<RuleFile>, String> {
    serde_json::from_str(value).map_err(|e| format!("not a list of Sigma files: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_survive_the_round_trip_in_order() {
        let files = vec![
            RuleFile::new("b.yml", "title: b\n"),
            RuleFile::new("a.yaml", "title: \"a\"\n---\nx: 1\n"),
        ];
        assert_eq!(decode(&encode(&files)).unwrap(), files);
        assert_eq!(files[0].stem(), "b");
        assert_eq!(files[1].stem(), "a");
        assert!(decode("title: x").is_err());
    }
}
