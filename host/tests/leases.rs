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
