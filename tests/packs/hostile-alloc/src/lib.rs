//! Allocates until the memory cap: the host must trap it, not die.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const HOG: Rule = Rule {
    id: "hostile-alloc/hog",
    title: "Hog",
    description: "Eats memory.",
    severity: Severity::Low,
    tags: &["attack.t1499"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Hog(Vec<Vec<u8>>);

impl Pack for Hog {
    const NAME: &'static str = "hostile-alloc";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&HOG];
    fn new(_: &Config) -> Self {
        Hog(Vec::new())
    }
    fn on_event(&mut self, _: &Doc<'_>, _: &mut Alerts) {
        loop {
            self.0.push(std::hint::black_box(vec![1u8; 16 << 20]));
        }
    }
}

export_pack!(Hog);
