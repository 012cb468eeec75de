//! Loops forever on the first event: the host's time budget must stop it.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const SPIN: Rule = Rule {
    id: "hostile-loop/spin",
    title: "Spin",
    description: "Never returns.",
    severity: Severity::Low,
    tags: &["attack.t1499"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Looper;

impl Pack for Looper {
    const NAME: &'static str = "hostile-loop";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&SPIN];
    fn new(_: &Config) -> Self {
        Looper
    }
    fn on_event(&mut self, _: &Doc<'_>, _: &mut Alerts) {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_pack!(Looper);
