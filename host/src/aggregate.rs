//! Aggregation: the same alert repeating within D seconds is one alert with
//! a count, as K8sCop did it. An alert merges into the open aggregate of the
//! same rule and group key when its time is within D of that aggregate's
//! span; otherwise it starts a new aggregate.
//!
//! An aggregate keeps the id of its first alert (derived from the rule, the
//! group key and the first triggering document), so rewriting it as it grows
//! overwrites one document. Its `@timestamp` is its first_seen, so it stays
//! in the daily index it was first written to.
//!
//! The state is plain data (`Aggregate`, serde) so a checkpoint can carry the
//! open aggregates and a restart resumes them exactly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::{AlertDoc, PendingAlert};
use crate::decode::DocRef;

#[derive(Debug, Clone)]
pub struct AggregateConfig {
    /// D: how far apart two alerts may be and still be the same alert.
    pub window: chrono::Duration,
    /// How many source references an aggregate lists (the count stays exact).
    pub max_sources: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        AggregateConfig {
            window: chrono::Duration::seconds(600),
            max_sources: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub id: String,
    pub rule_id: String,
    pub group_key: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: u64,
    pub sources: Vec<DocRef>,
    /// The latest alert (its fields and message make the document).
    pub latest: PendingAlert,
}

/// Whether an alert started an aggregate or grew one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    Added,
    Updated,
}

/// Cluster, rule, group key: the same group in two clusters of a fleet is
/// two aggregates.
type Key = (String, String, String);

fn key_of(alert: &PendingAlert) -> Key {
    (
        alert.cluster().to_string(),
        alert.rule_id().to_string(),
        alert.group_key().to_string(),
    )
}

#[derive(Debug, Default)]
pub struct Aggregator {
    config: AggregateConfig,
    open: HashMap<Key, Aggregate>,
    /// Open aggregates changed since the last `take_dirty`.
    dirty: HashSet<Key>,
    /// Aggregates replaced by a newer one for the same key (beyond D), with
    /// whether their last change was not yet taken by `take_dirty`.
    closed: Vec<(Aggregate, bool)>,
    /// The latest alert time seen: with input in time order, nothing older
    /// than this minus D can still grow an aggregate.
    latest: Option<DateTime<Utc>>,
    /// Open keys by a time at or before their aggregate's last alert, the
    /// earliest first: closing looks only at what may have expired, not at
    /// every open aggregate (a scan per flush grows with the window).
    /// Entries are checked lazily: one whose aggregate grew is put back
    /// with the new time, one whose aggregate is gone is dropped.
    expiry: BinaryHeap<Reverse<(DateTime<Utc>, Key)>>,
    /// Aggregates (expiry entries) closing looked at: its work, which must
    /// follow what closes, not what is open (checked by the tests).
    examined: u64,
}

impl Aggregator {
    pub fn new(config: AggregateConfig) -> Self {
        Aggregator {
            config,
            ..Default::default()
        }
    }

    /// Resume from the open aggregates of a checkpoint.
    pub fn from_state(config: AggregateConfig, open: Vec<Aggregate>) -> Self {
        let mut a = Aggregator::new(config);
        for agg in open {
            let key = key_of(&agg.latest);
            a.expiry.push(Reverse((agg.last_seen, key.clone())));
            a.open.insert(key, agg);
        }
        a
    }

    /// Merge one raised alert triggered by the document `source`.
    pub fn add(&mut self, alert: PendingAlert, source: DocRef) -> Merge {
        let time = alert.time();
        let key = key_of(&alert);
        let window = self.config.window;
        self.latest = Some(self.latest.map_or(time, |l| l.max(time)));
        if let Some(agg) = self.open.get_mut(&key)
            && time <= agg.last_seen + window
            && time >= agg.first_seen - window
        {
            agg.count += 1;
            if agg.sources.len() < self.config.max_sources {
                agg.sources.push(source);
            }
            agg.first_seen = agg.first_seen.min(time);
            if time >= agg.last_seen {
                agg.last_seen = time;
                agg.latest = alert;
            }
            self.dirty.insert(key);
            return Merge::Updated;
        }
        let fresh = Aggregate {
            id: alert.id(&source),
            rule_id: key.1.clone(),
            group_key: key.2.clone(),
            first_seen: time,
            last_seen: time,
            count: 1,
            sources: vec![source],
            latest: alert,
        };
        match self.open.insert(key.clone(), fresh) {
            Some(old) => {
                // The key's expiry entry is at or before the old aggregate's
                // last alert; it still serves unless this alert is older.
                if time < old.last_seen {
                    self.expiry.push(Reverse((time, key.clone())));
                }
                let dirty = self.dirty.contains(&key);
                self.closed.push((old, dirty));
            }
            None => self.expiry.push(Reverse((time, key.clone()))),
        }
        self.dirty.insert(key);
        Merge::Added
    }

    /// The aggregates changed since the last call, as documents to (re)write.
    pub fn take_dirty(&mut self) -> Vec<AlertDoc> {
        let mut out: Vec<AlertDoc> = self
            .closed
            .drain(..)
            .filter(|(_, dirty)| *dirty)
            .map(|(a, _)| render(&a))
            .collect();
        let mut keys: Vec<Key> = self.dirty.drain().collect();
        keys.sort();
        out.extend(keys.iter().filter_map(|k| self.open.get(k)).map(render));
        out
    }

    /// Forget aggregates that can no longer grow: nothing at or after
    /// `watermark` can fall within D of their last alert. Returns them, as
    /// final documents. Call after `take_dirty` has been written, or use the
    /// returned documents.
    pub fn close_before(&mut self, watermark: DateTime<Utc>) -> Vec<AlertDoc> {
        let window = self.config.window;
        let mut closed: Vec<Aggregate> = Vec::new();
        while let Some(Reverse((time, _))) = self.expiry.peek() {
            if *time + window >= watermark {
                break;
            }
            let Some(Reverse((_, key))) = self.expiry.pop() else {
                break;
            };
            self.examined += 1;
            match self.open.get(&key) {
                // Closed some other way (close_all) or checked already.
                None => {}
                Some(agg) if agg.last_seen + window >= watermark => {
                    self.expiry.push(Reverse((agg.last_seen, key)));
                }
                Some(_) => {
                    self.dirty.remove(&key);
                    closed.extend(self.open.remove(&key));
                }
            }
        }
        closed.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        closed.iter().map(render).collect()
    }

    /// Aggregates that can no longer grow because a newer one replaced them,
    /// as final documents (for outputs that write each alert once).
    pub fn take_closed(&mut self) -> Vec<AlertDoc> {
        self.closed.drain(..).map(|(a, _)| render(&a)).collect()
    }

    /// Forget the aggregates the latest alert is already more than D past
    /// (input in time order), keeping memory bounded over a long replay.
    /// Call right after writing `take_dirty`.
    pub fn close_idle(&mut self) -> Vec<AlertDoc> {
        match self.latest {
            Some(latest) => self.close_before(latest),
            None => Vec::new(),
        }
    }

    /// Every aggregate not yet taken, as final documents (end of a replay).
    pub fn close_all(&mut self) -> Vec<AlertDoc> {
        self.dirty.clear();
        let mut all: Vec<Aggregate> = self.closed.drain(..).map(|(a, _)| a).collect();
        all.extend(self.open.drain().map(|(_, a)| a));
        self.expiry.clear();
        all.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        all.iter().map(render).collect()
    }

    /// The open aggregates, for a checkpoint.
    pub fn state(&self) -> Vec<Aggregate> {
        let mut all: Vec<Aggregate> = self.open.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

/// The alert document of an aggregate: the latest alert's fields, dated by
/// the first. ECS's `event.start` and `event.end` are its first and last
/// alert, as `k8scop.first_seen` and `last_seen`; `event.ingested` is now,
/// as documents are rendered to be written.
pub fn render(agg: &Aggregate) -> AlertDoc {
    let mut body = agg.latest.body();
    let first = agg.first_seen.to_rfc3339_opts(SecondsFormat::Millis, true);
    let last = agg.last_seen.to_rfc3339_opts(SecondsFormat::Millis, true);
    body["@timestamp"] = Value::String(first.clone());
    let event = &mut body["event"];
    event["start"] = Value::String(first.clone());
    event["end"] = Value::String(last.clone());
    event["ingested"] = Value::String(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
    let k = &mut body["k8scop"];
    k["alert_id"] = Value::String(agg.id.clone());
    k["count"] = agg.count.into();
    k["first_seen"] = Value::String(first);
    k["last_seen"] = Value::String(last);
    k["sources"] = serde_json::to_value(&agg.sources).expect("doc refs serialize");
    k["sources_total"] = agg.count.into();
    AlertDoc {
        id: agg.id.clone(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(rule: &str, group: &str, time: &str, id: &str, user: &str) -> PendingAlert {
        PendingAlert::from_document(AlertDoc {
            id: id.to_string(),
            body: json!({"@timestamp": time, "rule": {"id": rule}, "user": {"name": user},
                "k8scop": {"group_key": group, "count": 1, "alert_id": id}}),
        })
    }

    fn src(n: u64) -> DocRef {
        DocRef::line(n)
    }

    fn d(seconds: i64) -> AggregateConfig {
        AggregateConfig {
            window: chrono::Duration::seconds(seconds),
            max_sources: 2,
        }
    }

    #[test]
    fn repeats_within_d_merge_and_beyond_d_split() {
        let mut a = Aggregator::new(d(600));
        assert_eq!(
            a.add(alert("r", "g", "2024-03-01T10:00:00Z", "id1", "u1"), src(1)),
            Merge::Added
        );
        assert_eq!(
            a.add(alert("r", "g", "2024-03-01T10:09:00Z", "id2", "u2"), src(2)),
            Merge::Updated
        );
        // 600 s after the last one, not the first: still the same alert.
        assert_eq!(
            a.add(alert("r", "g", "2024-03-01T10:19:00Z", "id3", "u3"), src(3)),
            Merge::Updated
        );
        // Another group key is another alert.
        assert_eq!(
            a.add(
                alert("r", "other", "2024-03-01T10:19:00Z", "id4", "u4"),
                src(4)
            ),
            Merge::Added
        );
        // More than D after the last: a new aggregate.
        assert_eq!(
            a.add(alert("r", "g", "2024-03-01T10:29:01Z", "id5", "u5"), src(5)),
            Merge::Added
        );

        let docs = a.take_dirty();
        let by_id: HashMap<&str, &Value> = docs.iter().map(|d| (d.id.as_str(), &d.body)).collect();
        assert_eq!(docs.len(), 3, "the closed aggregate id1 is flushed too");
        let first = by_id["id1"];
        assert_eq!(first["k8scop"]["count"], 3);
        assert_eq!(first["k8scop"]["first_seen"], "2024-03-01T10:00:00.000Z");
        assert_eq!(first["k8scop"]["last_seen"], "2024-03-01T10:19:00.000Z");
        assert_eq!(first["@timestamp"], "2024-03-01T10:00:00.000Z");
        assert_eq!(first["user"]["name"], "u3", "latest fields");
        assert_eq!(
            first["k8scop"]["sources"],
            json!([{"line": 1}, {"line": 2}]),
            "capped list"
        );
        assert_eq!(first["k8scop"]["sources_total"], 3, "exact count");
        assert_eq!(by_id["id5"]["k8scop"]["count"], 1);
        assert!(a.take_dirty().is_empty(), "nothing changed since");
    }

    #[test]
    fn outputs_written_once_get_replaced_aggregates_too() {
        let mut a = Aggregator::new(d(60));
        a.add(
            alert("r", "g", "2024-03-01T10:00:00Z", "first", "u"),
            src(1),
        );
        a.add(
            alert("r", "g", "2024-03-01T11:00:00Z", "second", "u"),
            src(2),
        );
        a.add(
            alert("r", "g", "2024-03-01T12:00:00Z", "third", "u"),
            src(3),
        );
        let closed: Vec<String> = a.take_closed().into_iter().map(|d| d.id).collect();
        assert_eq!(closed, ["first", "second"]);
        let rest: Vec<String> = a.close_all().into_iter().map(|d| d.id).collect();
        assert_eq!(rest, ["third"]);
    }

    #[test]
    fn a_late_alert_extends_the_start() {
        let mut a = Aggregator::new(d(60));
        a.add(
            alert("r", "g", "2024-03-01T10:01:00Z", "id1", "late-run"),
            src(1),
        );
        assert_eq!(
            a.add(
                alert("r", "g", "2024-03-01T10:00:30Z", "id0", "early"),
                src(2)
            ),
            Merge::Updated
        );
        let doc = &a.take_dirty()[0];
        assert_eq!(doc.id, "id1");
        assert_eq!(doc.body["k8scop"]["first_seen"], "2024-03-01T10:00:30.000Z");
        assert_eq!(
            doc.body["user"]["name"], "late-run",
            "latest by time, not by arrival"
        );
        // ECS's span is the aggregate's, as k8scop's.
        assert_eq!(doc.body["event"]["start"], "2024-03-01T10:00:30.000Z");
        assert_eq!(doc.body["event"]["end"], "2024-03-01T10:01:00.000Z");
        assert_eq!(doc.body["k8scop"]["last_seen"], "2024-03-01T10:01:00.000Z");
        assert!(doc.body["event"]["ingested"].is_string());
    }

    fn at(second: i64) -> String {
        (DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(second))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    #[test]
    fn closing_idle_aggregates_looks_only_at_what_may_have_expired() {
        // A long replay: a new group every second, closed after each alert
        // as a file replay does. The work must follow what closes, not
        // what is open times how often closing runs.
        let mut a = Aggregator::new(d(60));
        let n = 20_000;
        let mut closed = 0;
        for i in 0..n {
            let g = format!("g{i}");
            a.add(alert("r", &g, &at(i), &g, "u"), src(i as u64));
            closed += a.close_idle().len();
            assert!(a.open_count() <= 62, "open aggregates stay within D");
        }
        assert_eq!(closed + a.close_all().len(), n as usize);
        assert!(
            a.examined <= n as u64,
            "{} aggregates examined for {n} aggregates",
            a.examined
        );

        // One group repeating every second for as long: it stays one
        // aggregate, looked at about once per D, not once per alert.
        let mut a = Aggregator::new(d(60));
        for i in 0..n {
            a.add(alert("r", "g", &at(i), &format!("id{i}"), "u"), src(1));
            assert!(a.close_idle().is_empty());
        }
        assert!(
            a.examined <= 2 * n as u64 / 60,
            "{} aggregates examined for one aggregate over {n} s",
            a.examined
        );
        assert_eq!(a.close_all()[0].body["k8scop"]["count"], n);
    }

    #[test]
    fn an_older_alert_replacing_an_aggregate_still_closes_on_time() {
        let mut a = Aggregator::new(d(60));
        a.add(alert("r", "g", &at(1000), "new", "u"), src(1));
        // Far older than D: a new aggregate for the key, which can close as
        // soon as the input is D past it.
        a.add(alert("r", "g", &at(100), "old", "u"), src(2));
        let closed: Vec<String> = a
            .close_before(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(500))
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(closed, ["old"]);
        assert_eq!(a.open_count(), 0);
        let replaced: Vec<String> = a.take_closed().into_iter().map(|d| d.id).collect();
        assert_eq!(replaced, ["new"]);
    }

    #[test]
    fn closing_by_watermark_and_resuming_from_state() {
        let mut a = Aggregator::new(d(60));
        a.add(alert("r", "g1", "2024-03-01T10:00:00Z", "a", "u"), src(1));
        a.add(alert("r", "g2", "2024-03-01T10:05:00Z", "b", "u"), src(2));
        let closed = a.close_before("2024-03-01T10:02:00Z".parse().unwrap());
        assert_eq!(
            closed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(a.open_count(), 1);

        // The latest alert (10:05) is more than D past "a" (10:00) already.
        let mut idle = Aggregator::new(d(60));
        idle.add(alert("r", "g1", "2024-03-01T10:00:00Z", "a", "u"), src(1));
        idle.add(alert("r", "g2", "2024-03-01T10:05:00Z", "b", "u"), src(2));
        assert_eq!(idle.close_idle().len(), 1);
        assert_eq!(idle.open_count(), 1);

        let mut resumed = Aggregator::from_state(d(60), a.state());
        assert_eq!(
            resumed.add(alert("r", "g2", "2024-03-01T10:05:30Z", "c", "u"), src(3)),
            Merge::Updated
        );
        let doc = &resumed.close_all()[0];
        assert_eq!(
            (doc.id.as_str(), doc.body["k8scop"]["count"].as_u64()),
            ("b", Some(2))
        );
    }
}
