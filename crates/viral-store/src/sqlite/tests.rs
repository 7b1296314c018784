use std::time::Duration;

use viral_core::time::from_millis;

use super::*;

const MIN: Duration = Duration::from_secs(60);

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

fn q(topic: &str, from: Option<i64>, to: Option<i64>, limit: usize) -> CountsQuery {
    CountsQuery {
        topic: topic.into(),
        window_size: MIN,
        from: from.map(|m| from_millis(m * 60_000)),
        to: to.map(|m| from_millis(m * 60_000)),
        limit,
    }
}

#[tokio::test]
async fn upserts_are_idempotent_and_corrections_win() {
    let s = SqliteStore::in_memory().unwrap();
    s.put_counts(MIN, &[wc("a", 0, 5), wc("a", 1, 7)])
        .await
        .unwrap();
    s.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    s.put_counts(MIN, &[wc("a", 1, 8)]).await.unwrap();
    let got = s.counts(&q("a", None, None, 100)).await.unwrap();
    let counts: Vec<u64> = got.iter().map(|w| w.count).collect();
    assert_eq!(counts, [5, 8]);
    assert!(got.iter().all(|w| w.samples.is_empty()));
}

#[tokio::test]
async fn ranges_are_half_open_limits_apply_and_sizes_do_not_mix() {
    let s = SqliteStore::in_memory().unwrap();
    let all: Vec<WindowCount> = (0..10).map(|i| wc("a", i, i as u64)).collect();
    s.put_counts(MIN, &all).await.unwrap();
    s.put_counts(MIN * 30, &[wc("a", 3, 99)]).await.unwrap();
    s.put_counts(MIN, &[wc("b", 3, 1)]).await.unwrap();
    let got = s.counts(&q("a", Some(2), Some(5), 100)).await.unwrap();
    assert_eq!(got.iter().map(|w| w.count).collect::<Vec<_>>(), [2, 3, 4]);
    let got = s.counts(&q("a", Some(2), None, 2)).await.unwrap();
    assert_eq!(got.iter().map(|w| w.count).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(s.counts(&q("c", None, None, 10)).await.unwrap(), vec![]);
}

#[tokio::test]
async fn alerts_round_trip_and_upsert_by_id_and_status() {
    let s = SqliteStore::in_memory().unwrap();
    let mut a = Alert {
        id: "a:threshold:1970-01-01T00:00:00Z".into(),
        topic: "a".into(),
        detector: "threshold".into(),
        status: AlertStatus::Firing,
        window_start: from_millis(0),
        window_end: from_millis(60_000),
        count: 10,
        expected: None,
        score: 1.0,
        started_at: from_millis(0),
        samples: vec![Sample {
            text: "hi".into(),
            url: Some("https://x/1".into()),
        }],
    };
    s.put_alert(&a).await.unwrap();
    s.put_alert(&a).await.unwrap();
    a.status = AlertStatus::Resolved;
    a.window_start = from_millis(120_000);
    a.expected = Some(2.5);
    s.put_alert(&a).await.unwrap();
    let got = s
        .alerts(&AlertsQuery {
            topic: "a".into(),
            from: None,
            to: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].status, AlertStatus::Firing);
    assert_eq!(got[0].samples[0].url.as_deref(), Some("https://x/1"));
    assert_eq!(got[1], a);
}

#[tokio::test]
async fn a_reopened_file_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viral.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.ping().await.unwrap();
        s.put_counts(MIN, &[wc("a", 0, 3)]).await.unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let got = s.counts(&q("a", None, None, 10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].count, 3);
}
