//! Stateful on purpose: an alert for every audit event, numbered by how
//! many events this instance has seen, with the event's audit ID. Run with
//! several threads, the numbers still follow the log's order only if the
//! host gives this pack every event, in order, on one instance.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const SEEN: Rule = Rule {
    id: "order-witness/seen",
    title: "Event seen",
    description: "Every audit event, numbered in the order this pack saw it.",
    severity: Severity::Info,
    tags: &[],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Witness {
    seen: u64,
}

impl Pack for Witness {
    const NAME: &'static str = "order-witness";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&SEEN];
    fn new(_: &Config) -> Self {
        Witness { seen: 0 }
    }
    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        let Some(e) = doc.audit() else { return };
        self.seen += 1;
        let seq = self.seen.to_string();
        out.raise(&SEEN)
            .group(&[&seq])
            .field("seq", seq.clone())
            .field("audit_id", e.audit_id.as_ref());
    }
}

export_pack!(Witness);
