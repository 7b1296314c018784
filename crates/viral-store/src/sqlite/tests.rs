//! Against real SQLite files in a temporary directory, the way `viral standalone` uses them.

use std::time::Duration;

use tempfile::TempDir;
use viral_core::time::from_millis;

use super::*;

const MIN: Duration = Duration::from_secs(60);

/// The directory must outlive the store, so both are returned.
fn file_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("viral.db")).unwrap();
    (dir, store)
}

/// A one-minute window starting `start_min` minutes after the epoch.
fn wc(topic: &str, start_min: i64, count: u64) -> WindowCount {
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

fn q(topic: &str, size: Duration, from: Option<i64>, to: Option<i64>, limit: usize) -> CountsQuery {
    CountsQuery {
        topic: topic.into(),
        window_size: size,
        from: from.map(|m| from_millis(m * 60_000)),
        to: to.map(|m| from_millis(m * 60_000)),
        limit,
    }
}

fn counts_of(got: &[WindowCount]) -> Vec<u64> {
    got.iter().map(|w| w.count).collect()
}

fn alert(id: &str, status: AlertStatus, start_min: i64) -> Alert {
    Alert {
        id: id.into(),
        topic: "a".into(),
        detector: "threshold".into(),
        status,
        window_start: from_millis(start_min * 60_000),
        window_end: from_millis((start_min + 1) * 60_000),
        count: 10,
        expected: None,
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

fn all_alerts(topic: &str) -> AlertsQuery {
    AlertsQuery {
        topic: topic.into(),
        from: None,
        to: None,
        limit: 100,
    }
}

#[tokio::test]
async fn writing_the_same_count_twice_leaves_one_row() {
    let (_dir, s) = file_store();
    s.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    s.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    let got = s.counts(&q("a", MIN, None, None, 100)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].count, 5);
    assert_eq!(got[0].window_start, from_millis(0));
    assert_eq!(got[0].window_end, from_millis(60_000));
}

#[tokio::test]
async fn a_corrected_count_overwrites_and_samples_are_not_stored() {
    let (_dir, s) = file_store();
    s.put_counts(MIN, &[wc("a", 0, 5), wc("a", 1, 7)])
        .await
        .unwrap();
    s.put_counts(MIN, &[wc("a", 1, 8)]).await.unwrap();
    let got = s.counts(&q("a", MIN, None, None, 100)).await.unwrap();
    assert_eq!(counts_of(&got), [5, 8]);
    assert!(got.iter().all(|w| w.samples.is_empty()));
}

#[tokio::test]
async fn ranges_are_half_open_and_ascending() {
    let (_dir, s) = file_store();
    // Written out of order: the query, not the insertion order, decides the order.
    let all: Vec<WindowCount> = (0..10).rev().map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    let got = s.counts(&q("a", MIN, Some(2), Some(5), 100)).await.unwrap();
    assert_eq!(counts_of(&got), [2, 3, 4]);
    let got = s.counts(&q("a", MIN, None, Some(2), 100)).await.unwrap();
    assert_eq!(counts_of(&got), [0, 1]);
    let got = s.counts(&q("a", MIN, Some(8), None, 100)).await.unwrap();
    assert_eq!(counts_of(&got), [8, 9]);
    let got = s.counts(&q("a", MIN, Some(5), Some(5), 100)).await.unwrap();
    assert!(got.is_empty(), "an empty range has no rows: {got:?}");
}

#[tokio::test]
async fn limit_keeps_the_earliest_rows() {
    let (_dir, s) = file_store();
    let all: Vec<WindowCount> = (0..10).map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    let got = s.counts(&q("a", MIN, Some(2), None, 2)).await.unwrap();
    assert_eq!(counts_of(&got), [2, 3]);
    let got = s.counts(&q("a", MIN, None, None, 0)).await.unwrap();
    assert!(got.is_empty());
    let got = s
        .counts(&q("a", MIN, None, None, usize::MAX))
        .await
        .unwrap();
    assert_eq!(got.len(), 10);
}

#[tokio::test]
async fn window_sizes_and_topics_do_not_mix() {
    let (_dir, s) = file_store();
    s.put_counts(MIN, &[wc("a", 30, 1)]).await.unwrap();
    // Same topic and start, another size: a different row, not an overwrite.
    s.put_counts(MIN * 30, &[wc("a", 30, 99)]).await.unwrap();
    s.put_counts(MIN, &[wc("b", 30, 7)]).await.unwrap();
    let got = s.counts(&q("a", MIN, None, None, 10)).await.unwrap();
    assert_eq!(counts_of(&got), [1]);
    let got = s.counts(&q("a", MIN * 30, None, None, 10)).await.unwrap();
    assert_eq!(counts_of(&got), [99]);
    let got = s.counts(&q("b", MIN, None, None, 10)).await.unwrap();
    assert_eq!(counts_of(&got), [7]);
    assert!(s
        .counts(&q("c", MIN, None, None, 10))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op() {
    let (_dir, s) = file_store();
    s.put_counts(MIN, &[]).await.unwrap();
    assert!(s
        .counts(&q("a", MIN, None, None, 10))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_count_sqlite_cannot_hold_is_refused_and_the_batch_is_not_half_written() {
    let (_dir, s) = file_store();
    let err = s
        .put_counts(MIN, &[wc("a", 0, 1), wc("a", 1, u64::MAX)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange(_)), "{err}");
    assert!(s
        .counts(&q("a", MIN, None, None, 10))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn alerts_round_trip_with_samples_and_no_expected() {
    let (_dir, s) = file_store();
    let a = alert("inc-1", AlertStatus::Firing, 0);
    s.put_alert(&a).await.unwrap();
    let got = s.alerts(&all_alerts("a")).await.unwrap();
    assert_eq!(got, vec![a]);
    assert_eq!(got[0].expected, None);
    assert!(s.alerts(&all_alerts("b")).await.unwrap().is_empty());
}

#[tokio::test]
async fn alerts_upsert_by_id_and_status() {
    let (_dir, s) = file_store();
    let firing = alert("inc-1", AlertStatus::Firing, 0);
    s.put_alert(&firing).await.unwrap();
    s.put_alert(&firing).await.unwrap();
    let mut resolved = alert("inc-1", AlertStatus::Resolved, 2);
    resolved.expected = Some(2.5);
    s.put_alert(&resolved).await.unwrap();
    // A retried write with new values replaces the row rather than adding one.
    resolved.score = 0.25;
    s.put_alert(&resolved).await.unwrap();
    let got = s.alerts(&all_alerts("a")).await.unwrap();
    assert_eq!(got, vec![firing, resolved]);
}

#[tokio::test]
async fn alert_ranges_are_half_open_and_limited() {
    let (_dir, s) = file_store();
    for i in (0..5).rev() {
        s.put_alert(&alert(&format!("inc-{i}"), AlertStatus::Firing, i))
            .await
            .unwrap();
    }
    let got = s
        .alerts(&AlertsQuery {
            topic: "a".into(),
            from: Some(from_millis(60_000)),
            to: Some(from_millis(4 * 60_000)),
            limit: 2,
        })
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["inc-1", "inc-2"]);
}

#[tokio::test]
async fn a_reopened_file_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viral.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.put_counts(MIN, &[wc("a", 0, 3)]).await.unwrap();
        s.put_alert(&alert("inc-1", AlertStatus::Firing, 0))
            .await
            .unwrap();
    }
    // Opening again must not recreate or wipe the tables.
    let s = SqliteStore::open(&path).unwrap();
    let got = s.counts(&q("a", MIN, None, None, 10)).await.unwrap();
    assert_eq!(counts_of(&got), [3]);
    assert_eq!(s.alerts(&all_alerts("a")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn ping_answers_on_a_file_and_in_memory() {
    let (_dir, s) = file_store();
    s.ping().await.unwrap();
    SqliteStore::in_memory().unwrap().ping().await.unwrap();
}

#[test]
fn opening_a_path_that_cannot_exist_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("missing/dir/viral.db"))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
}

#[test]
fn the_file_is_left_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viral.db");
    drop(SqliteStore::open(&path).unwrap());
    // WAL is a property of the file, so an independent connection sees it.
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
