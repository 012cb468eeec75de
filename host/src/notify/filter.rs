//! Which alerts a channel wants: a minimum severity, and rule ids matched
//! against include and exclude patterns where `*` stands for any run of
//! characters (`k8scop-classic/*`, `*/pod-read`, `*secret*`).

use crate::contract::Severity;

#[derive(Debug, Clone)]
pub struct Filter {
    pub min_severity: Severity,
    /// Rule id patterns an alert must match one of; empty means all rules.
    pub include: Vec<String>,
    /// Rule id patterns that exclude an alert even when included.
    pub exclude: Vec<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            min_severity: Severity::Info,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl Filter {
    /// Whether an alert of `rule_id` at `severity` goes to the channel. An
    /// alert whose severity is unknown passes the severity test: dropping
    /// it silently would hide it.
    pub fn accepts(&self, rule_id: &str, severity: Option<Severity>) -> bool {
        if let Some(severity) = severity
            && severity.score() < self.min_severity.score()
        {
            return false;
        }
        let included = self.include.is_empty() || self.include.iter().any(|p| matches(p, rule_id));
        included && !self.exclude.iter().any(|p| matches(p, rule_id))
    }
}

/// `*` matches any run of characters (also `/`); everything else literally.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // Without a `*` the pattern is the whole text.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches(
            "k8scop-classic/pod-exec",
            "k8scop-classic/pod-exec"
        ));
        assert!(!matches(
            "k8scop-classic/pod-exec",
            "k8scop-classic/pod-exec2"
        ));
        assert!(matches("k8scop-classic/*", "k8scop-classic/pod-exec"));
        assert!(!matches("k8scop-classic/*", "other/pod-exec"));
        assert!(matches("*/pod-read", "k8scop-classic/pod-read"));
        assert!(!matches("*/pod-read", "k8scop-classic/pod-read-all"));
        assert!(matches("*secret*", "k8scop-classic/secrets-listed"));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c-y-b"));
        // The suffix may not reuse what the prefix matched.
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn severity_and_rules() {
        let f = Filter {
            min_severity: Severity::Medium,
            include: vec!["k8scop-classic/*".into()],
            exclude: vec!["*/secret-read".into()],
        };
        assert!(f.accepts("k8scop-classic/pod-exec", Some(Severity::High)));
        assert!(f.accepts("k8scop-classic/pod-deleted", Some(Severity::Medium)));
        assert!(!f.accepts("k8scop-classic/pods-listed", Some(Severity::Low)));
        assert!(!f.accepts("k8scop-classic/secret-read", Some(Severity::Critical)));
        assert!(!f.accepts("mine/pod-exec", Some(Severity::High)));
        assert!(f.accepts("k8scop-classic/pod-exec", None));
        let all = Filter::default();
        assert!(all.accepts("x/y", Some(Severity::Info)));
    }
}
