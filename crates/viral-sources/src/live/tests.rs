//! Tests of the shared live-source machinery: the monitor's metrics and readiness (on
//! paused time).

use std::time::Duration;

use super::*;

#[tokio::test(start_paused = true)]
async fn readiness_drops_only_after_a_long_disconnection() {
    let metrics = viral_runtime::metrics::Metrics::new();
    let health = viral_runtime::health::Health::new();
    let m = SourceMonitor::new(
        "t",
        metrics.clone(),
        health.clone(),
        Duration::from_secs(30),
    );
    m.disconnected();
    assert_eq!(
        health.snapshot().get("source:t"),
        Some(&true),
        "ready at start"
    );
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(health.ready());
    m.connected();
    m.disconnected();
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(health.ready(), "the reconnect restarted the grace period");
    // A second failure during the same disconnection does not restart it.
    m.disconnected();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!health.ready());
    m.connected();
    assert!(health.ready());
    let text = metrics.encode();
    assert!(
        text.contains(r#"viral_source_connected{source="t"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn events_and_bad_events_are_counted_per_kind() {
    let m = SourceMonitor::detached("t");
    m.event();
    m.event();
    m.bad("invalid_json", &"expected value at line 1");
    m.bad("invalid_json", &"again");
    m.bad("invalid_post", &"no text");
    m.reconnecting(Duration::from_millis(10), &"reset by peer");
    let text = m.metrics().encode();
    for line in [
        r#"viral_source_events_total{source="t"} 2"#,
        r#"viral_source_bad_events_total{source="t",kind="invalid_json"} 2"#,
        r#"viral_source_bad_events_total{source="t",kind="invalid_post"} 1"#,
        r#"viral_source_reconnects_total{source="t"} 1"#,
        r#"viral_source_last_event_timestamp_seconds{source="t"} "#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert_eq!(
        m.bad_counts().into_iter().collect::<Vec<_>>(),
        [("invalid_json", 2), ("invalid_post", 1)]
    );
}
