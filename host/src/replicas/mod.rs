//! Replicas through Elasticsearch: several `k8scop run` share the logs,
//! each partition (a query the configuration names) worked by one replica
//! at a time, with its own checkpoint. Elasticsearch is the only shared
//! state: a lease document per partition and a roster of live replicas in
//! the state index, changed only by conditional writes. A replica that
//! dies lets its leases expire (the TTL); another takes each partition
//! over from its checkpoint, and since alert ids are derived from the
//! rule, the group key and the triggering document, re-producing what the
//! dead replica wrote after its last checkpoint overwrites it with the
//! same documents.

pub mod fence;
pub mod fleet;
pub mod lease;
pub mod partition;
pub mod roster;

pub use fence::Fence;
pub use fleet::{Fleet, PartitionSummaries, PartitionWork};
pub use lease::{Acquired, Lease, LeaseStore, RenewError};
pub use partition::{Partition, PartitionSpec, resolve};
pub use roster::{Roster, fair_share};
