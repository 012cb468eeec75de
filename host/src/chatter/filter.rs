//! The filter itself: each document matched against the rules, then
//! dropped or labelled.

use super::*;

/// The reduction rules and what to do with what they match.
#[derive(Debug, Clone, Default)]
pub struct ChatterFilter {
    pub(super) mode: ChatterMode,
    pub(super) rules: Vec<ChatterRule>,
}

/// What the filter did to one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reduced {
    /// Chatter events dropped (drop) or labelled (label), by rule.
    pub by_rule: BTreeMap<String, u64>,
}

impl Reduced {
    pub fn total(&self) -> u64 {
        self.by_rule.values().sum()
    }

    /// One more event reduced by `rule`.
    pub fn count(&mut self, rule: &str) {
        *self.by_rule.entry(rule.to_string()).or_default() += 1;
    }
}

/// What the chatter filter does to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatterFate<'a> {
    Pass,
    Drop(&'a str),
    Label(&'a str),
}

impl ChatterFilter {
    /// The built-in rules, plus the operator's from `extra` (a TOML file of
    /// `[[rule]]` tables), in `mode`.
    pub fn new(mode: ChatterMode, extra: Option<&Path>) -> anyhow::Result<Self> {
        let mut rules = builtin_rules();
        if let Some(path) = extra {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the chatter rules {}", path.display()))?;
            let file = parse_file(&text)
                .with_context(|| format!("in the chatter rules {}", path.display()))?;
            for row in &file.control_plane {
                add_component(&mut rules, row);
            }
            rules.extend(file.rules);
        }
        if mode != ChatterMode::Off {
            tracing::info!(%mode, rules = rules.len(), "control-plane chatter filter on");
        }
        Ok(ChatterFilter { mode, rules })
    }

    pub fn mode(&self) -> ChatterMode {
        self.mode
    }

    pub fn rules(&self) -> &[ChatterRule] {
        &self.rules
    }

    /// The rule an event matches, if it is chatter. Documents that are not
    /// audit events are never chatter.
    pub fn classify(&self, doc: DocFacts<'_>) -> Option<&str> {
        if doc.kind != EventKind::Audit {
            return None;
        }
        let event = Probe::of(doc.view);
        if event.never_chatter() {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.matches(&event))
            .map(ChatterRule::name)
    }

    /// What the mode does to one document: nothing, or drop it or label it
    /// as chatter of a rule. Off reads nothing.
    pub fn fate(&self, doc: DocFacts<'_>) -> ChatterFate<'_> {
        if self.mode == ChatterMode::Off {
            return ChatterFate::Pass;
        }
        match (self.classify(doc), self.mode) {
            (None, _) => ChatterFate::Pass,
            (Some(rule), ChatterMode::Drop) => ChatterFate::Drop(rule),
            (Some(rule), _) => ChatterFate::Label(rule),
        }
    }

    /// The mode applied to a batch, as the decode stage applies it to each
    /// document (`pipeline/reduce.rs`): for the tests of the rules.
    #[cfg(test)]
    pub fn apply(&self, docs: &mut Vec<DecodedDoc>) -> Reduced {
        let mut reduced = Reduced::default();
        docs.retain_mut(|doc| match self.fate(doc.facts()) {
            ChatterFate::Pass => true,
            ChatterFate::Drop(rule) => {
                reduced.count(rule);
                false
            }
            ChatterFate::Label(rule) => {
                reduced.count(rule);
                doc.annotate(CHATTER_ANNOTATION, rule);
                true
            }
        });
        reduced
    }
}
