//! Running a pack natively, without WebAssembly: the same rule code linked
//! into a Rust program. Benchmarks use it to measure what the sandbox costs.

pub use crate::bindings::k8scop::rules::types::{Alert, PackInfo};
use crate::{EventKind, Pack};

/// A pack instance running natively.
pub struct NativePack<P: Pack> {
    pack: P,
}

impl<P: Pack> NativePack<P> {
    /// Build the pack with these configuration values.
    pub fn new(config: &[(&str, &str)]) -> Self {
        crate::host::set_native_config(config);
        NativePack {
            pack: P::new(&crate::Config::new()),
        }
    }

    pub fn describe() -> PackInfo {
        crate::runtime::describe::<P>()
    }

    /// Evaluate a batch of `(kind, json)` events, as the WASM export does.
    pub fn evaluate<'a>(
        &mut self,
        events: impl IntoIterator<Item = (EventKind, &'a str)>,
    ) -> Vec<Alert> {
        crate::runtime::evaluate_batch(&mut self.pack, events.into_iter())
    }

    /// Evaluate a batch as the host lays it out for the WASM export: the
    /// same input, so the two differ only by the sandbox.
    pub fn evaluate_batch(&mut self, batch: crate::wire::BatchReader<'_>) -> Vec<Alert> {
        crate::runtime::evaluate_laid_out(&mut self.pack, batch)
    }

    /// The pack itself, for tests that look at its state (e.g. that a
    /// stateful pack's tables stay within their caps).
    pub fn pack(&self) -> &P {
        &self.pack
    }
}

#[cfg(test)]
mod tests {
    use super::NativePack;
    use crate::{Alerts, Config, Doc, EventKind, Interest, Needs, Pack, Rule, Severity};

    const NOTHING: Rule = Rule {
        id: "test/nothing",
        title: "nothing",
        description: "raises nothing",
        severity: Severity::Info,
        tags: &[],
        interest: Interest::ANY_AUDIT,
        needs: Needs::METADATA,
    };

    /// Counts the events it saw across batches.
    struct Counter(usize);

    impl Pack for Counter {
        const NAME: &'static str = "counter";
        const VERSION: &'static str = "0";
        const RULES: &'static [&'static Rule] = &[&NOTHING];
        fn new(_: &Config) -> Self {
            Counter(0)
        }
        fn on_event(&mut self, _: &Doc<'_>, _: &mut Alerts) {
            self.0 += 1;
        }
    }

    #[test]
    fn the_pack_keeps_its_state_across_batches_and_can_be_inspected() {
        let mut pack = NativePack::<Counter>::new(&[]);
        let event = r#"{"kind":"Event","verb":"get"}"#;
        pack.evaluate([(EventKind::Audit, event), (EventKind::Audit, event)]);
        pack.evaluate([(EventKind::Audit, event)]);
        assert_eq!(pack.pack().0, 3);
    }
}
