//! The store contract as tests: one suite, run by every backend against a real database
//! (SQLite files in `viral-store`'s tests, Apache Cassandra in `integration-tests`), so
//! "interchangeable" is checked rather than hoped.
//!
//! A backend's test file invokes [`store_suite!`](crate::store_suite) with an expression
//! producing a fresh, empty store per case; each case becomes one `#[tokio::test]`.

use std::time::Duration;

use viral_core::time::from_millis;
use viral_core::{Alert, AlertStatus, Sample, WindowCount};

use crate::{AlertsQuery, CountsQuery, Delivery, Order, Store, StoreError};

pub const MIN: Duration = Duration::from_secs(60);
const DAY_MIN: i64 = 24 * 60;

/// What a suite's factory may return: a store, or a store with something that must live
/// as long as it (a temporary directory, a database handle).
pub trait UnderTest {
    fn store(&self) -> &dyn Store;
}

impl<S: Store> UnderTest for S {
    fn store(&self) -> &dyn Store {
        self
    }
}

impl<K, S: Store> UnderTest for (K, S) {
    fn store(&self) -> &dyn Store {
        &self.1
    }
}

/// One test per case, each on a fresh store from `$make` (a future of a `Store`).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@cases $make;
            writing_the_same_count_twice_leaves_one_row,
            a_corrected_count_overwrites_and_samples_are_not_stored,
            ranges_are_half_open_and_ascending,
            newest_first_reads_backwards_and_limit_keeps_the_newest,
            limit_keeps_the_earliest_rows,
            window_sizes_and_topics_do_not_mix,
            an_empty_batch_is_a_no_op,
            a_count_the_store_cannot_hold_is_refused_and_nothing_is_written,
            paging_through_three_days_of_minutes_returns_every_window_once,
            sparse_history_is_found_without_bounds,
            alerts_round_trip_with_samples_and_no_expected,
            alerts_upsert_by_id_and_status,
            alert_ranges_are_half_open_limited_and_ordered,
            deliveries_are_kept_per_alert_status_and_notifier,
            ping_answers);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make.await;
                $crate::testkit::$case($crate::testkit::UnderTest::store(&store)).await;
            }
        )*
    };
}

/// A one-minute window starting `start_min` minutes after the epoch, with a sample the
/// store must not keep.
pub fn wc(topic: &str, start_min: i64, count: u64) -> WindowCount {
    WindowCount {
        topic: topic.into(),
        window_start: from_millis(start_min * 60_000),
        window_end: from_millis((start_min + 1) * 60_000),
        count,
        samples: vec![Sample {
            text: "not stored".into(),
            url: None,
        }],
    }
}

/// Counts of `topic` (window size `size`) with starts in `[from, to)` minutes.
pub fn q(
    topic: &str,
    size: Duration,
    from: Option<i64>,
    to: Option<i64>,
    limit: usize,
) -> CountsQuery {
    CountsQuery {
        topic: topic.into(),
        window_size: size,
        from: from.map(|m| from_millis(m * 60_000)),
        to: to.map(|m| from_millis(m * 60_000)),
        limit,
        order: Order::OldestFirst,
    }
}

fn newest(mut q: CountsQuery) -> CountsQuery {
    q.order = Order::NewestFirst;
    q
}

pub fn counts_of(got: &[WindowCount]) -> Vec<u64> {
    got.iter().map(|w| w.count).collect()
}

pub fn alert(id: &str, status: AlertStatus, start_min: i64) -> Alert {
    Alert {
        id: id.into(),
        topic: "a".into(),
        detector: "threshold".into(),
        status,
        window_start: from_millis(start_min * 60_000),
        window_end: from_millis((start_min + 1) * 60_000),
        count: 10,
        expected: None,
        band: None,
        score: 1.5,
        started_at: from_millis(0),
        samples: vec![
            Sample {
                text: "hi \"there\" ✨".into(),
                url: Some("https://x/1".into()),
            },
            Sample {
                text: "no url".into(),
                url: None,
            },
        ],
    }
}

pub fn all_alerts(topic: &str) -> AlertsQuery {
    AlertsQuery {
        topic: topic.into(),
        from: None,
        to: None,
        limit: 100,
        order: Order::OldestFirst,
    }
}

async fn read(s: &dyn Store, q: CountsQuery) -> Vec<WindowCount> {
    s.counts(&q).await.expect("read counts")
}

pub async fn writing_the_same_count_twice_leaves_one_row(s: &dyn Store) {
    s.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    s.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    let got = read(s, q("a", MIN, None, None, 100)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].count, 5);
    assert_eq!(got[0].topic, "a");
    assert_eq!(got[0].window_start, from_millis(0));
    assert_eq!(got[0].window_end, from_millis(60_000));
}

pub async fn a_corrected_count_overwrites_and_samples_are_not_stored(s: &dyn Store) {
    s.put_counts(MIN, &[wc("a", 0, 5), wc("a", 1, 7)])
        .await
        .unwrap();
    s.put_counts(MIN, &[wc("a", 1, 8)]).await.unwrap();
    let got = read(s, q("a", MIN, None, None, 100)).await;
    assert_eq!(counts_of(&got), [5, 8]);
    assert!(got.iter().all(|w| w.samples.is_empty()));
}

pub async fn ranges_are_half_open_and_ascending(s: &dyn Store) {
    // Written out of order: the query, not the insertion order, decides the order.
    let all: Vec<WindowCount> = (0..10).rev().map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    let got = read(s, q("a", MIN, Some(2), Some(5), 100)).await;
    assert_eq!(counts_of(&got), [2, 3, 4]);
    let got = read(s, q("a", MIN, None, Some(2), 100)).await;
    assert_eq!(counts_of(&got), [0, 1]);
    let got = read(s, q("a", MIN, Some(8), None, 100)).await;
    assert_eq!(counts_of(&got), [8, 9]);
    let got = read(s, q("a", MIN, Some(5), Some(5), 100)).await;
    assert!(got.is_empty(), "an empty range has no rows: {got:?}");
    let got = read(s, q("a", MIN, Some(6), Some(5), 100)).await;
    assert!(got.is_empty(), "a reversed range has no rows: {got:?}");
}

pub async fn newest_first_reads_backwards_and_limit_keeps_the_newest(s: &dyn Store) {
    let all: Vec<WindowCount> = (0..10).map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    let got = read(s, newest(q("a", MIN, None, None, 3))).await;
    assert_eq!(counts_of(&got), [9, 8, 7]);
    let got = read(s, newest(q("a", MIN, Some(2), Some(5), 100))).await;
    assert_eq!(counts_of(&got), [4, 3, 2]);
    let got = read(s, newest(q("a", MIN, None, None, 1))).await;
    assert_eq!(counts_of(&got), [9], "the latest window");
}

pub async fn limit_keeps_the_earliest_rows(s: &dyn Store) {
    let all: Vec<WindowCount> = (0..10).map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    let got = read(s, q("a", MIN, Some(2), None, 2)).await;
    assert_eq!(counts_of(&got), [2, 3]);
    let got = read(s, q("a", MIN, None, None, 0)).await;
    assert!(got.is_empty());
    let got = read(s, q("a", MIN, None, None, usize::MAX)).await;
    assert_eq!(got.len(), 10);
}

pub async fn window_sizes_and_topics_do_not_mix(s: &dyn Store) {
    s.put_counts(MIN, &[wc("a", 30, 1)]).await.unwrap();
    // Same topic and start, another size: a different row, not an overwrite.
    s.put_counts(MIN * 30, &[wc("a", 30, 99)]).await.unwrap();
    s.put_counts(MIN, &[wc("b", 30, 7)]).await.unwrap();
    assert_eq!(counts_of(&read(s, q("a", MIN, None, None, 10)).await), [1]);
    assert_eq!(
        counts_of(&read(s, q("a", MIN * 30, None, None, 10)).await),
        [99]
    );
    assert_eq!(counts_of(&read(s, q("b", MIN, None, None, 10)).await), [7]);
    assert!(read(s, q("c", MIN, None, None, 10)).await.is_empty());
}

pub async fn an_empty_batch_is_a_no_op(s: &dyn Store) {
    s.put_counts(MIN, &[]).await.unwrap();
    assert!(read(s, q("a", MIN, None, None, 10)).await.is_empty());
}

pub async fn a_count_the_store_cannot_hold_is_refused_and_nothing_is_written(s: &dyn Store) {
    let err = s
        .put_counts(MIN, &[wc("a", 0, 1), wc("a", 1, u64::MAX)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange(_)), "{err}");
    assert!(read(s, q("a", MIN, None, None, 10)).await.is_empty());
}

pub async fn paging_through_three_days_of_minutes_returns_every_window_once(s: &dyn Store) {
    // Three days and a bit of one-minute windows: several day buckets, and more rows in
    // one bucket than one CQL page holds.
    let n = 3 * DAY_MIN + 90;
    let all: Vec<WindowCount> = (0..n).map(|i| wc("a", i, i as u64 % 97)).collect();
    for chunk in all.chunks(1000) {
        s.put_counts(MIN, chunk).await.unwrap();
    }
    // Forward pages of 700 from the middle of day 0 to the middle of day 3, the way an
    // API client pages: the next page starts just after the last window of this one.
    let (from, to) = (DAY_MIN / 2, 3 * DAY_MIN + 45);
    let mut got = Vec::new();
    let mut cursor = from;
    loop {
        let page = read(s, q("a", MIN, Some(cursor), Some(to), 700)).await;
        assert!(page.len() <= 700);
        let Some(last) = page.last() else { break };
        cursor = last.window_start.timestamp_millis() / 60_000 + 1;
        got.extend(page);
    }
    let want: Vec<WindowCount> = all[from as usize..to as usize]
        .iter()
        .map(|w| WindowCount {
            samples: vec![],
            ..w.clone()
        })
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "pages differ from what was written");
    // Backwards across the same day boundaries, in one read.
    let back = read(s, newest(q("a", MIN, Some(from), Some(to), usize::MAX))).await;
    let mut fwd = back.clone();
    fwd.reverse();
    assert!(fwd == want, "newest-first is the exact reverse");
}

pub async fn sparse_history_is_found_without_bounds(s: &dyn Store) {
    // Windows a hundred days apart, and one before 1970: nothing in between is scanned
    // for, and unbounded reads still find both ends.
    s.put_counts(
        MIN,
        &[wc("a", -5, 1), wc("a", 3, 2), wc("a", 100 * DAY_MIN + 7, 3)],
    )
    .await
    .unwrap();
    assert_eq!(
        counts_of(&read(s, q("a", MIN, None, None, 10)).await),
        [1, 2, 3]
    );
    assert_eq!(
        counts_of(&read(s, newest(q("a", MIN, None, None, 10))).await),
        [3, 2, 1]
    );
    assert_eq!(
        counts_of(&read(s, q("a", MIN, Some(4), None, 10)).await),
        [3]
    );
}

pub async fn alerts_round_trip_with_samples_and_no_expected(s: &dyn Store) {
    let a = alert("inc-1", AlertStatus::Firing, 0);
    s.put_alert(&a).await.unwrap();
    let got = s.alerts(&all_alerts("a")).await.unwrap();
    assert_eq!(got, vec![a]);
    assert_eq!(got[0].expected, None);
    assert!(s.alerts(&all_alerts("b")).await.unwrap().is_empty());
}

pub async fn alerts_upsert_by_id_and_status(s: &dyn Store) {
    let firing = alert("inc-1", AlertStatus::Firing, 0);
    s.put_alert(&firing).await.unwrap();
    s.put_alert(&firing).await.unwrap();
    let mut resolved = alert("inc-1", AlertStatus::Resolved, 2);
    resolved.expected = Some(2.5);
    resolved.band = Some(viral_core::Band {
        low: 0.5,
        high: 9.75,
    });
    s.put_alert(&resolved).await.unwrap();
    // A retried write with new values replaces the row rather than adding one.
    resolved.score = 0.25;
    resolved.samples.clear();
    s.put_alert(&resolved).await.unwrap();
    let got = s.alerts(&all_alerts("a")).await.unwrap();
    assert_eq!(got, vec![firing, resolved]);
}

pub async fn alert_ranges_are_half_open_limited_and_ordered(s: &dyn Store) {
    for i in (0..5).rev() {
        s.put_alert(&alert(&format!("inc-{i}"), AlertStatus::Firing, i))
            .await
            .unwrap();
    }
    // Two incidents of different detectors in the same window: ordered by id, then status.
    s.put_alert(&alert("inc-2b", AlertStatus::Resolved, 2))
        .await
        .unwrap();
    s.put_alert(&alert("inc-2b", AlertStatus::Firing, 2))
        .await
        .unwrap();
    let ids = |got: Vec<Alert>| -> Vec<String> {
        got.into_iter()
            .map(|a| format!("{}/{}", a.id, a.status.as_str()))
            .collect()
    };
    let mut range = AlertsQuery {
        topic: "a".into(),
        from: Some(from_millis(60_000)),
        to: Some(from_millis(4 * 60_000)),
        limit: 3,
        order: Order::OldestFirst,
    };
    assert_eq!(
        ids(s.alerts(&range).await.unwrap()),
        ["inc-1/firing", "inc-2/firing", "inc-2b/firing"]
    );
    range.order = Order::NewestFirst;
    assert_eq!(
        ids(s.alerts(&range).await.unwrap()),
        ["inc-3/firing", "inc-2b/resolved", "inc-2b/firing"]
    );
    range.limit = 0;
    assert!(s.alerts(&range).await.unwrap().is_empty());
}

pub async fn deliveries_are_kept_per_alert_status_and_notifier(s: &dyn Store) {
    let firing = alert("inc-1", AlertStatus::Firing, 0);
    let resolved = alert("inc-1", AlertStatus::Resolved, 2);
    s.put_alert(&firing).await.unwrap();
    s.put_alert(&resolved).await.unwrap();
    let states = |got: Vec<crate::AlertDeliveries>| {
        got.into_iter()
            .map(|a| {
                assert_eq!(a.alert.topic, "a");
                (a.alert.status, a.deliveries.into_iter().collect::<Vec<_>>())
            })
            .collect::<Vec<_>>()
    };
    // A fresh alert has no delivery state.
    assert_eq!(
        states(s.alert_deliveries(&all_alerts("a")).await.unwrap()),
        [
            (AlertStatus::Firing, vec![]),
            (AlertStatus::Resolved, vec![])
        ]
    );
    let at = from_millis(1_700_000_000_123);
    let pending = Delivery::Pending { since: at };
    let delivered = Delivery::Delivered { at };
    let gave_up = Delivery::GaveUp {
        at,
        error: "HTTP 503 \"busy\"".into(),
    };
    s.put_delivery(&firing, "webhook", &pending).await.unwrap();
    s.put_delivery(&firing, "email", &gave_up).await.unwrap();
    // The notifier's outcome replaces its pending state; re-storing the alert (a retry
    // after a restart) keeps what its notifiers already did.
    s.put_delivery(&firing, "webhook", &delivered)
        .await
        .unwrap();
    s.put_alert(&firing).await.unwrap();
    let held = Delivery::Held {
        reason: "cooldown".into(),
    };
    s.put_delivery(&resolved, "webhook", &held).await.unwrap();
    assert_eq!(
        states(s.alert_deliveries(&all_alerts("a")).await.unwrap()),
        [
            (
                AlertStatus::Firing,
                vec![("email".into(), gave_up), ("webhook".into(), delivered)]
            ),
            (AlertStatus::Resolved, vec![("webhook".into(), held)])
        ]
    );
    // Alerts read without their deliveries are unchanged by them.
    assert_eq!(
        s.alerts(&all_alerts("a")).await.unwrap(),
        vec![firing, resolved]
    );
}

pub async fn ping_answers(s: &dyn Store) {
    s.ping().await.unwrap();
}
