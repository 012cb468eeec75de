//! Metrics of the replicas' leases: how many partitions this replica
//! works, and how leases came and went (a takeover means a replica died or
//! stalled; a loss means this one did).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HowLabel {
    how: &'static str,
}

#[derive(Debug, Default)]
pub struct LeaseMetrics {
    held: Gauge,
    live_replicas: Gauge,
    acquired: Family<HowLabel, Counter>,
    lost: Counter,
    released: Counter,
}

impl LeaseMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        for how in ["fresh", "takeover"] {
            drop(self.acquired.get_or_create(&HowLabel { how }));
        }
        r.register(
            "leases_held",
            "Partitions whose lease this replica holds (and which it reads)",
            self.held.clone(),
        );
        r.register(
            "live_replicas",
            "Replicas with an unexpired heartbeat, this one included",
            self.live_replicas.clone(),
        );
        r.register(
            "leases_acquired",
            "Leases this replica acquired: fresh (nobody held it) or takeover (its holder let it expire)",
            self.acquired.clone(),
        );
        r.register(
            "leases_lost",
            "Leases this replica lost (a renewal failed or came too late): it stopped reading the partition at once",
            self.lost.clone(),
        );
        r.register(
            "leases_released",
            "Leases this replica gave up cleanly (stopping, or handing work to a newer replica)",
            self.released.clone(),
        );
    }

    pub fn set_held(&self, n: usize) {
        self.held.set(n as i64);
    }

    pub fn set_live_replicas(&self, n: usize) {
        self.live_replicas.set(n as i64);
    }

    pub fn acquired(&self, takeover: bool) {
        let how = if takeover { "takeover" } else { "fresh" };
        self.acquired.get_or_create(&HowLabel { how }).inc();
    }

    pub fn lost(&self) {
        self.lost.inc();
    }

    pub fn released(&self) {
        self.released.inc();
    }
}
