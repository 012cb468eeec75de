//! The trust boundary: what an untrusted pack returns is admitted here, or
//! refused with the reason. A batch's alerts must stay within the sandbox's
//! caps; each alert must name a rule its pack declared and an event the
//! pack was given; its time and field names are made indexable. Fuzzed by
//! `fuzz/fuzz_targets/pack_alerts.rs`.

use std::sync::Arc;

use super::meta::PackMeta;
use super::sandbox::SandboxLimits;
use super::{BatchOutcome, PackError, RaisedAlert, RejectedAlert};
use crate::contract::Alert;
use crate::decode::DecodedDoc;

/// A batch's alerts within the sandbox's caps on count and bytes, or the
/// limit error that fails the batch.
pub fn check_alert_limits(
    alerts: Vec<Alert>,
    limits: &SandboxLimits,
) -> Result<Vec<Alert>, PackError> {
    if alerts.len() > limits.max_alerts_per_batch {
        return Err(PackError::Limit(format!(
            "returned {} alerts for one batch, over the limit of {}",
            alerts.len(),
            limits.max_alerts_per_batch
        )));
    }
    let bytes: usize = alerts.iter().map(alert_bytes).sum();
    if bytes > limits.max_alert_bytes {
        return Err(PackError::Limit(format!(
            "returned alerts of {bytes} bytes for one batch, over the limit of {}",
            limits.max_alert_bytes
        )));
    }
    Ok(alerts)
}

/// The text an alert carries.
fn alert_bytes(a: &Alert) -> usize {
    a.rule_id.len()
        + a.title.len()
        + a.group_key.len()
        + a.event_time.len()
        + a.fields
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// Take what a pack returned for `docs` (of which it saw `selected`) into
/// `outcome`: an alert naming a rule the pack did not declare, or an event
/// it was not given, is rejected and counted, never trusted. Everything
/// here comes from untrusted code (fuzzed by `fuzz/fuzz_targets/pack_alerts.rs`).
pub fn admit_alerts(
    meta: &Arc<PackMeta>,
    alerts: Vec<Alert>,
    selected: &[usize],
    docs: &[DecodedDoc],
    outcome: &mut BatchOutcome,
) {
    for alert in alerts {
        match check_alert(meta, &alert, selected) {
            Ok(doc_index) => outcome.alerts.push(RaisedAlert {
                pack: meta.clone(),
                alert: fill_time(alert, &docs[doc_index]),
                doc_index,
            }),
            Err(reason) => {
                tracing::warn!(pack = meta.name(), %reason, "alert rejected");
                outcome.rejected.push(RejectedAlert {
                    pack: meta.name().to_string(),
                    reason,
                });
            }
        }
    }
}

/// The alert's document index in the whole batch, if the alert is valid.
fn check_alert(meta: &PackMeta, alert: &Alert, selected: &[usize]) -> Result<usize, String> {
    if meta.rule(&alert.rule_id).is_none() {
        return Err(format!(
            "alert names rule {:?}, which pack {} did not declare",
            super::sandbox::truncate(&alert.rule_id, 200),
            meta.name()
        ));
    }
    selected
        .get(alert.event_index as usize)
        .copied()
        .ok_or_else(|| {
            format!(
                "alert of rule {} points at event {} of a batch of {}",
                alert.rule_id,
                alert.event_index,
                selected.len()
            )
        })
}

/// Make an admitted alert safe to index: its time must be an RFC 3339 time
/// (else the triggering document's time is used, as it is for the empty
/// time the SDK sends: a pack's garbage time would make the alert index
/// refuse the alert), and its field names must
/// be plain names (Elasticsearch refuses empty names and reads dots as
/// object paths, which can conflict inside one document).
fn fill_time(mut alert: Alert, doc: &DecodedDoc) -> Alert {
    if chrono::DateTime::parse_from_rfc3339(&alert.event_time).is_err() {
        alert.event_time.clone_from(&doc.time);
    }
    for (key, _) in &mut alert.fields {
        if !is_plain_field_name(key) {
            *key = plain_field_name(key);
        }
    }
    alert
}

const MAX_FIELD_NAME: usize = 64;

fn is_plain_field_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_FIELD_NAME
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `key` with every character outside `[A-Za-z0-9_-]` replaced by `_`,
/// cut to 64 bytes; `_` if nothing is left.
pub fn plain_field_name(key: &str) -> String {
    let mut plain: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_FIELD_NAME)
        .collect();
    if plain.is_empty() {
        plain.push('_');
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Severity;
    use crate::decode::Decoder;
    use crate::engine::{PACK_QUARANTINED, host_meta};

    fn doc() -> DecodedDoc {
        Decoder::default()
            .decode_line(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"objectRef":{"resource":"secrets"},"stageTimestamp":"2024-03-01T10:00:00Z"}"#.to_string(),
                1,
            )
            .unwrap()
    }

    fn alert(event_time: &str, fields: &[(&str, &str)]) -> Alert {
        Alert {
            rule_id: PACK_QUARANTINED.into(),
            title: "t".into(),
            severity: Severity::High,
            group_key: "g".into(),
            event_time: event_time.into(),
            event_index: 0,
            context: crate::contract::EventContext::empty(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    // What `make fuzz` (pack_alerts) checks: whatever a pack returns, an
    // admitted alert can be indexed.
    #[test]
    fn a_packs_unusable_time_and_field_names_are_made_indexable() {
        let meta = Arc::new(host_meta());
        let docs = [doc()];
        let mut outcome = BatchOutcome::default();
        let alerts = vec![
            alert(
                "yesterday",
                &[("", "a"), ("user.name", "b"), ("ok-name_1", "c")],
            ),
            alert("2024-03-01T09:00:00+01:00", &[]),
            Alert {
                event_index: 7,
                ..alert("", &[])
            },
        ];
        admit_alerts(&meta, alerts, &[0], &docs, &mut outcome);
        assert_eq!(outcome.rejected.len(), 1, "event 7 of a batch of 1");
        let [first, second] = &outcome.alerts[..] else {
            panic!("two admitted: {:?}", outcome.alerts.len());
        };
        assert_eq!(first.alert.event_time, "2024-03-01T10:00:00Z");
        let names: Vec<&str> = first.alert.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["_", "user_name", "ok-name_1"]);
        assert_eq!(second.alert.event_time, "2024-03-01T09:00:00+01:00");
        assert_eq!(plain_field_name(&"é".repeat(100)).len(), 64);
    }
}
