//! Metrics of the notification channels: what each channel delivered,
//! retried and dropped (and why). Label values are channel names from the
//! configuration file and the fixed drop reasons, so they stay bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DropLabel {
    channel: String,
    reason: String,
}

#[derive(Debug, Default)]
pub struct NotifyMetrics {
    sent: Family<ChannelLabel, Counter>,
    retries: Family<ChannelLabel, Counter>,
    dropped: Family<DropLabel, Counter>,
}

impl NotifyMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "notifications_sent",
            "Alerts a notification channel delivered (the receiver answered 2xx)",
            self.sent.clone(),
        );
        r.register(
            "notification_retries",
            "Requests to a notification channel that were retried (5xx, 429, timeouts, connection errors)",
            self.retries.clone(),
        );
        r.register(
            "notifications_dropped",
            "Alerts a notification channel did not deliver, by reason (queue_full, refused, retries_exhausted, shutdown)",
            self.dropped.clone(),
        );
    }

    /// A channel exists: its series start at zero, so rate() and absence
    /// alerts work from the first scrape.
    pub fn channel_started(&self, channel: &str, reasons: &[&str]) {
        drop(self.sent.get_or_create(&label(channel)));
        drop(self.retries.get_or_create(&label(channel)));
        for reason in reasons {
            drop(self.dropped.get_or_create(&drop_label(channel, reason)));
        }
    }

    pub fn sent(&self, channel: &str) {
        self.sent.get_or_create(&label(channel)).inc();
    }

    pub fn retried(&self, channel: &str) {
        self.retries.get_or_create(&label(channel)).inc();
    }

    pub fn dropped(&self, channel: &str, reason: &str, n: u64) {
        self.dropped
            .get_or_create(&drop_label(channel, reason))
            .inc_by(n);
    }
}

fn label(channel: &str) -> ChannelLabel {
    ChannelLabel {
        channel: channel.to_owned(),
    }
}

fn drop_label(channel: &str, reason: &str) -> DropLabel {
    DropLabel {
        channel: channel.to_owned(),
        reason: reason.to_owned(),
    }
}
