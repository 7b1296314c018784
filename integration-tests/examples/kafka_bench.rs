//! Aggregator throughput on the real broker next to a bare rdkafka consumer reading the
//! same topic (the ceiling: fetch and hand over, nothing else).
//!
//! ```sh
//! integration-tests/kafka.sh ensure
//! cargo run --release -p viral-integration-tests --example kafka_bench -- 1000000 3 3
//! ```
//! (mentions, partitions, rounds)
//!
//! Publishes N mentions (the demo generator's posts, matched) to a fresh topic with P
//! partitions, then times, each round: (1) a BaseConsumer polling every message and
//! touching its payload; (2) the aggregator stage — decode, window, de-duplicate,
//! transactional commits of counts and offsets, counts to SQLite — until it has consumed
//! all N. Rates are steady state, from the first message to the last (the aggregator
//! joins a consumer group first; the bare consumer is assigned by hand). Prints
//! messages/s, wall and process CPU seconds, and the time to the first message.

use std::sync::Arc;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    cpu_of("self")
}

/// CPU seconds of the broker (its pid from `kafka.sh`'s state), 0 if unknown.
fn broker_cpu() -> f64 {
    let pid = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/kafka/pid"))
        .unwrap_or_default();
    if pid.trim().is_empty() {
        return 0.0;
    }
    cpu_of(pid.trim())
}

fn cpu_of(pid: &str) -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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

fn bare(brokers: &str, topic: &str, partitions: i32, n: usize) -> Run {
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
    let t0 = Instant::now();
    let (mut seen, mut bytes) = (0usize, 0usize);
    let mut first = None;
    while seen < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if first.is_none() {
                    first = Some((Instant::now(), cpu_seconds()));
                }
                seen += 1;
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
    assert!(bytes > 0);
    let (t1, c1) = first.expect("consumed");
    Run {
        startup: t1.duration_since(t0).as_secs_f64(),
        messages: n - 1,
        wall: t1.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c1,
    }
}

/// One timed run.
struct Run {
    /// Until the first message.
    startup: f64,
    messages: usize,
    wall: f64,
    cpu: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.wall
    }
}

/// viral's Kafka subscription drained by a loop that does nothing else: the bus's own
/// cost (polling thread, batching, hand-over), without decoding or windowing.
async fn subscription(bus: &KafkaBus, topic: &str, n: usize, round: usize) -> Run {
    let mut sub = bus
        .subscribe(topic, &format!("bench-sub-{round}"))
        .await
        .expect("subscribe");
    let t0 = Instant::now();
    let mut first = None;
    let mut seen = 0;
    while seen < n {
        if let Ok(viral_bus::Event::Message(m)) = sub.next().await {
            if first.is_none() {
                first = Some((Instant::now(), cpu_seconds()));
            }
            seen += 1;
            assert!(!m.payload.is_empty());
        }
    }
    let (t1, c1) = first.expect("consumed");
    Run {
        startup: t1.duration_since(t0).as_secs_f64(),
        messages: n - 1,
        wall: t1.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c1,
    }
}

async fn aggregator(bus: Arc<KafkaBus>, topic: &str, n: usize, round: usize) -> Run {
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
    let t0 = Instant::now();
    let task = tokio::spawn(agg.run(stop.clone()));
    let needle = "viral_bus_messages_in_total{stage=\"aggregator\"} ";
    let consumed = || {
        metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(needle))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as usize
    };
    // Steady state: from the first message (after the group join, which the bare
    // consumer, assigned by hand, does not pay) to the last.
    let mut first = None;
    loop {
        let done = consumed();
        if done > 0 && first.is_none() {
            first = Some((Instant::now(), cpu_seconds(), done));
        }
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (t1, c1, before) = first.expect("consumed");
    let out = Run {
        startup: t1.duration_since(t0).as_secs_f64(),
        messages: n - before,
        wall: t1.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c1,
    };
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
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
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
    for round in 0..rounds {
        let b = tokio::task::spawn_blocking({
            let (brokers, topic) = (brokers.clone(), topic.clone());
            move || bare(&brokers, &topic, partitions, n)
        })
        .await
        .expect("bare");
        let b0 = broker_cpu();
        let s = subscription(&bus, &topic, n, round).await;
        println!(
            "round {round}: subscription {:.0} msg/s ({:.2}s wall, {:.2}s cpu, broker {:.2}s cpu)",
            s.rate(),
            s.wall,
            s.cpu,
            broker_cpu() - b0
        );
        let a = aggregator(bus.clone(), &topic, n, round).await;
        println!(
            "round {round}: bare consumer {:.0} msg/s ({:.2}s wall, {:.2}s cpu, first message after {:.2}s) | aggregator {:.0} msg/s ({:.2}s wall, {:.2}s cpu, first message after {:.2}s) | ratio {:.0}%",
            b.rate(), b.wall, b.cpu, b.startup, a.rate(), a.wall, a.cpu, a.startup, 100.0 * a.rate() / b.rate()
        );
    }
}
