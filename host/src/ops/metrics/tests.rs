//! The metrics' names, labels and values as scraped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn counters_carry_prefix_suffix_and_labels() {
    let m = Metrics::new();
    m.documents_fetched(3);
    m.documents_fetched(4);
    m.documents_decoded(DocumentKind::Audit, 5);
    m.audit_event_decoded(crate::decode::Shape::Gke);
    m.audit_event_decoded(crate::decode::Shape::Gke);
    m.documents_failed(1);
    m.pack_failed("classic", 9);
    m.alert_raised("K8S-001");
    m.alert_raised("K8S-001");
    m.alerts_added(2);
    m.alerts_updated(1);
    m.bulk_request();
    m.bulk_retries(RetryKind::Request, 1);
    m.bulk_dead_lettered(6);
    m.alerts_rejected("classic", 2);

    let text = m.encode();
    for line in [
        "k8scop_documents_fetched_total 7",
        "k8scop_documents_decoded_total{kind=\"audit\"} 5",
        "k8scop_documents_decoded_total{kind=\"other\"} 0",
        "k8scop_audit_events_by_shape_total{shape=\"gke\"} 2",
        "k8scop_audit_events_by_shape_total{shape=\"event-list\"} 0",
        "k8scop_documents_failed_total 1",
        "k8scop_pack_failures_total{pack=\"classic\"} 1",
        "k8scop_documents_unevaluated_total{pack=\"classic\"} 9",
        "k8scop_alerts_raised_total{rule=\"K8S-001\"} 2",
        "k8scop_alerts_added_total 2",
        "k8scop_alerts_updated_total 1",
        "k8scop_bulk_requests_total 1",
        "k8scop_bulk_retries_total{kind=\"item\"} 0",
        "k8scop_bulk_retries_total{kind=\"request\"} 1",
        "k8scop_bulk_dead_lettered_total 6",
        "k8scop_alerts_rejected_total{pack=\"classic\"} 2",
        "# TYPE k8scop_documents_fetched counter",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn evaluation_histogram_and_counter() {
    let m = Metrics::new();
    m.pack_evaluated("classic", 100, Duration::from_millis(3));
    m.pack_evaluated("classic", 50, Duration::from_millis(30));

    let text = m.encode();
    for line in [
        "k8scop_pack_evaluations_total{pack=\"classic\"} 150",
        "k8scop_pack_evaluation_seconds_count{pack=\"classic\"} 2",
        "k8scop_pack_evaluation_seconds_bucket{le=\"0.005\",pack=\"classic\"} 1",
        "k8scop_pack_evaluation_seconds_bucket{le=\"0.05\",pack=\"classic\"} 2",
        "k8scop_pack_evaluation_seconds_bucket{le=\"+Inf\",pack=\"classic\"} 2",
        "# TYPE k8scop_pack_evaluation_seconds histogram",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn gauges_hold_the_last_value() {
    let m = Metrics::new();
    m.set_cursor(chrono::Utc::now() - chrono::Duration::seconds(60));
    m.set_packs_loaded(3);
    m.set_open_aggregates(17);
    m.checkpoint_written(1_700_000_000.5);
    m.set_threads(2);
    m.set_process_cpu(std::time::Duration::from_millis(2500));

    let text = m.encode();
    for line in [
        "k8scop_packs_loaded 3",
        "k8scop_threads 2",
        "k8scop_process_cpu_seconds 2.5",
        "k8scop_open_aggregates 17",
        "k8scop_checkpoint_timestamp_seconds 1700000000.5",
        "# UNIT k8scop_lag_seconds seconds",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in:\n{text}");
    }
    let written: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("k8scop_last_checkpoint_write_timestamp_seconds "))
        .expect("write timestamp present")
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - written).abs() < 60.0, "written {written}, now {now}");
}

fn lag(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix("k8scop_lag_seconds "))
        .expect("the lag is rendered")
        .parse()
        .unwrap()
}

/// The lag is now minus the cursor at each scrape: with no new cursor (a
/// stalled Elasticsearch) it keeps growing instead of freezing.
#[test]
fn the_lag_grows_between_scrapes_while_the_cursor_stands_still() {
    let m = Metrics::new();
    assert_eq!(lag(&m.encode()), 0.0, "no cursor yet");
    m.set_cursor(chrono::Utc::now() - chrono::Duration::seconds(60));
    let first = lag(&m.encode());
    assert!((60.0..3600.0).contains(&first), "{first}");
    std::thread::sleep(Duration::from_millis(50));
    let second = lag(&m.encode());
    assert!(second >= first + 0.04, "{first} then {second}");
}

#[test]
fn clones_share_state_across_threads() {
    let m = Metrics::new();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    m.documents_fetched(1);
                    m.alert_raised("r");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = m.encode();
    assert!(has_line(&text, "k8scop_documents_fetched_total 4000"));
    assert!(has_line(
        &text,
        "k8scop_alerts_raised_total{rule=\"r\"} 4000"
    ));
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.alert_raised("odd\"rule\nid");
    let text = m.encode();
    assert!(has_line(
        &text,
        "k8scop_alerts_raised_total{rule=\"odd\\\"rule\\nid\"} 1"
    ));
}
