//! Tests of the shared live-source machinery: the exact delay sequences of the backoff
//! shapes, jitter bounds, and the monitor's metrics and readiness (on paused time).

use std::time::Duration;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn take(b: &mut Backoff, n: usize) -> Vec<Duration> {
    (0..n).map(|_| b.next_delay()).collect()
}

#[test]
fn exponential_doubles_up_to_its_cap_and_resets() {
    let mut b = Backoff::exponential(ms(500), ms(4000)).with_jitter(0.0);
    assert_eq!(
        take(&mut b, 6),
        [ms(500), ms(1000), ms(2000), ms(4000), ms(4000), ms(4000)]
    );
    assert_eq!(b.attempts(), 6);
    b.reset();
    assert_eq!(b.attempts(), 0);
    assert_eq!(take(&mut b, 2), [ms(500), ms(1000)]);
}

#[test]
fn linear_grows_by_its_step_up_to_its_cap() {
    let mut b = Backoff::linear(ms(250), ms(1000)).with_jitter(0.0);
    assert_eq!(
        take(&mut b, 6),
        [ms(250), ms(500), ms(750), ms(1000), ms(1000), ms(1000)]
    );
    b.reset();
    assert_eq!(b.next_delay(), ms(250));
}

#[test]
fn jitter_only_adds_up_to_its_fraction_and_is_reproducible_by_seed() {
    let exact = take(
        &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_jitter(0.0),
        10,
    );
    let jittered = take(
        &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_seed(7),
        10,
    );
    for (d, j) in exact.iter().zip(&jittered) {
        assert!(*j >= *d && *j <= d.mul_f64(1.0 + JITTER), "{j:?} vs {d:?}");
    }
    assert_ne!(exact, jittered, "jitter changes something");
    let again = take(
        &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_seed(7),
        10,
    );
    assert_eq!(jittered, again);
}

#[tokio::test]
async fn recorded_pause_reports_the_delay_and_returns_at_once() {
    let (pause, mut delays) = Pause::recorded();
    let stop = tokio_util::sync::CancellationToken::new();
    assert!(pause.wait(Duration::from_secs(3600), &stop).await);
    assert_eq!(delays.recv().await, Some(Duration::from_secs(3600)));
    stop.cancel();
    assert!(!pause.wait(ms(1), &stop).await);
}

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
    m.reconnecting(ms(10), &"reset by peer");
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
