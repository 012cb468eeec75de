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

    /// Apply the mode to a batch: drop chatter, or label it. Off does
    /// nothing and reads nothing.
    pub fn apply(&self, docs: &mut Vec<DecodedDoc>) -> Reduced {
        let mut reduced = Reduced::default();
        match self.mode {
            ChatterMode::Off => {}
            ChatterMode::Drop => docs.retain(|doc| match self.classify(doc.facts()) {
                Some(rule) => {
                    *reduced.by_rule.entry(rule.to_string()).or_default() += 1;
                    false
                }
                None => true,
            }),
            ChatterMode::Label => {
                for doc in docs.iter_mut() {
                    let Some(rule) = self.classify(doc.facts()) else {
                        continue;
                    };
                    doc.annotate(CHATTER_ANNOTATION, rule);
                    *reduced.by_rule.entry(rule.to_string()).or_default() += 1;
                }
            }
        }
        reduced
    }
}
