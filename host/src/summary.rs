//! What a run did, printed at the end in the spirit of K8sCop's one-line
//! reports: each stage reports what it counted, and the summary is made of
//! those reports, so nothing fetched goes unaccounted.

use std::collections::BTreeMap;
use std::fmt;

/// How many malformed lines are listed by number in the summary.
const LISTED_FAILURES: usize = 20;

/// A run's summary: each stage's report, as the stage made it.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub read: ReadReport,
    pub decoded: DecodeReport,
    pub evaluated: EvaluateReport,
    pub sunk: SinkReport,
    /// How many cores the run kept busy (CPU time over wall time).
    pub cores: Option<crate::cores::CoresUsed>,
}

/// What the source read.
#[derive(Debug, Default, Clone)]
pub struct ReadReport {
    pub lines_read: u64,
    /// Documents read from Elasticsearch.
    pub fetched: u64,
}

/// What the decode stage made of it: documents (a batch counts once),
/// and the events unpacked from batches on their own.
#[derive(Debug, Default, Clone)]
pub struct DecodeReport {
    /// Documents decoded (read = decoded + failed): an audit document (a
    /// batch of events counts once, by its shape) or another document.
    pub decoded_audit: u64,
    pub decoded_other: u64,
    /// Audit documents by the shape they were found in.
    pub audit_by_shape: BTreeMap<crate::decode::Shape, u64>,
    /// Events decoded, a batch's each (what chatter is counted against).
    pub events_decoded: u64,
    /// Documents holding many events (EventList, CloudWatch envelope, AKS
    /// records), and the events decoded from them by shape.
    pub batch_documents: u64,
    pub unpacked_by_shape: BTreeMap<crate::decode::Shape, u64>,
    /// Documents that did not decode, or whose event has fields of the
    /// wrong types (given to no pack); and a batch's items that did not.
    pub failures: Failures,
    /// Control-plane chatter dropped or labelled, when the filter is on.
    pub chatter: Option<crate::chatter::ChatterCounts>,
    /// Audit events whose first time did not parse, dated by a later one.
    pub time_fallbacks: u64,
    /// Audit events folded into the stage their request counted at.
    pub stages: crate::request_once::StageCounts,
}

/// What the packs raised, and what they could not evaluate.
#[derive(Debug, Default, Clone)]
pub struct EvaluateReport {
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Documents a pack could not evaluate, by pack.
    pub unevaluated_by_pack: BTreeMap<String, u64>,
    pub rejected_alerts: u64,
}

/// What the sink aggregated, wrote and notified.
#[derive(Debug, Default, Clone)]
pub struct SinkReport {
    /// Alerts that started an aggregate, and alerts merged into one.
    pub alerts_added: u64,
    pub alerts_updated: u64,
    /// Alert documents written (aggregates; rewritten ones each time).
    pub alerts_written: u64,
    /// Alert documents refused by Elasticsearch, in the dead-letter file.
    pub dead_lettered: u64,
    /// What each notification channel sent and dropped.
    pub notifications: crate::notify::NotifyReport,
}

/// Documents that did not decode: counted, and the first ones named.
#[derive(Debug, Default, Clone)]
pub struct Failures {
    pub count: u64,
    /// Line numbers (and reasons) of the first malformed lines.
    pub lines: Vec<(u64, String)>,
    /// Ids (and reasons) of the first malformed documents from Elasticsearch.
    pub docs: Vec<(String, String)>,
    /// Items of batch documents that did not decode, and the first ones.
    pub items: u64,
    pub item_lines: Vec<String>,
}

impl Failures {
    /// Count a malformed line; the first ones are also logged and listed.
    pub fn record_line(&mut self, line: u64, reason: String) {
        self.count += 1;
        if self.lines.len() < LISTED_FAILURES {
            tracing::warn!(line, %reason, "malformed document skipped");
            self.lines.push((line, reason));
        }
    }

    /// Count a document from Elasticsearch that does not decode.
    pub fn record_doc(&mut self, key: &str, reason: String) {
        self.count += 1;
        if self.docs.len() < LISTED_FAILURES {
            tracing::warn!(document = key, %reason, "malformed document skipped");
            self.docs.push((key.to_string(), reason));
        }
    }

    /// Count an item of a batch document that does not decode (`at`: where
    /// the document is, `line 3` or `document i/id`); the document itself
    /// counts as decoded.
    pub fn record_item(&mut self, at: String, reason: String) {
        self.items += 1;
        if self.item_lines.len() < LISTED_FAILURES {
            tracing::warn!(%at, %reason, "malformed batch item skipped");
            self.item_lines.push(format!("{at}: {reason}"));
        }
    }
}

impl Summary {
    /// The summary of a run, from its stages' reports.
    pub fn of(
        read: ReadReport,
        decoded: DecodeReport,
        evaluated: EvaluateReport,
        sunk: SinkReport,
    ) -> Self {
        Summary {
            read,
            decoded,
            evaluated,
            sunk,
            cores: None,
        }
    }

    pub fn documents_decoded(&self) -> u64 {
        self.decoded.decoded_audit + self.decoded.decoded_other
    }

    pub fn alerts(&self) -> u64 {
        self.evaluated.alerts_by_rule.values().sum()
    }

    /// True when some pack failed to evaluate some documents: the result is
    /// incomplete and the exit status says so.
    pub fn incomplete(&self) -> bool {
        !self.evaluated.unevaluated_by_pack.is_empty() || self.evaluated.rejected_alerts > 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "k8scop summary")?;
        if self.read.fetched > 0 || self.read.lines_read == 0 {
            writeln!(f, "  fetched      {}", self.read.fetched)?;
        } else {
            writeln!(f, "  lines read   {}", self.read.lines_read)?;
        }
        // Shapes are named when there is more than the root.
        let shapes = match self
            .decoded
            .audit_by_shape
            .keys()
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] | [crate::decode::Shape::Root] => String::new(),
            _ => {
                let each: Vec<String> = self
                    .decoded
                    .audit_by_shape
                    .iter()
                    .map(|(shape, n)| format!("{shape} {n}"))
                    .collect();
                format!(": {}", each.join(", "))
            }
        };
        writeln!(
            f,
            "  decoded      {} (audit documents {}{shapes}; other documents {})",
            self.documents_decoded(),
            self.decoded.decoded_audit,
            self.decoded.decoded_other
        )?;
        write!(f, "  failed       {}", self.decoded.failures.count)?;
        if !self.decoded.failures.lines.is_empty() {
            let lines: Vec<String> = self
                .decoded
                .failures
                .lines
                .iter()
                .map(|(n, _)| n.to_string())
                .collect();
            let more = if self.decoded.failures.count as usize > self.decoded.failures.lines.len() {
                ", ..."
            } else {
                ""
            };
            write!(f, " (lines {}{more})", lines.join(", "))?;
        }
        writeln!(f)?;
        for (line, reason) in &self.decoded.failures.lines {
            writeln!(f, "    line {line}: {reason}")?;
        }
        for (doc, reason) in &self.decoded.failures.docs {
            writeln!(f, "    document {doc}: {reason}")?;
        }
        if self.decoded.batch_documents > 0 || self.decoded.failures.items > 0 {
            let each: Vec<String> = self
                .decoded
                .unpacked_by_shape
                .iter()
                .map(|(shape, n)| format!("{shape} {n}"))
                .collect();
            write!(
                f,
                "  unpacked     {} events from {} batch documents ({})",
                self.decoded.unpacked_by_shape.values().sum::<u64>(),
                self.decoded.batch_documents,
                each.join(", ")
            )?;
            match self.decoded.failures.items {
                0 => writeln!(f)?,
                n => writeln!(f, "; {n} items failed")?,
            }
            for failure in &self.decoded.failures.item_lines {
                writeln!(f, "    {failure}")?;
            }
        }
        if self.decoded.time_fallbacks > 0 {
            writeln!(
                f,
                "  times        {} events dated by their next time (their stage time did not parse)",
                self.decoded.time_fallbacks
            )?;
        }
        if self.decoded.stages.folded() > 0 {
            writeln!(
                f,
                "  stages       {} folded: each request counts once, when decided ({} before the decision, {} later stages)",
                self.decoded.stages.folded(),
                self.decoded.stages.before_decision,
                self.decoded.stages.repeated
            )?;
        }
        if let Some(chatter) = &self.decoded.chatter {
            chatter.write_summary(f, self.decoded.events_decoded, self.decoded.stages.folded())?;
        }
        writeln!(
            f,
            "  alerts       {} raised: {} added, {} merged into them (D window)",
            self.alerts(),
            self.sunk.alerts_added,
            self.sunk.alerts_updated
        )?;
        let width = self
            .evaluated
            .alerts_by_rule
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0);
        for (rule, n) in &self.evaluated.alerts_by_rule {
            writeln!(f, "    {rule:<width$}  {n}")?;
        }
        for (pack, n) in &self.evaluated.unevaluated_by_pack {
            writeln!(
                f,
                "  NOT EVALUATED by pack {pack}: {n} documents (see the errors above)"
            )?;
        }
        if self.sunk.dead_lettered > 0 {
            writeln!(
                f,
                "  DEAD-LETTERED {} alert documents refused by Elasticsearch (see the dead-letter file)",
                self.sunk.dead_lettered
            )?;
        }
        if self.evaluated.rejected_alerts > 0 {
            writeln!(
                f,
                "  rejected alerts {} (invalid rule id or event index; see the warnings above)",
                self.evaluated.rejected_alerts
            )?;
        }
        write!(f, "{}", self.sunk.notifications)?;
        if let Some(cores) = &self.cores {
            writeln!(f, "  cores used   {cores}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Shape;

    #[test]
    fn decoded_audit_documents_are_counted_per_shape() {
        let mut summary = Summary::default();
        let decoded = &mut summary.decoded;
        decoded.decoded_audit = 23;
        decoded.decoded_other = 3;
        decoded.audit_by_shape.insert(Shape::Root, 23);
        assert!(
            summary
                .to_string()
                .contains("  decoded      26 (audit documents 23; other documents 3)\n"),
            "{summary}"
        );
        let decoded = &mut summary.decoded;
        decoded.decoded_audit = 29;
        decoded.audit_by_shape.insert(Shape::Root, 21);
        decoded.audit_by_shape.insert(Shape::Aks, 1);
        decoded.audit_by_shape.insert(Shape::EventList, 2);
        decoded.audit_by_shape.insert(Shape::Gke, 5);
        assert!(
            summary.to_string().contains(
                "  decoded      32 (audit documents 29: root 21, event-list 2, gke 5, aks 1; other documents 3)\n"
            ),
            "{summary}"
        );
    }
}
