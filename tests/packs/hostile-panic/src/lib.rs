//! Panics on every batch.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const BOOM: Rule = Rule {
    id: "hostile-panic/boom",
    title: "Boom",
    description: "Panics.",
    severity: Severity::Low,
    tags: &["attack.t1499"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Boom;

impl Pack for Boom {
    const NAME: &'static str = "hostile-panic";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&BOOM];
    fn new(_: &Config) -> Self {
        Boom
    }
    fn on_event(&mut self, _: &Doc<'_>, _: &mut Alerts) {
        panic!("this pack panics on every event");
    }
}

export_pack!(Boom);
