//! Which replicas are alive: one document in the state index mapping each
//! replica to the time its heartbeat expires. Each replica rewrites it on
//! its lease timer, conditionally (`if_seq_no`/`if_primary_term`), so
//! concurrent heartbeats never drop one another. Replicas split the
//! partitions by it: each holds at most its fair share, ceil(partitions /
//! live replicas).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::json;

use crate::es::{EsClient, EsError};

/// Conditional writes tried before a heartbeat gives up until next time.
const ATTEMPTS: usize = 8;

#[derive(Debug, Clone)]
pub struct Roster {
    client: EsClient,
    path: String,
    holder: String,
    ttl: Duration,
}

impl Roster {
    pub fn new(client: EsClient, index: &str, instance: &str, holder: &str, ttl: Duration) -> Self {
        Roster {
            client,
            path: format!("/{index}/_doc/{instance}-replicas"),
            holder: holder.to_string(),
            ttl,
        }
    }

    /// This replica is alive for another TTL: how many are alive, itself
    /// included.
    pub async fn beat(&self) -> Result<usize, EsError> {
        let expires = Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        self.change(|members| {
            members.insert(self.holder.clone(), expires);
        })
        .await
    }

    /// This replica leaves (a clean stop): the others need not wait out
    /// its heartbeat to take a larger share.
    pub async fn leave(&self) -> Result<usize, EsError> {
        self.change(|members| {
            members.remove(&self.holder);
        })
        .await
    }

    async fn change(
        &self,
        edit: impl Fn(&mut BTreeMap<String, DateTime<Utc>>),
    ) -> Result<usize, EsError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let (mut members, condition) =
                match self.client.json(Method::GET, &self.path, None).await {
                    Ok(doc) => (
                        serde_json::from_value::<BTreeMap<String, DateTime<Utc>>>(
                            doc["_source"]["members"].clone(),
                        )
                        .unwrap_or_default(),
                        format!(
                            "if_seq_no={}&if_primary_term={}",
                            doc["_seq_no"].as_u64().unwrap_or(0),
                            doc["_primary_term"].as_u64().unwrap_or(1)
                        ),
                    ),
                    Err(e) if e.status() == Some(404) => {
                        (BTreeMap::new(), "op_type=create".to_string())
                    }
                    Err(e) => return Err(e),
                };
            let now = Utc::now();
            members.retain(|_, expires| *expires > now);
            edit(&mut members);
            let body = json!({"members": members, "updated": now});
            let path = format!("{}?{condition}", self.path);
            match self.client.json(Method::PUT, &path, Some(&body)).await {
                Ok(_) => return Ok(members.len()),
                // Another replica's heartbeat came between: read again.
                Err(e) if e.status() == Some(409) => last = Some(e),
                Err(e) => return Err(e),
            }
            let jitter = Duration::from_millis(fastrand::u64(5..50));
            self.client.pause(jitter).await?;
        }
        Err(last.expect("a conflict was seen"))
    }
}

/// The partitions one replica should hold: ceil(partitions / replicas).
pub fn fair_share(partitions: usize, replicas: usize) -> usize {
    partitions.div_ceil(replicas.max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fair_share_rounds_up_so_every_partition_has_a_replica() {
        assert_eq!(super::fair_share(3, 3), 1);
        assert_eq!(super::fair_share(3, 2), 2);
        assert_eq!(super::fair_share(3, 1), 3);
        assert_eq!(super::fair_share(2, 5), 1);
        assert_eq!(super::fair_share(3, 0), 3);
    }
}
