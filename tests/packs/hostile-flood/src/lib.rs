//! Returns a million alerts for one event (or `alerts` from its config):
//! over the host's caps.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const FLOOD: Rule = Rule {
    id: "hostile-flood/flood",
    title: "Flood",
    description: "Too many alerts.",
    severity: Severity::Low,
    tags: &["attack.t1499"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Flood(u64);

impl Pack for Flood {
    const NAME: &'static str = "hostile-flood";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&FLOOD];
    fn new(config: &Config) -> Self {
        Flood(config.u64("alerts", 1_000_000))
    }
    fn on_event(&mut self, _: &Doc<'_>, out: &mut Alerts) {
        for i in 0..self.0 {
            out.raise(&FLOOD).group(&[&i.to_string()]);
        }
    }
}

export_pack!(Flood);
