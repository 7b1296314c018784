//! The benchmark's data on the broker: a topic pre-filled with Mention JSON (key = topic
//! name, as viral's producer writes it), and the bare consumer that reads it back.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use crate::probe::now_ms;

/// Create `topic` with `partitions` (an existing one is an error: datasets are fresh).
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in admin.create_topics([&new], &AdminOptions::new()).await? {
        if let Err((t, e)) = r {
            bail!("creating {t}: {e}");
        }
    }
    Ok(())
}

/// A small deterministic generator (xorshift), so every run writes the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn topic_name(i: u64) -> String {
    format!("topic-{i:05}")
}

/// One Mention as viral's producer publishes it (≈ 250 bytes).
pub fn mention(topic: &str, id: u64, created_ms: i64, observed_ms: i64) -> String {
    let t = |ms: i64| viral_core::time::format_rfc3339(&viral_core::time::from_millis(ms));
    format!(
        "{{\"topic\":\"{topic}\",\"id\":\"bench:{id}\",\"source\":\"bench\",\
         \"text\":\"Everyone is talking about {topic} today, and honestly the hype is real: post {id}\",\
         \"created_at\":\"{}\",\"observed_at\":\"{}\",\"url\":\"https://example.com/p/{id}\"}}",
        t(created_ms),
        t(observed_ms)
    )
}

pub fn producer(brokers: &str) -> Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

/// Send one record, waiting for queue space instead of failing when it is full.
pub fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, key: &str, payload: &str) {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((_, r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Fill `topic` with `n` mentions over `topics` topics, uniformly at random, event
/// times rising through `span` (ending an hour before now) with ±30 s of disorder.
pub fn fill(brokers: &str, topic: &str, n: u64, topics: u64, span: Duration) -> Result<()> {
    let p = producer(brokers)?;
    let names: Vec<String> = (0..topics).map(topic_name).collect();
    let span_ms = span.as_millis() as i64;
    let start = now_ms() - span_ms - 3_600_000;
    let mut rng = Rng::new(0x5eed);
    for i in 0..n {
        let r = rng.next();
        let name = &names[(r % topics) as usize];
        let t = start + (i as i64 * span_ms) / n as i64 + ((r >> 32) % 60_000) as i64 - 30_000;
        send(&p, topic, name, &mention(name, i, t, t + 1_500));
    }
    p.flush(Duration::from_secs(120))
        .context("flushing the producer")?;
    Ok(())
}

/// The practical limit: poll every message of `topic` and touch its payload, nothing
/// else. Prints `first`/`done` events like the Streams peer. Runs as its own process.
pub fn drain(brokers: &str, topic: &str, expect: u64) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-drain-{}", now_ms()))
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let (mut seen, mut bytes) = (0u64, 0usize);
    while seen < expect {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                bytes = bytes.wrapping_add(m.payload().map_or(0, |p| p.len()));
                seen += 1;
                if seen == 1 {
                    event("first", seen);
                }
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            None => {}
        }
    }
    event("done", seen);
    eprintln!("{bytes} bytes");
    // Stay alive until the harness has measured and kills us.
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn event(name: &str, records: u64) {
    println!(
        "{{\"event\":\"{name}\",\"at_ms\":{},\"records\":{records}}}",
        now_ms()
    );
}
