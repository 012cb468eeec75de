//! Allow-lists and ignore-lists of names, as operators write them.

/// Names to match exactly, or by prefix when the entry ends with `*`
/// (`system:node:*`, `system:serviceaccount:kube-system:*`).
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Patterns {
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut p = Patterns::default();
        for entry in entries {
            let entry = entry.as_ref();
            match entry.strip_suffix('*') {
                Some(prefix) => p.prefixes.push(prefix.to_string()),
                None => p.exact.push(entry.to_string()),
            }
        }
        p
    }

    pub fn matches(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name)
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
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
}
