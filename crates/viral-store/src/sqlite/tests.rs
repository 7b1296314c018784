//! Against real SQLite files in a temporary directory, the way `viral standalone` uses them.

use tempfile::TempDir;

use super::*;
use crate::testkit::{alert, all_alerts, counts_of, q, wc, MIN};

/// The directory must outlive the store, so both are returned.
fn file_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("viral.db")).unwrap();
    (dir, store)
}

crate::store_suite!(async { file_store() });

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
async fn a_file_from_before_alert_bands_gets_the_columns_and_keeps_its_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viral.db");
    {
        // The alerts table as the first release created it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE alerts (
                id TEXT NOT NULL, status TEXT NOT NULL, topic TEXT NOT NULL,
                detector TEXT NOT NULL, window_start INTEGER NOT NULL,
                window_end INTEGER NOT NULL, count INTEGER NOT NULL, expected REAL,
                score REAL NOT NULL, started_at INTEGER NOT NULL, samples TEXT NOT NULL,
                PRIMARY KEY (id, status));
             INSERT INTO alerts VALUES ('old', 'firing', 'a', 'd', 0, 60000, 9, NULL, 2.0, 0, '[]');",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let mut banded = alert("new", AlertStatus::Firing, 1);
    banded.band = Some(viral_core::Band {
        low: 1.0,
        high: 4.5,
    });
    s.put_alert(&banded).await.unwrap();
    let got = s.alerts(&all_alerts("a")).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].id.as_str(), got[0].band), ("old", None));
    assert_eq!(got[1], banded);
}

#[tokio::test]
async fn ping_answers_in_memory() {
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

#[test]
fn two_processes_creating_the_same_file_at_once_both_succeed() {
    // The aggregator and alerter of one deployment start together on a new file; one of
    // them used to get "database is locked" from the switch to WAL and exit.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("viral.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(|_| ())
                })
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
    }
}
