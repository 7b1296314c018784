//! Aggregator throughput on the real broker next to a bare rdkafka consumer reading the
//! same topic (the ceiling: fetch and hand over, nothing else).
//!
//! ```sh
//! integration-tests/kafka.sh ensure
//! cargo run --release -p viral-integration-tests --example kafka_bench -- 1000000 3
//! ```
//!
//! Publishes N mentions (the demo generator's posts, matched) to a fresh topic with P
//! partitions, then times, best of 3 each: (1) a BaseConsumer polling every message and
//! touching its payload; (2) the aggregator stage — decode, window, de-duplicate,
//! transactional commits of counts and offsets, counts to SQLite — until it has consumed
//! all N. Prints wall time, messages/s, and process CPU seconds.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use viral_bus::{Bus, KafkaBus, KafkaConfig, TopicNames};
use viral_core::window::WindowSpec;
use viral_core::{Mention, TopicMatcher, TopicSpec};
use viral_pipeline::aggregator::{Aggregator, Settings};
use viral_runtime::clock::SystemClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn publish(bus: &KafkaBus, topic: &str, n: usize) -> usize {
    let topics: Vec<(String, Vec<String>)> = (0..10)
        .map(|i| (format!("brand-{i}"), vec![format!("brand{i}")]))
        .collect();
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|(name, terms)| TopicSpec {
            name: name.clone(),
            terms: terms.clone(),
        })
        .collect();
    let matcher = TopicMatcher::new(&specs).expect("topics");
    let cfg = viral_sources::synthetic::SyntheticConfig::default();
    let mut batch = Vec::new();
    let mut sent = 0;
    for post in
        viral_sources::synthetic::generate(&cfg, &topics, 1_600_992_000_000, 30 * 24 * 3_600_000)
    {
        for t in matcher.find(&post.text) {
            let m = Mention {
                topic: t.to_owned(),
                post: post.clone(),
            };
            batch.push((m.topic.clone(), serde_json::to_vec(&m).expect("json")));
            sent += 1;
        }
        if batch.len() >= 10_000 || sent >= n {
            bus.publish_all(topic, std::mem::take(&mut batch))
                .await
                .expect("publish");
        }
        if sent >= n {
            break;
        }
    }
    bus.publish_all(topic, batch).await.expect("publish");
    sent
}

fn bare(brokers: &str, topic: &str, partitions: i32, n: usize) -> (f64, f64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let (mut seen, mut bytes) = (0usize, 0usize);
    while seen < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                seen += 1;
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
    assert!(bytes > 0);
    (t0.elapsed().as_secs_f64(), cpu_seconds() - c0)
}

async fn aggregator(bus: Arc<KafkaBus>, topic: &str, n: usize, round: usize) -> (f64, f64) {
    let metrics = Metrics::new();
    let dir = tempfile::tempdir().expect("tmp");
    let store = viral_store::sqlite::SqliteStore::open(&dir.path().join("bench.db")).expect("db");
    let stop = CancellationToken::new();
    let agg = Aggregator::new(
        bus,
        Arc::new(store),
        Arc::new(SystemClock),
        metrics.clone(),
        Health::new(),
        Settings {
            spec: WindowSpec::from_millis(1_800_000, 1_800_000, 60_000).expect("spec"),
            idle_timeout: Duration::from_secs(3600),
            samples: 5,
            commit_interval: Duration::from_secs(1),
            topics: TopicNames {
                mentions: topic.to_owned(),
                counts: format!("{topic}.counts"),
                deadletter: format!("{topic}.deadletter"),
            },
            group: format!("bench-agg-{round}"),
        },
    );
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let task = tokio::spawn(agg.run(stop.clone()));
    let needle = "viral_bus_messages_in_total{stage=\"aggregator\"} ";
    loop {
        let text = metrics.encode();
        let done = text
            .lines()
            .find_map(|l| l.strip_prefix(needle))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    stop.cancel();
    let _ = task.await;
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let partitions: i32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let brokers = viral_integration_tests::kafka::bootstrap();
    let bus = Arc::new(
        KafkaBus::new(KafkaConfig {
            partitions,
            ..KafkaConfig::new(brokers.clone())
        })
        .expect("bus"),
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let topic = format!("bench.mentions.{nanos}");
    let t0 = Instant::now();
    let n = publish(&bus, &topic, n).await;
    eprintln!(
        "published {n} mentions to {topic} ({partitions} partitions) in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    for round in 0..3 {
        let b = tokio::task::spawn_blocking({
            let (brokers, topic) = (brokers.clone(), topic.clone());
            move || bare(&brokers, &topic, partitions, n)
        })
        .await
        .expect("bare");
        let a = aggregator(bus.clone(), &topic, n, round).await;
        println!(
            "round {round}: bare consumer {:.0} msg/s ({:.2}s wall, {:.2}s cpu) | aggregator {:.0} msg/s ({:.2}s wall, {:.2}s cpu) | ratio {:.0}%",
            n as f64 / b.0, b.0, b.1, n as f64 / a.0, a.0, a.1, 100.0 * b.0 / a.0
        );
    }
}
