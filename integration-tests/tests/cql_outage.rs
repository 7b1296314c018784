//! The CQL database stopped for 20 s in the middle of a run of the three services, on a
//! database of the test's own: the aggregator and alerter go unready, keep retrying their
//! writes with backoff, recover by themselves, and the store ends up holding exactly the
//! counts of `viral replay` and the alerts the detectors give, which the aggregator's
//! query API serves.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::outage::{self, Outage};
use common::*;
use viral_integration_tests::cassandra;
use viral_integration_tests::config::quoted;
use viral_store::scylla::ScyllaStore;
use viral_store::{AlertsQuery, Order, Store};

/// The value of a counter in a Prometheus text page, 0 if absent.
fn counter(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn database_stopped_for_20_s_mid_run_loses_nothing() {
    let db = cassandra::own(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let store_config = cassandra::config(&db.address, "outage");
    // A second, lower threshold so that this shorter run has incidents to store.
    let extra = format!(
        "[[detectors]]\nkind = \"threshold\"\nthreshold = 180\nname = \"low\"\n\n\
         [store]\nkind = \"scylla\"\n\n[store.scylla]\nnodes = [{}]\nkeyspace = {}\n\
         request_timeout = \"2s\"\n",
        quoted(&db.address),
        quoted(&store_config.keyspace)
    );
    let d = Deployment::new(
        "cqloutage",
        &viral_integration_tests::kafka::bootstrap(),
        1,
        &extra,
    );
    // 18,000 s of posts at 200× (about 90 s): the outage falls mid-run.
    write_posts(&d.posts, 12_000);
    let ran = outage::run(
        &d,
        "200",
        Outage {
            length: Duration::from_secs(20),
            stop: &|| db.stop(),
            resume: &|| db.resume(),
            affected: &["aggregator", "alerter"],
        },
    )
    .await;

    // The writes failed while the database was away and were retried, not dropped.
    let page = reqwest::get(format!("http://{}/metrics", ran.aggregator.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failed = counter(
        &page,
        "viral_store_operations_total{op=\"put_counts\",result=\"error\"}",
    );
    assert!(
        failed >= 1.0,
        "no failed store write during the outage:\n{page}"
    );

    // Everything on the counts topic is in the database, exactly.
    let store = ScyllaStore::connect(store_config).await.unwrap();
    assert_eq!(
        all_stored_counts(&store).await,
        without_samples(ran.counts.clone()),
        "CQL store vs counts topic"
    );

    // The aggregator's query API reads the same rows back over HTTP.
    let stored = all_stored_counts(&store).await;
    let ocean: Vec<serde_json::Value> = stored
        .iter()
        .filter(|c| c.topic == "ocean-spray")
        .take(5000)
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let from = ocean[0]["window_start"].as_str().unwrap().to_owned();
    let page: serde_json::Value = reqwest::get(format!(
        "http://{}/api/v1/topics/ocean-spray/counts?from={from}&to=2100-01-01T00:00:00Z&limit=5000",
        ran.aggregator.ops
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        page["counts"].as_array().unwrap(),
        &ocean,
        "query API vs store"
    );

    // And the alerts the detector gives on those counts, none missing, none extra.
    let mut judge = viral_pipeline::alerter::Judge::new(vec![
        viral_config::DetectorConfig::Threshold {
            threshold: 205,
            name: None,
            resolve_after: None,
        },
        viral_config::DetectorConfig::Threshold {
            threshold: 180,
            name: Some("low".into()),
            resolve_after: None,
        },
    ])
    .unwrap();
    let mut by_time = ran.counts.clone();
    by_time.sort_by_key(|c| c.window_start);
    let want: BTreeSet<(String, String)> = by_time
        .iter()
        .flat_map(|c| judge.observe(c))
        .map(|a| (a.id, a.status.as_str().to_owned()))
        .collect();
    assert!(!want.is_empty(), "the data should trip the threshold");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut got = BTreeSet::new();
        for topic in ["ocean-spray", "cranberry", "juice"] {
            let q = AlertsQuery {
                topic: topic.into(),
                from: None,
                to: None,
                limit: 100_000,
                order: Order::OldestFirst,
            };
            for a in store.alerts(&q).await.unwrap() {
                got.insert((a.id, a.status.as_str().to_owned()));
            }
        }
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline && got.is_subset(&want),
            "alerts: got {got:?}\nwant {want:?}\n{}",
            ran.alerter.log_tail()
        );
        // Polling the store (the alerter has no output to await): it may be mid-backlog.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
