//! Allow-lists and ignore-lists of names, as operators write them.

use crate::fnv::FnvHashSet;

/// Names to match exactly, or by prefix when the entry ends with `*`
/// (`system:node:*`, `system:serviceaccount:kube-system:*`). The exact
/// names are a hash set: the default ignore-list holds every control-plane
/// identity, and each event's user is looked up in it.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    exact: FnvHashSet<String>,
    prefixes: Vec<Prefix>,
}

/// A prefix, with its last (up to) eight bytes as one word: most prefixes
/// of a list share their start (`system:serviceaccount:...`), so comparing
/// where they end rules most names out without a byte-by-byte comparison,
/// which in WebAssembly is a call and a loop.
#[derive(Debug, Clone)]
pub struct Prefix {
    text: String,
    tail: u64,
}

impl Prefix {
    pub fn new(text: &str) -> Self {
        Prefix {
            text: text.to_string(),
            tail: tail_word(text.as_bytes()),
        }
    }

    /// `name` starts with this prefix.
    #[inline]
    pub fn starts(&self, name: &str) -> bool {
        let n = self.text.len();
        name.len() >= n
            && tail_word(&name.as_bytes()[..n]) == self.tail
            && name.as_bytes()[..n] == *self.text.as_bytes()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The last eight bytes of `bytes` (fewer, zero-padded, if shorter).
#[inline]
fn tail_word(bytes: &[u8]) -> u64 {
    match bytes.len() {
        n if n >= 8 => u64::from_le_bytes(bytes[n - 8..].try_into().expect("eight bytes")),
        n => {
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(bytes);
            u64::from_le_bytes(word)
        }
    }
}

impl Patterns {
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut p = Patterns::default();
        for entry in entries {
            let entry = entry.as_ref();
            match entry.strip_suffix('*') {
                Some(prefix) => p.prefixes.push(Prefix::new(prefix)),
                None => {
                    p.exact.insert(entry.to_string());
                }
            }
        }
        p
    }

    pub fn matches(&self, name: &str) -> bool {
        self.exact.contains(name) || self.prefixes.iter().any(|p| p.starts(name))
    }
}

#[cfg(test)]
mod tests {
    use super::Patterns;

    #[test]
    fn exact_and_prefix_entries() {
        let p = Patterns::new(&["system:kube-scheduler", "system:node:*"]);
        assert!(p.matches("system:kube-scheduler"));
        assert!(p.matches("system:node:worker-1"));
        assert!(!p.matches("system:kube-scheduler-evil"));
        assert!(!p.matches("alice"));
        assert!(Patterns::new(&["*"]).matches("anyone"));
        assert!(!Patterns::new::<&str>(&[]).matches(""));
    }

    #[test]
    fn prefixes_of_any_length_match_as_starts_with_does() {
        let names = [
            "",
            "s",
            "sys",
            "system:node:",
            "system:node:w1",
            "system:nodes",
            "xystem:node:w1",
        ];
        for prefix in ["", "s", "sy", "system:n", "system:node:", "system:node:w"] {
            let p = super::Prefix::new(prefix);
            for name in names {
                assert_eq!(
                    p.starts(name),
                    name.starts_with(prefix),
                    "{prefix:?} {name:?}"
                );
            }
        }
    }
}
