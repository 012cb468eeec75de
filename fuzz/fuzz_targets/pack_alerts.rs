//! The host side of the WIT boundary: whatever alerts a pack returns (any
//! rule id, event index, time, field names and values), the host caps
//! them, admits or rejects each, and turns the admitted ones into alert
//! documents that Elasticsearch can index: an RFC 3339 `@timestamp`, plain
//! field names, a daily alert index; never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use arbitrary::Arbitrary;
use k8scop::aggregate::{AggregateConfig, Aggregator};
use k8scop::alert::{PendingAlert, alert_document};
use k8scop::contract::{Alert, EventContext, Interest, PackInfo, RuleInfo, Severity};
use k8scop::decode::{DecodedDoc, Decoder};
use k8scop::engine::{BatchOutcome, PackMeta, SandboxLimits, admit_alerts, check_alert_limits};
use k8scop::es::indices::daily_index;
use k8scop::sink::elasticsearch::alert_bulk_doc;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct ArbitraryAlert {
    declared_rule: Option<bool>,
    rule_id: String,
    title: String,
    severity: u8,
    group_key: String,
    event_time: String,
    event_index: u32,
    /// Which of the event's fields the host adds, one bit per flag.
    context: u16,
    fields: Vec<(String, String)>,
}

/// The flags whose bits are set in `bits`.
fn context(bits: u16) -> EventContext {
    [
        EventContext::USER,
        EventContext::IMPERSONATED_USER,
        EventContext::SOURCE_IP,
        EventContext::USER_AGENT,
        EventContext::VERB,
        EventContext::RESOURCE,
        EventContext::NAMESPACE,
        EventContext::NAME,
        EventContext::RESPONSE_CODE,
        EventContext::AUDIT_ID,
        EventContext::GROUPS,
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| bits & (1 << i) != 0)
    .fold(EventContext::empty(), |all, (_, flag)| all | flag)
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Which documents of the batch the pack was given.
    selected_mask: u8,
    alerts: Vec<ArbitraryAlert>,
}

const RULES: [&str; 2] = ["fuzz/a", "fuzz/b"];

fn meta() -> Arc<PackMeta> {
    let rules: Vec<RuleInfo> = RULES
        .iter()
        .map(|id| RuleInfo {
            id: id.to_string(),
            title: format!("rule {id}"),
            description: String::new(),
            severity: Severity::Medium,
            tags: vec![],
            interest: Interest {
                kinds: vec![],
                verbs: vec![],
                resources: vec![],
            },
            needs: k8scop::contract::AuditNeeds::metadata(),
        })
        .collect();
    Arc::new(PackMeta::new(
        PackInfo {
            name: "fuzz".into(),
            version: "0".into(),
            rules,
            settings: vec![],
        },
        PathBuf::new(),
        String::new(),
        false,
    ))
}

fn docs() -> Vec<DecodedDoc> {
    let decoder = Decoder::default();
    [
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"objectRef":{"resource":"secrets","namespace":"a","name":"s"},"responseStatus":{"code":200},"stageTimestamp":"2024-03-01T10:00:00.000001Z"}"#,
        r#"{"@timestamp":"2024-03-01T10:00:01Z","message":"sudo: bob : COMMAND=/bin/sh","host":"node-1"}"#,
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","stage":"ResponseComplete","verb":"create","user":{"username":"bob"},"objectRef":{"resource":"pods","namespace":"b"},"responseStatus":{"code":201},"timestamp":"2024-03-01T10:00:02Z"}"#,
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| decoder.decode_line(l.to_string(), i as u64 + 1).expect("fixed lines decode"))
    .collect()
}

fuzz_target!(|input: Input| {
    let meta = meta();
    let docs = docs();
    let selected: Vec<usize> = (0..docs.len())
        .filter(|i| input.selected_mask & (1 << i) != 0)
        .collect();
    let alerts: Vec<Alert> = input
        .alerts
        .into_iter()
        .map(|a| Alert {
            rule_id: match a.declared_rule {
                Some(b) => RULES[usize::from(b)].to_string(),
                None => a.rule_id,
            },
            title: a.title,
            severity: match a.severity % 5 {
                0 => Severity::Info,
                1 => Severity::Low,
                2 => Severity::Medium,
                3 => Severity::High,
                _ => Severity::Critical,
            },
            group_key: a.group_key,
            event_time: a.event_time,
            event_index: a.event_index,
            context: context(a.context),
            fields: a.fields,
        })
        .collect();
    let returned = alerts.len();
    let Ok(alerts) = check_alert_limits(alerts, &SandboxLimits::default()) else {
        return;
    };
    let mut outcome = BatchOutcome::default();
    admit_alerts(&meta, alerts, &selected, &docs, &mut outcome);
    assert_eq!(
        outcome.alerts.len() + outcome.rejected.len(),
        returned,
        "every alert admitted or rejected"
    );

    let mut aggregator = Aggregator::new(AggregateConfig::default());
    for raised in &outcome.alerts {
        assert!(
            selected.contains(&raised.doc_index),
            "an alert points at a document the pack saw"
        );
        assert!(
            meta.rule(&raised.alert.rule_id).is_some(),
            "only declared rules are admitted"
        );
        let doc = &docs[raised.doc_index];
        let alert = alert_document(raised, doc);
        let time = alert.body["@timestamp"]
            .as_str()
            .expect("@timestamp is text");
        let time = chrono::DateTime::parse_from_rfc3339(time)
            .unwrap_or_else(|e| panic!("@timestamp {time:?} is not RFC 3339: {e}"))
            .with_timezone(&chrono::Utc);
        for key in alert.body["k8scop"]["fields"]
            .as_object()
            .expect("fields object")
            .keys()
        {
            assert!(
                !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "field name {key:?} is plain"
            );
        }
        let bulk = alert_bulk_doc("k8scop-alerts", &alert);
        assert_eq!(
            bulk.index,
            daily_index("k8scop-alerts", time),
            "dated by the alert's time"
        );
        serde_json::to_string(&bulk.body).expect("alert documents serialise");
        // The aggregator builds the same document, later, from the alert.
        let pending = PendingAlert::new(raised.clone(), doc, None);
        assert_eq!(pending.document(&doc.origin).body, alert.body);
        aggregator.add(pending, doc.origin.clone());
    }
    for doc in aggregator.close_all() {
        serde_json::to_string(&doc.body).expect("aggregates serialise");
    }
});
