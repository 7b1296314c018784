//! The three services as separate processes on the real Kafka broker: counts equal
//! `viral replay`'s; kill -9 of the aggregator at random points loses and repeats
//! nothing (poison included); two aggregator instances share the work exactly.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use viral_bus::Bus;
use viral_core::WindowCount;
use viral_integration_tests::services::Service;
use viral_store::{AlertsQuery, Store};

fn brokers() -> String {
    viral_integration_tests::kafka::bootstrap()
}

/// The SQLite store's counts, every topic, sorted like [`sort`].
async fn stored_counts(d: &Deployment) -> Vec<WindowCount> {
    all_stored_counts(&viral_store::sqlite::SqliteStore::open(&d.db).unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_in_counts_out_equal_to_viral_replay_and_alerts_follow() {
    let d = Deployment::new("e2e", &brokers(), 1, "");
    write_posts(&d.posts, 30_000);

    // What `viral replay` says about the same posts.
    let want = replay(&d, &d.posts);
    assert!(want.len() > 200, "a meaningful run: {} windows", want.len());

    let bus = d.bus(1);
    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    let mut aggregator = Service::start(
        "viral-aggregator",
        "aggregator",
        &d.config,
        &[("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "2s")],
        d.logs(),
    );
    let mut alerter = Service::start("viral-alerter", "alerter", &d.config, &[], d.logs());
    let got = produce_and_count(&d, &mut counts, &mut aggregator, &want).await;
    // The store keeps counts, not the sample posts.
    assert_eq!(
        stored_counts(&d).await,
        without_samples(got.clone()),
        "store vs counts topic"
    );

    // The alerter judged every window: its stored alerts are what the detectors say
    // about the replayed counts.
    let mut judge =
        viral_pipeline::alerter::Judge::new(vec![viral_config::DetectorConfig::Threshold {
            threshold: 205,
            name: None,
            resolve_after: None,
        }])
        .unwrap();
    let mut want_alerts: BTreeSet<(String, String)> = BTreeSet::new();
    let mut by_time = got.clone();
    by_time.sort_by_key(|c| c.window_start);
    for c in &by_time {
        for a in judge.observe(c) {
            want_alerts.insert((a.id, a.status.as_str().to_owned()));
        }
    }
    assert!(!want_alerts.is_empty(), "the threshold fires in this data");
    let store = viral_store::sqlite::SqliteStore::open(&d.db).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let mut got_alerts = BTreeSet::new();
        for topic in ["ocean-spray", "cranberry", "juice"] {
            for a in store
                .alerts(&AlertsQuery {
                    topic: topic.into(),
                    from: None,
                    to: None,
                    limit: 100_000,
                    order: viral_store::Order::OldestFirst,
                })
                .await
                .unwrap()
            {
                got_alerts.insert((a.id, a.status.as_str().to_owned()));
            }
        }
        if got_alerts == want_alerts {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && got_alerts.is_subset(&want_alerts),
            "alerts: got {got_alerts:?}\nwant {want_alerts:?}\n{}",
            alerter.log_tail()
        );
        // Polling the alerter's store (it has no output to await): it is mid-backlog.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(alerter.terminate().success(), "{}", alerter.log_tail());
}

/// Publish 1,000 poison messages into the mentions topic, spread over its partitions.
async fn poison(d: &Deployment, bus: &viral_bus::KafkaBus) {
    for i in 0..1000 {
        let payload = if i % 2 == 0 {
            b"{not json".to_vec()
        } else {
            br#"{"topic":"juice","id":7}"#.to_vec()
        };
        let key = ["ocean-spray", "cranberry", "juice"][i % 3];
        bus.publish(&d.topic("mentions"), key, payload)
            .await
            .unwrap();
    }
}

fn random_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos ^ (nanos >> 7)).wrapping_mul(0x9e37_79b9_7f4a_7c15) % n.max(1)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_points_loses_nothing_and_repeats_nothing() {
    let d = Deployment::new("kill9", &brokers(), 3, "");
    write_posts(&d.posts, 100_000);
    let bus = d.bus(3);
    // Poison first and last, mentions between: every partition carries some.
    poison(&d, &bus).await;
    produce(&d);
    poison(&d, &bus).await;
    let mentions = read_all(&d.brokers, &d.topic("mentions"));
    let (want, bad) = expected_counts(&mentions);
    let total: usize = mentions.values().map(Vec::len).sum();
    assert_eq!(bad, 2000);
    assert!(total - bad >= 100_000, "{} mentions", total - bad);

    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    let env = [
        ("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "2s"),
        ("VIRAL__BUS__KAFKA__INSTANCE_ID", "agg-0"),
    ];
    let start = || Service::start("viral-aggregator", "aggregator", &d.config, &env, d.logs());
    let mut aggregator = start();
    let n = want.len();
    let mut output = Awaited::default();
    for kill_at in [n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5] {
        output.until(&mut counts, |o| o.received >= kill_at).await;
        // Kill at a random moment shortly after that output, mid-stream.
        tokio::time::sleep(Duration::from_millis(random_below(400))).await;
        aggregator.kill9();
        aggregator = start();
    }
    // And once more when the trailing poison has been dead-lettered but the last windows
    // are likely still open: the successor re-reads that poison and must not send it
    // again.
    let mut letters = subscribe(&bus, &d.topic("deadletter")).await;
    await_messages(&mut letters, 2000).await;
    aggregator.kill9();
    aggregator = start();
    output.until(&mut counts, |o| o.has_all(&want)).await;
    assert!(
        aggregator.terminate().success(),
        "{}",
        aggregator.log_tail()
    );

    let got = decode_counts(&read_all(&d.brokers, &d.topic("counts")));
    assert_exact(&got, &want, "counts topic after 5 kills");
    assert_exact(
        &stored_counts(&d).await,
        &without_samples(want.clone()),
        "store after 5 kills",
    );

    // Every poison message dead-lettered exactly once, with its source offset.
    let letters = read_all(&d.brokers, &d.topic("deadletter"));
    let mut sources = BTreeSet::new();
    for (_, payload) in letters.values().flatten() {
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert!(["invalid_json", "invalid_message"].contains(&v["reason"].as_str().unwrap()));
        assert!(sources.insert((
            v["partition"].as_i64().unwrap(),
            v["offset"].as_i64().unwrap()
        )));
    }
    assert_eq!(
        sources.len(),
        2000,
        "each poison message dead-lettered once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_aggregators_share_the_partitions_and_match_one() {
    let d = Deployment::new("two", &brokers(), 4, "");
    write_posts(&d.posts, 40_000);
    produce(&d);
    let mentions = read_all(&d.brokers, &d.topic("mentions"));
    let (want, _) = expected_counts(&mentions);
    let bus = d.bus(4);
    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    let mut instances: Vec<Service> = ["agg-a", "agg-b"]
        .iter()
        .map(|id| {
            Service::start(
                "viral-aggregator",
                id,
                &d.config,
                &[
                    ("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "2s"),
                    ("VIRAL__BUS__KAFKA__INSTANCE_ID", id),
                ],
                d.logs(),
            )
        })
        .collect();
    Awaited::default()
        .until(&mut counts, |o| o.has_all(&want))
        .await;
    for s in &mut instances {
        assert!(s.terminate().success(), "{}", s.log_tail());
    }
    let got = decode_counts(&read_all(&d.brokers, &d.topic("counts")));
    assert_exact(&got, &want, "two instances");
    for s in &instances {
        let log = std::fs::read_to_string(d.logs().join(format!("{}.log", s.name))).unwrap();
        assert!(
            log.contains("partition assigned"),
            "{} never owned a partition:\n{log}",
            s.name
        );
    }
}
