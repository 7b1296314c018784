//! The store suite every backend passes, here against a real Apache Cassandra 5.0 over
//! CQL (the protocol ScyllaDB speaks), each case on a keyspace of its own created by the
//! same migration the services run; then what only a CQL store does: rows expire with
//! the retention, and the migration is safe to repeat and follows a changed retention.

use std::time::{Duration, Instant};

use viral_core::AlertStatus;
use viral_integration_tests::cassandra::{self, contact};
use viral_store::scylla::ScyllaStore;
use viral_store::testkit::{alert, all_alerts, counts_of, q, wc, MIN};
use viral_store::Store;

viral_store::store_suite!(cassandra::fresh_store("suite"));

/// Poll until `topic`'s one-minute counts are gone: expiry is the database's doing, with
/// nothing to await but the rows' absence.
async fn await_expired(store: &ScyllaStore, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !store
        .counts(&q(topic, MIN, None, None, 10))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "{topic}: rows never expired");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn rows_expire_after_the_retention() {
    let mut c = cassandra::config(&contact(), "ttl");
    c.retention = Duration::from_secs(5);
    let store = ScyllaStore::connect(c).await.unwrap();
    store.put_counts(MIN, &[wc("a", 0, 5)]).await.unwrap();
    store
        .put_alert(&alert("inc-1", AlertStatus::Firing, 0))
        .await
        .unwrap();
    // Written: readable until the TTL runs out.
    assert_eq!(
        counts_of(&store.counts(&q("a", MIN, None, None, 10)).await.unwrap()),
        [5]
    );
    assert_eq!(store.alerts(&all_alerts("a")).await.unwrap().len(), 1);
    await_expired(&store, "a").await;
    assert!(
        store.alerts(&all_alerts("a")).await.unwrap().is_empty(),
        "alerts expire with the same retention"
    );
}

#[tokio::test]
async fn migrating_again_keeps_data_and_applies_a_new_retention_to_new_rows() {
    let mut c = cassandra::config(&contact(), "migrate");
    c.retention = Duration::ZERO;
    let forever = ScyllaStore::connect(c.clone()).await.unwrap();
    forever.put_counts(MIN, &[wc("kept", 0, 1)]).await.unwrap();
    // A second process starting on the same keyspace: the migration is a no-op...
    let again = ScyllaStore::connect(c.clone()).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(
        counts_of(&again.counts(&q("kept", MIN, None, None, 10)).await.unwrap()),
        [1]
    );
    // ...until the retention changes: rows written after that expire, older ones keep
    // the TTL they were written with (none).
    c.retention = Duration::from_secs(5);
    let short = ScyllaStore::connect(c).await.unwrap();
    short.put_counts(MIN, &[wc("brief", 0, 2)]).await.unwrap();
    assert_eq!(
        counts_of(
            &short
                .counts(&q("brief", MIN, None, None, 10))
                .await
                .unwrap()
        ),
        [2]
    );
    await_expired(&short, "brief").await;
    assert_eq!(
        counts_of(&short.counts(&q("kept", MIN, None, None, 10)).await.unwrap()),
        [1]
    );
}

#[tokio::test]
async fn a_keyspace_from_before_alert_bands_gets_the_columns() {
    let c = cassandra::config(&contact(), "upgrade");
    let old = ScyllaStore::connect(c.clone()).await.unwrap();
    let mut plain = alert("old", AlertStatus::Firing, 0);
    plain.band = None;
    old.put_alert(&plain).await.unwrap();
    drop(old);
    // The alerts table as the first release created it.
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(contact())
        .build()
        .await
        .unwrap();
    for column in ["band_low", "band_high"] {
        let drop = format!("ALTER TABLE {}.alerts DROP {column}", c.keyspace);
        session.query_unpaged(drop.as_str(), &[]).await.unwrap();
    }
    session.await_schema_agreement().await.unwrap();
    let store = ScyllaStore::connect(c).await.unwrap();
    let mut banded = alert("new", AlertStatus::Firing, 1);
    banded.band = Some(viral_core::Band {
        low: 1.0,
        high: 4.5,
    });
    store.put_alert(&banded).await.unwrap();
    assert_eq!(
        store.alerts(&all_alerts("a")).await.unwrap(),
        vec![plain, banded]
    );
}

#[tokio::test]
async fn a_store_that_cannot_connect_reports_it_and_never_panics() {
    // Nothing listens on port 1: the background connection keeps failing, and every
    // operation says so instead of hanging or panicking.
    let store = ScyllaStore::connecting(viral_store::scylla::ScyllaConfig::new("127.0.0.1:1"));
    let err = store.ping().await.unwrap_err().to_string();
    assert!(err.contains("not connected"), "{err}");
    let err = store.put_counts(MIN, &[wc("a", 0, 1)]).await.unwrap_err();
    assert!(matches!(err, viral_store::StoreError::Backend(_)), "{err}");
    let err = ScyllaStore::connect(viral_store::scylla::ScyllaConfig::new("127.0.0.1:1"))
        .await
        .err()
        .expect("no database there")
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
