//! The streaming checkpoint, kept in Elasticsearch (the sidecar keeps no
//! state on its own disk): the cursor up to which every document was
//! evaluated and every alert durably indexed, the documents already seen in
//! the overlap that is re-read, and the open aggregates. A restart resumes
//! from it and ends with the alert index an uninterrupted run would have.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aggregate::Aggregate;
use crate::es::{EsClient, EsError};
use crate::replicas::Fence;
use crate::request_once::OpenRequest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Everything before this time has been evaluated.
    pub cursor: DateTime<Utc>,
    /// Documents at or after `cursor - overlap` already evaluated: the next
    /// read re-reads that overlap to catch late documents, and skips these.
    pub seen: Vec<SeenDoc>,
    pub aggregates: Vec<Aggregate>,
    /// Requests counted whose later stages may still come (an open exec
    /// session): those stages are not counted again after a restart.
    #[serde(default)]
    pub requests: Vec<OpenRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenDoc {
    /// `index/id`.
    pub key: String,
    pub time: DateTime<Utc>,
}

/// Where checkpoints live: one document per sidecar instance (or, with
/// replicas, per partition) in a small index outside the alert pattern (so
/// the alert template does not apply).
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    client: EsClient,
    index: String,
    instance: String,
    /// With replicas: the partition's lease, which must surely still be
    /// this replica's for a checkpoint to be written.
    fence: Option<Fence>,
}

/// A checkpoint not written: the partition's lease may have passed to
/// another replica, whose checkpoint this one must not overwrite.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint {0} not written: this replica's lease on it may have lapsed")]
pub struct Fenced(pub String);

impl CheckpointStore {
    pub fn new(client: EsClient, alerts_prefix: &str, instance: &str) -> Self {
        CheckpointStore {
            client,
            index: format!("k8scop-state-{alerts_prefix}"),
            instance: instance.to_string(),
            fence: None,
        }
    }

    /// Checkpoints written only while `fence` holds.
    pub fn fenced_by(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    pub fn index(&self) -> &str {
        &self.index
    }

    /// Create the state index if needed. Only the cursor is searchable; the
    /// rest is stored, not indexed, so it never grows the mapping.
    pub async fn prepare(&self) -> Result<(), EsError> {
        let body = json!({"settings": {"index": {"number_of_shards": 1}},
            "mappings": {"dynamic": false, "properties": {"cursor": {"type": "date"}, "updated": {"type": "date"}}}});
        match self
            .client
            .json(Method::PUT, &format!("/{}", self.index), Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(EsError::Status { error_type, .. })
                if error_type == "resource_already_exists_exception" =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub async fn load(&self) -> Result<Option<Checkpoint>, EsError> {
        let path = format!("/{}/_doc/{}", self.index, self.instance);
        match self.client.json(Method::GET, &path, None).await {
            Ok(doc) => {
                let source = doc.get("_source").cloned().unwrap_or_default();
                let checkpoint = serde_json::from_value(source).map_err(|e| EsError::Decode {
                    path,
                    reason: format!("the checkpoint does not parse: {e}"),
                })?;
                Ok(Some(checkpoint))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn save(&self, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        if self.fence.as_ref().is_some_and(|f| !f.holds()) {
            return Err(Fenced(self.instance.clone()).into());
        }
        let mut body = serde_json::to_value(checkpoint).expect("a checkpoint serializes");
        body["updated"] = json!(Utc::now());
        let path = format!("/{}/_doc/{}", self.index, self.instance);
        self.client.json(Method::PUT, &path, Some(&body)).await?;
        Ok(())
    }
}
