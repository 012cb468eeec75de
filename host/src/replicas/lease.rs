//! Leases in Elasticsearch: one document per partition in the state index
//! saying which replica works it, until when. Every change is conditional
//! (`op_type=create` for a fresh lease, `if_seq_no`/`if_primary_term` for
//! a takeover, a renewal or a release), so of two replicas racing for a
//! lease exactly one wins, and a holder whose lease was taken over learns
//! it at its next renewal, which fails.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::es::{EsClient, EsError};

/// A lease this replica holds: the version it last wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub partition: String,
    pub expires_at: DateTime<Utc>,
    seq_no: u64,
    primary_term: u64,
}

/// What an attempt to acquire a lease found.
#[derive(Debug, PartialEq)]
pub enum Acquired {
    /// Ours now; `from` the holder whose lease had expired, if any.
    Got { lease: Lease, from: Option<String> },
    /// Another replica holds it, unexpired.
    Held { by: String },
    /// Another replica changed it between our read and our write.
    Raced,
}

#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// The lease is no longer ours (taken over, or deleted).
    #[error("the lease of partition {0} is no longer ours")]
    Lost(String),
    /// Elasticsearch did not answer: the lease may still be ours.
    #[error(transparent)]
    Es(#[from] EsError),
}

/// The leases of one set of replicas (one `--instance` and alert prefix).
#[derive(Debug, Clone)]
pub struct LeaseStore {
    client: EsClient,
    index: String,
    instance: String,
    holder: String,
    ttl: Duration,
}

impl LeaseStore {
    /// Leases held as `holder` for `ttl`, in `index` (the state index).
    pub fn new(client: EsClient, index: &str, instance: &str, holder: &str, ttl: Duration) -> Self {
        LeaseStore {
            client,
            index: index.to_string(),
            instance: instance.to_string(),
            holder: holder.to_string(),
            ttl,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn path(&self, partition: &str) -> String {
        format!("/{}/_doc/{}-lease-{partition}", self.index, self.instance)
    }

    fn body(&self, partition: &str, expires_at: DateTime<Utc>) -> Value {
        json!({"partition": partition, "holder": self.holder, "expires_at": expires_at, "updated": Utc::now()})
    }

    fn expiry(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX)
    }

    /// Take the lease of `partition` if nobody holds it or its holder let
    /// it expire.
    pub async fn acquire(&self, partition: &str) -> Result<Acquired, EsError> {
        let path = self.path(partition);
        let current = match self.client.json(Method::GET, &path, None).await {
            Ok(doc) => Some(doc),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        let expires_at = self.expiry();
        let (write, from) = match &current {
            None => (format!("{path}?op_type=create"), None),
            Some(doc) => {
                let holder = doc["_source"]["holder"].as_str().unwrap_or("").to_string();
                let expired = doc["_source"]["expires_at"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                    .is_none_or(|t| t <= Utc::now());
                if !expired {
                    return Ok(Acquired::Held { by: holder });
                }
                (format!("{path}?{}", version_of(doc)?), Some(holder))
            }
        };
        let body = self.body(partition, expires_at);
        match self.client.json(Method::PUT, &write, Some(&body)).await {
            Ok(answer) => Ok(Acquired::Got {
                lease: self.lease(partition, expires_at, &answer)?,
                from,
            }),
            Err(e) if e.status() == Some(409) => Ok(Acquired::Raced),
            Err(e) => Err(e),
        }
    }

    /// Extend the lease by the TTL from now; fails with `Lost` when another
    /// replica wrote it since (our version is stale).
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), RenewError> {
        let expires_at = self.expiry();
        let path = format!("{}?{}", self.path(&lease.partition), lease.version());
        let body = self.body(&lease.partition, expires_at);
        match self.client.json(Method::PUT, &path, Some(&body)).await {
            Ok(answer) => {
                *lease = self.lease(&lease.partition, expires_at, &answer)?;
                Ok(())
            }
            Err(e) if e.status() == Some(409) => Err(RenewError::Lost(lease.partition.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Give the lease up at once (a clean stop, or handing a partition to a
    /// replica with less work), so nobody waits for it to expire. A lease
    /// already taken over is left alone.
    pub async fn release(&self, lease: &Lease) -> Result<(), EsError> {
        let path = format!("{}?{}", self.path(&lease.partition), lease.version());
        match self.client.json(Method::DELETE, &path, None).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.status(), Some(404 | 409)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn lease(
        &self,
        partition: &str,
        expires_at: DateTime<Utc>,
        answer: &Value,
    ) -> Result<Lease, EsError> {
        let (seq_no, primary_term) = seq_no_and_term(answer)?;
        Ok(Lease {
            partition: partition.to_string(),
            expires_at,
            seq_no,
            primary_term,
        })
    }
}

impl Lease {
    fn version(&self) -> String {
        format!(
            "if_seq_no={}&if_primary_term={}",
            self.seq_no, self.primary_term
        )
    }
}

fn version_of(doc: &Value) -> Result<String, EsError> {
    let (seq_no, primary_term) = seq_no_and_term(doc)?;
    Ok(format!("if_seq_no={seq_no}&if_primary_term={primary_term}"))
}

/// The version a write or read answered: what the next conditional write
/// must name.
fn seq_no_and_term(answer: &Value) -> Result<(u64, u64), EsError> {
    match (answer["_seq_no"].as_u64(), answer["_primary_term"].as_u64()) {
        (Some(seq_no), Some(term)) => Ok((seq_no, term)),
        _ => Err(EsError::Decode {
            path: "lease".into(),
            reason: "no _seq_no and _primary_term in the answer: optimistic concurrency is needed for leases".into(),
        }),
    }
}
