//! Leases through the test server's optimistic concurrency: acquire,
//! renew, conflict, expiry and takeover, release; two replicas never both
//! hold a partition (a renewal naming a stale version fails); the roster
//! counts live replicas; a checkpoint is not written once the fence says
//! the lease may have passed on.

use std::time::{Duration, Instant};

use chrono::Utc;
use k8scop::checkpoint::{Checkpoint, CheckpointStore};
use k8scop::es::{EsClient, EsConfig};
use k8scop::replicas::{Acquired, Fence, Lease, LeaseStore, RenewError, Roster};
use k8scop_testkit::TestCluster;

fn client(cluster: &TestCluster) -> EsClient {
    EsClient::new(&EsConfig::new(cluster.url())).unwrap()
}

fn store(cluster: &TestCluster, index: &str, holder: &str, ttl: Duration) -> LeaseStore {
    LeaseStore::new(client(cluster), index, "fleet", holder, ttl)
}

async fn got(store: &LeaseStore, partition: &str) -> Lease {
    match store.acquire(partition).await.unwrap() {
        Acquired::Got { lease, .. } => lease,
        other => panic!("{} did not get {partition}: {other:?}", store.holder()),
    }
}

/// Poll `acquire` until the lease is ours (it expires): who held it before.
async fn take_over(
    store: &LeaseStore,
    partition: &str,
    within: Duration,
) -> (Lease, Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        match store.acquire(partition).await.unwrap() {
            Acquired::Got { lease, from } => return (lease, from),
            other => assert!(Instant::now() < deadline, "never expired: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lease_is_refused_to_others_renewed_by_its_holder_and_released() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let ttl = Duration::from_secs(60);
    let (a, b) = (
        store(&cluster, &index, "a", ttl),
        store(&cluster, &index, "b", ttl),
    );

    let mut lease = match a.acquire("east").await.unwrap() {
        Acquired::Got { lease, from } => {
            assert_eq!(from, None, "nobody held it");
            lease
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        b.acquire("east").await.unwrap(),
        Acquired::Held { by: "a".into() }
    );
    let before = lease.expires_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.renew(&mut lease).await.unwrap();
    assert!(lease.expires_at > before, "renewed for another TTL");
    a.renew(&mut lease).await.unwrap();

    a.release(&lease).await.unwrap();
    let (_, from) = take_over(&b, "east", Duration::from_secs(5)).await;
    assert_eq!(from, None, "released, not expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_renew_it() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let a = store(&cluster, &index, "a", Duration::from_millis(800));
    let b = store(&cluster, &index, "b", Duration::from_secs(60));

    let mut a_lease = got(&a, "west").await;
    // `a` stops renewing (it died, or stalled): `b` takes over on expiry.
    let (mut b_lease, from) = take_over(&b, "west", Duration::from_secs(60)).await;
    assert_eq!(from.as_deref(), Some("a"));
    // `a` wakes up: its renewal names the version it wrote, now stale.
    match a.renew(&mut a_lease).await {
        Err(RenewError::Lost(partition)) => assert_eq!(partition, "west"),
        other => panic!("a stale renewal went through: {other:?}"),
    }
    // Its release is stale too, and leaves `b`'s lease alone.
    a.release(&a_lease).await.unwrap();
    b.renew(&mut b_lease).await.unwrap();
    assert_eq!(
        a.acquire("west").await.unwrap(),
        Acquired::Held { by: "b".into() }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewal_with_an_old_version_fails_even_from_the_holder_itself() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let a = store(&cluster, &index, "a", Duration::from_secs(60));
    let mut lease = got(&a, "north").await;
    let stale = lease.clone();
    a.renew(&mut lease).await.unwrap();
    let mut stale = stale;
    assert!(matches!(
        a.renew(&mut stale).await,
        Err(RenewError::Lost(_))
    ));
    a.renew(&mut lease).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn of_replicas_racing_for_a_lease_exactly_one_gets_it() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let ttl = Duration::from_millis(600);
    let stores: Vec<LeaseStore> = (0..3)
        .map(|i| store(&cluster, &index, &format!("r{i}"), ttl))
        .collect();
    for round in 0..10 {
        let partition = format!("p{}", round % 2);
        // Fresh leases (create), then expired ones (conditional takeover).
        if round >= 2 {
            tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        }
        let (x, y, z) = tokio::join!(
            stores[0].acquire(&partition),
            stores[1].acquire(&partition),
            stores[2].acquire(&partition)
        );
        let answers = [x, y, z];
        let winners = answers
            .iter()
            .filter(|a| matches!(a, Ok(Acquired::Got { .. })))
            .count();
        assert_eq!(winners, 1, "round {round}: {answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_roster_counts_live_replicas_and_forgets_the_silent_ones() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let long = Duration::from_secs(60);
    let a = Roster::new(client(&cluster), &index, "fleet", "a", long);
    let b = Roster::new(client(&cluster), &index, "fleet", "b", long);
    let short = Roster::new(
        client(&cluster),
        &index,
        "fleet",
        "c",
        Duration::from_millis(500),
    );
    let beats = tokio::join!(a.beat(), b.beat(), short.beat());
    assert!(
        beats.0.is_ok() && beats.1.is_ok() && beats.2.is_ok(),
        "{beats:?}"
    );
    assert_eq!(
        a.beat().await.unwrap(),
        3,
        "concurrent heartbeats all count"
    );
    assert_eq!(b.leave().await.unwrap(), 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.beat().await.unwrap() != 1 {
        assert!(
            Instant::now() < deadline,
            "the silent replica never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_is_not_written_once_the_fence_no_longer_holds() {
    let cluster = TestCluster::start();
    let prefix = cluster.unique_prefix("alerts");
    let ttl = Duration::from_secs(60);
    let fence = Fence::new(Instant::now(), ttl);
    let store = CheckpointStore::new(client(&cluster), &prefix, "fleet-partition-east")
        .fenced_by(fence.clone());
    store.prepare().await.unwrap();
    let checkpoint = |seconds| Checkpoint {
        cursor: Utc::now() - chrono::Duration::seconds(seconds),
        seen: Vec::new(),
        aggregates: Vec::new(),
        requests: Vec::new(),
    };
    let first = checkpoint(60);
    store.save(&first).await.unwrap();
    fence.lose();
    let error = store.save(&checkpoint(0)).await.unwrap_err();
    assert!(error.to_string().contains("lease"), "{error}");
    assert_eq!(
        store.load().await.unwrap(),
        Some(first),
        "the fenced save left it"
    );
}

/// Stands in for the pipelines: records when each replica worked which
/// partition, until told to stop or cancelled.
#[derive(Clone, Default)]
struct Recorder {
    spans: std::sync::Arc<std::sync::Mutex<Vec<Span>>>,
    name: String,
}

#[derive(Debug, Clone)]
struct Span {
    replica: String,
    partition: String,
    from: Instant,
    to: Option<Instant>,
}

impl k8scop::replicas::PartitionWork for Recorder {
    fn start(
        &self,
        partition: &k8scop::replicas::Partition,
        _fence: Fence,
        mut stop: tokio::sync::watch::Receiver<bool>,
        cancel: k8scop::es::Cancel,
    ) -> tokio::task::JoinHandle<anyhow::Result<k8scop::summary::Summary>> {
        let spans = self.spans.clone();
        let at = {
            let mut spans = spans.lock().unwrap();
            spans.push(Span {
                replica: self.name.clone(),
                partition: partition.name.clone(),
                from: Instant::now(),
                to: None,
            });
            spans.len() - 1
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = cancel.cancelled() => {}
            }
            spans.lock().unwrap()[at].to = Some(Instant::now());
            Ok(k8scop::summary::Summary::default())
        })
    }
}

fn fleet(
    cluster: &TestCluster,
    index: &str,
    name: &str,
    spans: &Recorder,
) -> k8scop::replicas::Fleet<Recorder> {
    let ttl = Duration::from_millis(900);
    let partitions =
        ["p0=c:a", "p1=c:b", "p2=*"].map(|p| p.parse::<k8scop::replicas::PartitionSpec>().unwrap());
    k8scop::replicas::Fleet {
        partitions: k8scop::replicas::resolve(&partitions).unwrap(),
        leases: LeaseStore::new(client(cluster), index, "fleet", name, ttl),
        roster: Roster::new(client(cluster), index, "fleet", name, ttl),
        work: Recorder {
            spans: spans.spans.clone(),
            name: name.to_string(),
        },
        metrics: k8scop::ops::Metrics::new(),
        health: k8scop::ops::Health::new(),
    }
}

/// Two replicas split three partitions; one dies (its loop stops, its
/// pipelines keep going until its fence cancels them); the other takes
/// everything over. At no moment do two replicas work one partition.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_split_the_partitions_and_never_work_one_at_the_same_time() {
    let cluster = TestCluster::start();
    let index = cluster.unique_prefix("state");
    let spans = Recorder::default();
    let (stop_a, shutdown_a) = tokio::sync::watch::channel(false);
    let (stop_b, shutdown_b) = tokio::sync::watch::channel(false);
    let a = fleet(&cluster, &index, "a", &spans);
    let b = fleet(&cluster, &index, "b", &spans);
    let a_run = tokio::spawn(async move { a.run(shutdown_a).await });
    let b_run = tokio::spawn(async move { b.run(shutdown_b).await });
    let working = |replica: &str| {
        spans
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.replica == replica && s.to.is_none())
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(working("a") + working("b") == 3 && working("a") >= 1 && working("b") >= 1) {
        assert!(
            Instant::now() < deadline,
            "never split: {:?}",
            spans.spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // `a` dies: its loop is gone, nothing renews or releases its leases.
    a_run.abort();
    let deadline = Instant::now() + Duration::from_secs(60);
    while working("b") != 3 || working("a") != 0 {
        assert!(
            Instant::now() < deadline,
            "never taken over: {:?}",
            spans.spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_b.send(true).unwrap();
    b_run.await.unwrap().unwrap();
    drop(stop_a);

    let spans = spans.spans.lock().unwrap().clone();
    assert!(spans.iter().all(|s| s.to.is_some()), "{spans:?}");
    for x in &spans {
        for y in &spans {
            let overlap = x.partition == y.partition
                && x.replica != y.replica
                && x.from < y.to.unwrap()
                && y.from < x.to.unwrap();
            assert!(!overlap, "{x:?} and {y:?} worked one partition at once");
        }
    }
    assert!(spans.iter().any(|s| s.replica == "a"));
}
