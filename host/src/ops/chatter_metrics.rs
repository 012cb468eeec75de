//! Metrics of the control-plane chatter filter: what each reduction rule
//! dropped or labelled. Label values are rule names (built-in or from the
//! operator's rules file), so they stay bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::chatter::{ChatterMode, Reduced};

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChatterRuleLabel {
    rule: String,
}

#[derive(Debug, Default)]
pub struct ChatterMetrics {
    dropped: Family<ChatterRuleLabel, Counter>,
    labelled: Family<ChatterRuleLabel, Counter>,
}

impl ChatterMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "events_chatter_dropped",
            "Audit events dropped as control-plane chatter before the rule packs, by reduction rule",
            self.dropped.clone(),
        );
        r.register(
            "events_chatter_labelled",
            "Audit events labelled k8scop.io/chatter before the rule packs, by reduction rule",
            self.labelled.clone(),
        );
    }

    /// What the filter did to one batch in `mode`.
    pub fn record(&self, mode: ChatterMode, reduced: &Reduced) {
        let family = match mode {
            ChatterMode::Off => return,
            ChatterMode::Drop => &self.dropped,
            ChatterMode::Label => &self.labelled,
        };
        for (rule, n) in &reduced.by_rule {
            family
                .get_or_create(&ChatterRuleLabel { rule: rule.clone() })
                .inc_by(*n);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::chatter::{ChatterMode, Reduced};
    use crate::ops::Metrics;

    #[test]
    fn drops_and_labels_are_counted_by_rule() {
        let m = Metrics::new();
        let reduced = Reduced {
            by_rule: BTreeMap::from([
                ("kubelet-node-lease".to_string(), 3),
                ("informer-watch".to_string(), 2),
            ]),
        };
        m.chatter().record(ChatterMode::Drop, &reduced);
        m.chatter().record(ChatterMode::Drop, &reduced);
        m.chatter().record(ChatterMode::Label, &reduced);
        m.chatter().record(ChatterMode::Off, &reduced);
        let text = m.encode();
        for line in [
            "k8scop_events_chatter_dropped_total{rule=\"kubelet-node-lease\"} 6",
            "k8scop_events_chatter_dropped_total{rule=\"informer-watch\"} 4",
            "k8scop_events_chatter_labelled_total{rule=\"informer-watch\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
