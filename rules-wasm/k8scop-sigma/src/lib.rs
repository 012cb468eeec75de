//! k8scop-sigma: the Sigma rules of the rules folders, evaluated in the
//! sandbox. Operators drop `.yml` Sigma files next to the packs; the host
//! checks each file and hands the admitted ones to this pack as its
//! `sigma-rules` setting (a pack cannot read files), then describes the
//! pack again, so each Sigma rule is a rule of its own: in `rules list`,
//! `/status` and the alerts, as `k8scop-sigma/<sigma id>`.
//!
//! The parsing, the matching and Sigma's correlation rules are rsigma's
//! (through `rule_sdk::sigma`); the pack holds one engine per instance, so
//! correlation windows live across batches like any pack's state.

use rule_sdk::sigma::{self, SigmaRules};
use rule_sdk::*;

pub struct SigmaPack {
    rules: SigmaRules,
}

impl Pack for SigmaPack {
    const NAME: &'static str = "k8scop-sigma";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    /// None of its own: every rule comes from a Sigma file.
    const RULES: &'static [&'static Rule] = &[];

    fn new(config: &Config) -> Self {
        let files = match config.get(sigma::SETTING).map(|v| sigma::decode(&v)) {
            None => Vec::new(),
            Some(Ok(files)) => files,
            Some(Err(e)) => {
                log::error(&format!("the {} setting: {e}", sigma::SETTING));
                Vec::new()
            }
        };
        let rules = SigmaRules::load(Self::NAME, &files);
        // The host checked every file with the same code, so this is a
        // second line; its warnings the host already logged per file.
        for (file, refusal) in rules.refused() {
            log::error(&format!("Sigma file {file} left out: {refusal}"));
        }
        SigmaPack { rules }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        if let Some(event) = doc.audit() {
            self.rules.evaluate(event, out);
        }
    }

    fn rules(&self) -> Vec<RuleInfo> {
        self.rules.rules().to_vec()
    }
}

export_pack!(SigmaPack);
