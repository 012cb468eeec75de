//! `k8scop run --partition ...`: this process as one replica of several.
//! Each partition it holds gets the pipeline a lone `run` has (its own
//! engine, rules watcher and checkpoint), reading only that partition's
//! documents; which partitions it holds, the leases decide.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{
    RunArgs, config_file, engine_with_rules, es_input, es_output, pipeline_config, schedule,
};
use crate::checkpoint::CheckpointStore;
use crate::es::{Cancel, EsClient};
use crate::notify::Notifier;
use crate::ops::{Health, Metrics, StatusBoard};
use crate::pipeline::{self, Input, Reload};
use crate::replicas::{Fence, Fleet, LeaseStore, Partition, PartitionWork, Roster};
use crate::rules_watch::RulesWatcher;
use crate::summary::Summary;

/// What every partition's pipeline shares with the process.
pub(super) struct Setup {
    pub metrics: Metrics,
    pub health: Health,
    pub status: StatusBoard,
    /// The shutdown grace's cancellation: it ends every partition's
    /// requests too.
    pub cancel: Cancel,
    pub config_file: Option<PathBuf>,
}

/// Work this replica's share of the partitions until shutdown; each
/// partition's summary, as it was while held, is printed.
pub(super) async fn follow_partitions(
    args: RunArgs,
    setup: Setup,
    client: EsClient,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let partitions = crate::replicas::resolve(&args.partitions)?;
    let holder = holder_id();
    let index = format!("k8scop-state-{}", args.common.alerts.alerts_prefix);
    let ttl = args.lease_ttl.max(Duration::from_millis(300));
    tracing::info!(%holder, partitions = partitions.len(), ttl_s = ttl.as_secs_f64(), "working as a replica");
    setup.health.set_ready(true);
    let fleet = Fleet {
        partitions,
        leases: LeaseStore::new(client.clone(), &index, &args.instance, &holder, ttl),
        roster: Roster::new(client, &index, &args.instance, &holder, ttl),
        metrics: setup.metrics.clone(),
        health: setup.health.clone(),
        work: PartitionPipelines {
            args: Arc::new(args),
            setup: Arc::new(setup),
        },
    };
    let summaries = fleet.run(shutdown).await?;
    let mut code = ExitCode::SUCCESS;
    for (partition, summary) in &summaries {
        eprintln!("partition {partition}");
        eprint!("{summary}");
        if summary.incomplete() {
            code = ExitCode::from(super::EXIT_INCOMPLETE);
        }
    }
    Ok(code)
}

/// Who holds a lease: the host (the pod's name in Kubernetes), the process,
/// and a random part, so a restarted process is never taken for its
/// predecessor.
fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

struct PartitionPipelines {
    args: Arc<RunArgs>,
    setup: Arc<Setup>,
}

impl PartitionWork for PartitionPipelines {
    fn start(
        &self,
        partition: &Partition,
        fence: Fence,
        stop: watch::Receiver<bool>,
        cancel: Cancel,
    ) -> JoinHandle<anyhow::Result<Summary>> {
        let (args, setup, partition) = (self.args.clone(), self.setup.clone(), partition.clone());
        tokio::spawn(async move {
            // The shutdown grace cancels this partition's requests as well.
            let (grace, own) = (setup.cancel.clone(), cancel.clone());
            let link = tokio::spawn(async move {
                grace.cancelled().await;
                own.cancel();
            });
            let ran = partition_pipeline(&args, &setup, &partition, fence, stop, &cancel).await;
            link.abort();
            ran
        })
    }
}

/// The pipeline of one partition: a lone `run`'s, reading only the
/// partition, checkpointing as the partition, only while the lease holds.
async fn partition_pipeline(
    args: &RunArgs,
    setup: &Setup,
    partition: &Partition,
    fence: Fence,
    stop: watch::Receiver<bool>,
    cancel: &Cancel,
) -> anyhow::Result<Summary> {
    let dirs = args.common.rules.rules.clone();
    let (_watcher, signals) = RulesWatcher::start_all(&dirs, Duration::from_millis(300))?;
    let engine = tokio::task::block_in_place(|| engine_with_rules(&args.common.rules))?;
    let pipeline_args = &args.common.pipeline;
    let mut config = pipeline_config(
        pipeline_args,
        args.common.alerts.flush_interval,
        &setup.metrics,
        &setup.health,
    )?;
    config.status = setup.status.clone();
    config.reload = Some(Reload { dirs, signals });
    let channels = config_file::read_notify(setup.config_file.as_deref())?;
    config.notifier = Notifier::start(channels, &setup.metrics)?;
    let mut es = es_input(&args.common.es, &args.common.logs, cancel).await?;
    es.query.extra_query = Some(partition.filter(es.query.extra_query.take()));
    let checkpoint = format!("{}-partition-{}", args.instance, partition.name);
    let checkpoints = CheckpointStore::new(
        es.client.clone(),
        &args.common.alerts.alerts_prefix,
        &checkpoint,
    )
    .fenced_by(fence);
    let output = es_output(&args.common.es, &args.common.alerts, cancel).await?;
    let input = Input::Stream {
        es,
        start: args.start,
        schedule: schedule(args)?,
        checkpoints,
    };
    tracing::info!(partition = %partition.name, "reading the partition");
    pipeline::run(config, input, output, engine, stop).await
}
