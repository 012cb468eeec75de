//! What the filter dropped or labelled, by rule.

use super::*;

/// Counted over a run, for the summary.
#[derive(Debug, Clone, Default)]
pub struct ChatterCounts {
    pub mode: ChatterMode,
    pub by_rule: BTreeMap<String, u64>,
}

impl ChatterCounts {
    pub fn add(&mut self, reduced: &Reduced) {
        for (rule, n) in &reduced.by_rule {
            *self.by_rule.entry(rule.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.by_rule.values().sum()
    }

    /// The summary's lines: how much was dropped (or labelled) of what was
    /// decoded, and by which rule.
    /// `folded`: stages of requests counted at another stage, which are
    /// not evaluated either.
    pub fn write_summary(
        &self,
        f: &mut fmt::Formatter<'_>,
        decoded: u64,
        folded: u64,
    ) -> fmt::Result {
        let n = self.total();
        let ratio = if decoded == 0 {
            0.0
        } else {
            100.0 * n as f64 / decoded as f64
        };
        match self.mode {
            ChatterMode::Off => return Ok(()),
            ChatterMode::Drop => writeln!(
                f,
                "  chatter      {n} dropped of {decoded} decoded ({ratio:.1}% reduction), {} evaluated",
                decoded.saturating_sub(n + folded)
            )?,
            ChatterMode::Label => writeln!(
                f,
                "  chatter      {n} labelled of {decoded} decoded ({ratio:.1}%), all evaluated"
            )?,
        }
        let width = self.by_rule.keys().map(String::len).max().unwrap_or(0);
        for (rule, n) in &self.by_rule {
            writeln!(f, "    {rule:<width$}  {n}")?;
        }
        Ok(())
    }
}
