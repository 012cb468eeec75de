//! One replica's loop: keep its heartbeat and its leases, and run one
//! pipeline per partition it holds. On a lease timer (a third of the TTL)
//! it renews every lease it holds; a renewal refused (another replica took
//! the partition over) or too late (the fence lapsed) stops that
//! partition's pipeline at once, its Elasticsearch requests cancelled and
//! its checkpoint no longer written. It then takes partitions whose lease
//! is free or expired up to its fair share, and hands back cleanly (drain,
//! then release) what is over it, so a replica that starts later gets work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::fence::Fence;
use super::lease::{Acquired, Lease, LeaseStore, RenewError};
use super::partition::Partition;
use super::roster::{Roster, fair_share};
use crate::es::Cancel;
use crate::ops::{Health, Metrics};
use crate::summary::Summary;

/// Starts the work on one partition: reading it from its checkpoint until
/// `stop` turns true (finish the window, flush) or `cancel` fires (the
/// lease is lost: stop at once, write nothing more).
pub trait PartitionWork: Send + Sync {
    fn start(
        &self,
        partition: &Partition,
        fence: Fence,
        stop: watch::Receiver<bool>,
        cancel: Cancel,
    ) -> JoinHandle<anyhow::Result<Summary>>;
}

pub struct Fleet<W> {
    pub partitions: Vec<Partition>,
    pub leases: LeaseStore,
    pub roster: Roster,
    pub work: W,
    pub metrics: Metrics,
    /// A replica holding no partition (more replicas than partitions) is
    /// alive as long as its lease loop turns.
    pub health: Health,
}

/// A partition this replica works.
struct Worker {
    lease: Lease,
    fence: Fence,
    stop: watch::Sender<bool>,
    cancel: Cancel,
    task: JoinHandle<anyhow::Result<Summary>>,
    /// Asked to stop cleanly: the lease is released once it has.
    draining: bool,
}

impl Worker {
    fn drain(&mut self) {
        self.draining = true;
        let _ = self.stop.send(true);
    }
}

/// What each partition's pipeline did while this replica held it.
pub type PartitionSummaries = Vec<(String, Summary)>;

impl<W: PartitionWork> Fleet<W> {
    /// Work partitions until `shutdown` turns true, then drain and release
    /// them. A partition's pipeline failing (not a lost lease) ends the
    /// replica with its error, after the others were drained.
    pub async fn run(
        &self,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<PartitionSummaries> {
        let tick = (self.leases.ttl() / 3).max(Duration::from_millis(50));
        let mut held: BTreeMap<String, Worker> = BTreeMap::new();
        let mut done = PartitionSummaries::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut stopping = false;
        // The first round only announces this replica: replicas starting
        // together then see one another before any takes a share.
        let mut announced = false;
        let mut live = 1;
        let mut last_turn: Option<Instant> = None;
        loop {
            // Heartbeat and leases are renewed once a tick; in between (a
            // drain at shutdown) only finished pipelines are looked at.
            let turn = last_turn.is_none_or(|t| t.elapsed() >= tick);
            if turn {
                last_turn = Some(Instant::now());
                match self.roster.beat().await {
                    Ok(n) => live = n,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not renew this replica's heartbeat")
                    }
                }
                self.metrics.leases().set_live_replicas(live);
            }
            if let Err(e) = self.keep(&mut held, &mut done, turn).await {
                failure.get_or_insert(e);
            }
            if (failure.is_some() || *shutdown.borrow()) && !stopping {
                stopping = true;
                held.values_mut().for_each(Worker::drain);
            }
            if stopping && held.is_empty() {
                break;
            }
            if !stopping && announced && turn {
                self.balance(&mut held, live).await;
            }
            announced = true;
            self.metrics.leases().set_held(held.len());
            if held.is_empty() {
                self.health.record_progress();
            }
            // Draining, a finished pipeline is released within 100 ms.
            let wait = match stopping {
                true => tick.min(Duration::from_millis(100)),
                false => tick,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed(), if !stopping => {}
            }
        }
        self.metrics.leases().set_held(0);
        if let Err(e) = self.roster.leave().await {
            tracing::warn!(error = %e, "could not leave the replicas' roster: the others wait out this replica's heartbeat");
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Release the partitions whose pipeline ended (drained, or failed:
    /// its error is returned); with `renew`, renew every other lease and
    /// stop at once the partitions whose lease is lost.
    async fn keep(
        &self,
        held: &mut BTreeMap<String, Worker>,
        done: &mut PartitionSummaries,
        renew: bool,
    ) -> anyhow::Result<()> {
        let mut failure = None;
        let names: Vec<String> = held.keys().cloned().collect();
        for name in names {
            let worker = held.get_mut(&name).expect("a held partition");
            if worker.task.is_finished() {
                let worker = held.remove(&name).expect("a held partition");
                let ended = worker.task.await;
                // Conditional: a lease taken over meanwhile is left alone.
                self.release(&worker.lease).await;
                match ended.map_err(anyhow::Error::from).and_then(|r| r) {
                    Ok(summary) if worker.draining => done.push((name, summary)),
                    Ok(summary) => {
                        tracing::warn!(partition = %name, "the partition's pipeline ended by itself");
                        done.push((name, summary));
                    }
                    // Stopped by its fence before this loop saw the lease
                    // go: a lost lease, not a failure.
                    Err(e) if !worker.fence.holds() => {
                        self.metrics.leases().lost();
                        tracing::warn!(partition = %name, error = %e, "lease lapsed: stopped reading the partition");
                    }
                    Err(e) => {
                        failure.get_or_insert(e.context(format!("partition {name}")));
                    }
                }
                continue;
            }
            if !renew {
                continue;
            }
            let sent = Instant::now();
            match self.leases.renew(&mut worker.lease).await {
                Ok(()) => worker.fence.renewed(sent, self.leases.ttl()),
                Err(RenewError::Lost(_)) => {
                    let worker = held.remove(&name).expect("a held partition");
                    self.lose(worker, "another replica holds the lease now");
                }
                Err(RenewError::Es(e)) if !worker.fence.holds() => {
                    let worker = held.remove(&name).expect("a held partition");
                    self.lose(
                        worker,
                        &format!("the lease could not be renewed in time: {e}"),
                    );
                }
                Err(RenewError::Es(e)) => {
                    tracing::warn!(partition = %name, error = %e, "could not renew the lease: trying again at the next tick");
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stop working a partition at once: its requests cancelled, nothing
    /// more written under the lease. The pipeline winds down on its own.
    fn lose(&self, worker: Worker, why: &str) {
        worker.fence.lose();
        worker.cancel.cancel();
        let _ = worker.stop.send(true);
        self.metrics.leases().lost();
        let partition = worker.lease.partition.clone();
        tracing::warn!(%partition, why, "lease lost: stopped reading the partition");
        tokio::spawn(async move {
            if let Ok(Err(e)) = worker.task.await {
                tracing::info!(%partition, error = %e, "the partition's pipeline ended after its lease was lost");
            }
        });
    }

    async fn release(&self, lease: &Lease) {
        match self.leases.release(lease).await {
            Ok(()) => {
                self.metrics.leases().released();
                tracing::info!(partition = %lease.partition, "lease released");
            }
            Err(e) => {
                tracing::warn!(partition = %lease.partition, error = %e, "could not release the lease: it expires by itself")
            }
        }
    }

    /// Hold the fair share: take free or expired partitions below it, hand
    /// one back above it (drained, then released by [`Self::keep`]).
    async fn balance(&self, held: &mut BTreeMap<String, Worker>, live: usize) {
        let share = fair_share(self.partitions.len(), live);
        let working = held.values().filter(|w| !w.draining).count();
        if working > share {
            if let Some(worker) = held.values_mut().rev().find(|w| !w.draining) {
                tracing::info!(partition = %worker.lease.partition, share, live, "over this replica's share: handing the partition back");
                worker.drain();
            }
            return;
        }
        let mut wanted = share - working;
        // Replicas start their search at different partitions, so they
        // rarely race for the same free lease.
        let offset = self
            .leases
            .holder()
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        let count = self.partitions.len();
        for i in 0..count {
            if wanted == 0 {
                break;
            }
            let partition = &self.partitions[(offset + i) % count.max(1)];
            if held.contains_key(&partition.name) {
                continue;
            }
            let sent = Instant::now();
            match self.leases.acquire(&partition.name).await {
                Ok(Acquired::Got { lease, from }) => {
                    self.metrics.leases().acquired(from.is_some());
                    match &from {
                        Some(previous) => {
                            tracing::warn!(partition = %partition.name, %previous, "took over a partition whose lease expired: resuming from its checkpoint")
                        }
                        None => tracing::info!(partition = %partition.name, "lease acquired"),
                    }
                    let fence = Fence::new(sent, self.leases.ttl());
                    let (stop, stop_rx) = watch::channel(false);
                    let cancel = Cancel::new();
                    tokio::spawn(fence.clone().watch(cancel.clone()));
                    let task = self
                        .work
                        .start(partition, fence.clone(), stop_rx, cancel.clone());
                    held.insert(
                        partition.name.clone(),
                        Worker {
                            lease,
                            fence,
                            stop,
                            cancel,
                            task,
                            draining: false,
                        },
                    );
                    wanted -= 1;
                }
                Ok(Acquired::Held { .. } | Acquired::Raced) => {}
                Err(e) => {
                    tracing::warn!(partition = %partition.name, error = %e, "could not read or take the lease");
                    break;
                }
            }
        }
    }
}
