//! Which server we talk to, learnt once at start from `GET /`, and the
//! point-in-time dialect that goes with it: Elasticsearch's `_pit`
//! (answering `id`) or OpenSearch's `_search/point_in_time` (`pit_id`).

use reqwest::Method;
use serde_json::{Value, json};

use super::{EsClient, EsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Elasticsearch { major: u32, minor: u32 },
    OpenSearch { major: u32 },
}

#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub flavor: Flavor,
    pub version: String,
    pub cluster_name: String,
}

impl ServerInfo {
    /// Ask the server who it is; refuse versions without point in time.
    pub async fn detect(client: &EsClient) -> Result<Self, EsError> {
        let root = client.json(Method::GET, "/", None).await?;
        let info = Self::from_root(&root)?;
        tracing::info!(
            url = client.base_url(),
            flavor = ?info.flavor,
            version = info.version,
            cluster = info.cluster_name,
            "connected"
        );
        Ok(info)
    }

    pub fn from_root(root: &Value) -> Result<Self, EsError> {
        let bad = |reason: String| EsError::Decode {
            path: "/".into(),
            reason,
        };
        let version = root
            .pointer("/version/number")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no version.number: is this Elasticsearch or OpenSearch?".into()))?;
        let mut parts = version
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let opensearch = root
            .pointer("/version/distribution")
            .and_then(Value::as_str)
            == Some("opensearch");
        let flavor = if opensearch {
            if major < 2 || (major == 2 && minor < 4) {
                return Err(bad(format!(
                    "OpenSearch {version} has no point-in-time search; k8scop needs OpenSearch 2.4 or later"
                )));
            }
            Flavor::OpenSearch { major }
        } else {
            if major < 7 || (major == 7 && minor < 10) {
                return Err(bad(format!(
                    "Elasticsearch {version} has no point-in-time search; k8scop needs 7.10 or later"
                )));
            }
            Flavor::Elasticsearch { major, minor }
        };
        Ok(ServerInfo {
            flavor,
            version: version.to_string(),
            cluster_name: root
                .get("cluster_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

impl Flavor {
    /// Path to open a point in time over `target`.
    pub fn open_pit_path(self, target: &str, keep_alive: &str) -> String {
        match self {
            Flavor::Elasticsearch { .. } => format!("/{target}/_pit?keep_alive={keep_alive}"),
            Flavor::OpenSearch { .. } => {
                format!("/{target}/_search/point_in_time?keep_alive={keep_alive}")
            }
        }
    }

    /// The id in the answer to opening a point in time.
    pub fn pit_id_of_open(self, answer: &Value) -> Option<String> {
        let key = match self {
            Flavor::Elasticsearch { .. } => "id",
            Flavor::OpenSearch { .. } => "pit_id",
        };
        answer.get(key).and_then(Value::as_str).map(String::from)
    }

    /// Path and body to close a point in time.
    pub fn close_pit(self, id: &str) -> (&'static str, Value) {
        match self {
            Flavor::Elasticsearch { .. } => ("/_pit", json!({ "id": id })),
            Flavor::OpenSearch { .. } => ("/_search/point_in_time", json!({ "pit_id": [id] })),
        }
    }

    /// `_shard_doc`, the cheap unique tiebreak of a point-in-time sort, came
    /// with Elasticsearch 7.12; before it the server adds its own.
    pub fn has_shard_doc_sort(self) -> bool {
        match self {
            Flavor::Elasticsearch { major, minor } => major > 7 || (major == 7 && minor >= 12),
            Flavor::OpenSearch { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_from_root_documents() {
        let es8 = json!({"name":"n","cluster_name":"prod","version":{"number":"8.15.1","build_flavor":"default"},"tagline":"You Know, for Search"});
        let info = ServerInfo::from_root(&es8).unwrap();
        assert_eq!(
            info.flavor,
            Flavor::Elasticsearch {
                major: 8,
                minor: 15
            }
        );
        assert_eq!(info.cluster_name, "prod");
        let os = json!({"version":{"distribution":"opensearch","number":"2.11.0"}});
        assert_eq!(
            ServerInfo::from_root(&os).unwrap().flavor,
            Flavor::OpenSearch { major: 2 }
        );
        let old = json!({"version":{"number":"7.9.3"}});
        assert!(
            ServerInfo::from_root(&old)
                .unwrap_err()
                .to_string()
                .contains("7.10 or later")
        );
        let old_os = json!({"version":{"distribution":"opensearch","number":"1.3.0"}});
        assert!(ServerInfo::from_root(&old_os).is_err());
        assert!(ServerInfo::from_root(&json!({"hello":"world"})).is_err());
    }

    #[test]
    fn pit_dialects() {
        let es = Flavor::Elasticsearch { major: 8, minor: 0 };
        let os = Flavor::OpenSearch { major: 2 };
        assert_eq!(
            es.open_pit_path("logs-*", "2m"),
            "/logs-*/_pit?keep_alive=2m"
        );
        assert_eq!(
            os.open_pit_path("logs-*", "2m"),
            "/logs-*/_search/point_in_time?keep_alive=2m"
        );
        assert_eq!(
            es.pit_id_of_open(&json!({"id":"abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            os.pit_id_of_open(&json!({"pit_id":"xyz"})).as_deref(),
            Some("xyz")
        );
        assert_eq!(es.close_pit("abc"), ("/_pit", json!({"id":"abc"})));
        assert_eq!(
            os.close_pit("xyz"),
            ("/_search/point_in_time", json!({"pit_id":["xyz"]}))
        );
        assert!(
            !Flavor::Elasticsearch {
                major: 7,
                minor: 11
            }
            .has_shard_doc_sort()
        );
    }
}
