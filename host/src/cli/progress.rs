//! A replay's progress bar.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ops::Metrics;
use crate::source::EsInput;

/// A progress bar for a replay, drawn only when stderr is a terminal. It
/// follows the documents fetched (the source paces the whole pipeline).
pub struct ReplayProgress(Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)>);

impl ReplayProgress {
    pub async fn start(
        es: &EsInput,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        metrics: &Metrics,
    ) -> Self {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return ReplayProgress(None);
        }
        let total = crate::source::elasticsearch::count_window(&es.client, &es.query, from, to)
            .await
            .unwrap_or(0);
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} replay [{bar:40}] {pos}/{len} documents ({per_sec}, {eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let ticker = bar.clone();
        let metrics = metrics.clone();
        let task = tokio::spawn(async move {
            loop {
                ticker.set_position(metrics.documents_fetched_so_far());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        ReplayProgress(Some((bar, task)))
    }

    pub fn finish(self) {
        if let Some((bar, task)) = self.0 {
            task.abort();
            bar.finish_and_clear();
        }
    }
}
