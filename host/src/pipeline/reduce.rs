//! What the decode stage keeps of each document, decided as soon as it is
//! decoded: control-plane chatter dropped or labelled (`chatter`), and each
//! request's stages folded into the one that counts (`request_once`). An
//! event dropped here is taken back off the page it was just laid out on,
//! so nothing of it travels further than the decoder.

use crate::chatter::{ChatterFate, ChatterFilter, Reduced};
use crate::decode::DocFacts;
use crate::request_once::{RequestOnce, StageCounts, Verdict};

/// What happens to one document.
pub(super) enum Fate<'a> {
    Keep,
    /// Kept, with the chatter annotation naming this rule.
    Label(&'a str),
    Drop,
}

/// The two filters over one batch, with what each took out.
pub(super) struct Reducer<'a> {
    chatter: &'a ChatterFilter,
    requests: &'a mut RequestOnce,
    reduced: Reduced,
    folded: StageCounts,
}

impl<'a> Reducer<'a> {
    pub(super) fn new(chatter: &'a ChatterFilter, requests: &'a mut RequestOnce) -> Self {
        Reducer {
            chatter,
            requests,
            reduced: Reduced::default(),
            folded: StageCounts::default(),
        }
    }

    /// Decide a document, in the log's order: chatter first (a chatter
    /// event never reaches the folding), then its request's stages.
    pub(super) fn fate(&mut self, doc: DocFacts<'_>) -> Fate<'a> {
        let label = match self.chatter.fate(doc) {
            ChatterFate::Pass => None,
            ChatterFate::Drop(rule) => {
                self.reduced.count(rule);
                return Fate::Drop;
            }
            ChatterFate::Label(rule) => {
                self.reduced.count(rule);
                Some(rule)
            }
        };
        match self.requests.verdict(doc) {
            Verdict::Count => label.map_or(Fate::Keep, Fate::Label),
            Verdict::BeforeDecision => {
                self.folded.before_decision += 1;
                Fate::Drop
            }
            Verdict::Repeated => {
                self.folded.repeated += 1;
                Fate::Drop
            }
        }
    }

    /// What the batch lost to each filter, and the requests still open;
    /// those whose later stages can no longer come are forgotten here, once
    /// per batch.
    pub(super) fn finish(self) -> (Reduced, StageCounts, usize) {
        let mut folded = self.folded;
        folded.forgotten = self.requests.forget_old();
        (self.reduced, folded, self.requests.open_count())
    }
}
