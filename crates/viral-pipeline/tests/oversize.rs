//! Oversized input on the memory bus (which refuses messages over its limit, as Kafka
//! does): the producer cuts what it carries and dead-letters what it cannot send, the
//! aggregator bounds its window counts and redoes a commit the bus refuses; neither is
//! ever wedged, and real posts keep being counted exactly. (The same on the real broker:
//! integration-tests/tests/oversize.rs.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;
use viral_bus::{topics, Bus, BusError, MemoryBus, Subscription};
use viral_core::limits::{MAX_TEXT_BYTES, SAMPLE_TEXT_BYTES};
use viral_core::time::{from_millis, parse_rfc3339};
use viral_core::{Mention, Post, TopicMatcher, TopicSpec, WindowCount};
use viral_pipeline::aggregator::{Aggregator, Settings};
use viral_pipeline::producer;
use viral_runtime::clock::SystemClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;

/// A bus that claims to take the usual maximum while its inner memory bus takes far less:
/// a broker whose own limit is lower than the client's (a topic's `max.message.bytes`),
/// so that messages pass the stages' checks and are refused on the way.
struct Stricter(MemoryBus);

#[async_trait]
impl Bus for Stricter {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.0.publish(topic, key, payload).await
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.0.subscribe(topic, group).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

fn post(id: &str, text: String) -> Post {
    Post {
        id: id.into(),
        source: "test".into(),
        text,
        created_at: parse_rfc3339("2020-09-25T18:00:00Z").unwrap(),
        observed_at: Some(parse_rfc3339("2020-09-25T18:00:01Z").unwrap()),
        author: None,
        url: None,
        lang: None,
    }
}

fn matcher() -> Arc<TopicMatcher> {
    Arc::new(
        TopicMatcher::new(&[TopicSpec {
            name: "ocean-spray".into(),
            terms: vec!["ocean spray".into()],
        }])
        .unwrap(),
    )
}

async fn produce(bus: Arc<dyn Bus>, posts: Vec<Post>) -> Metrics {
    let (tx, rx) = mpsc::channel(posts.len());
    for p in posts {
        tx.send(p).await.unwrap();
    }
    drop(tx);
    let metrics = Metrics::new();
    let clock = Arc::new(SystemClock);
    let run = producer::run(rx, matcher(), bus, clock, metrics.clone());
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("the producer is wedged")
        .expect("the producer ends when its input does");
    metrics
}

/// Longest a stage may take to produce what a test waits for: past it, it is wedged.
const PATIENCE: Duration = Duration::from_secs(60);

async fn next_json(sub: &mut Box<dyn Subscription>) -> Value {
    let msg = tokio::time::timeout(PATIENCE, sub.recv())
        .await
        .expect("nothing arrived: the stage is wedged")
        .expect("a message");
    serde_json::from_slice(&msg.payload).unwrap()
}

#[tokio::test]
async fn the_producer_cuts_what_it_carries_and_dead_letters_what_it_cannot_send() {
    let bus = Arc::new(MemoryBus::new(64));
    let mut mentions = bus.subscribe(topics::MENTIONS, "m").await.unwrap();
    let mut dead = bus.subscribe(topics::DEADLETTER, "d").await.unwrap();
    // The issue's body: one post of 1,010,091 bytes, over the bus's 1,000,000.
    let huge = format!("Ocean Spray {}", "é".repeat(505_000));
    let mut long_url = post("url", "ocean spray".into());
    long_url.url = Some(format!("https://e.com/{}", "u".repeat(3000)));
    let posts = vec![
        post("first", "ocean spray".into()),
        post("huge", huge.clone()),
        post(
            &"i".repeat(2000),
            "ocean spray, with an id no cut can fix".into(),
        ),
        long_url,
        post("last", "ocean spray".into()),
    ];
    let metrics = produce(bus.clone(), posts).await;

    let mut got = Vec::new();
    for _ in 0..4 {
        let m: Mention = serde_json::from_value(next_json(&mut mentions).await).unwrap();
        got.push((m.post.id, m.post.text.len(), m.post.url));
    }
    let cut = viral_core::limits::truncate(&huge, MAX_TEXT_BYTES).len();
    assert!(cut <= MAX_TEXT_BYTES && cut > MAX_TEXT_BYTES - 2);
    assert_eq!(
        got,
        [
            ("first".to_string(), 11, None),
            ("huge".to_string(), cut, None),
            ("url".to_string(), 11, None),
            ("last".to_string(), 11, None),
        ]
    );
    let letter = next_json(&mut dead).await;
    assert_eq!(
        (&letter["stage"], &letter["reason"], &letter["source_topic"]),
        (
            &Value::from("producer"),
            &Value::from("too_large"),
            &Value::from(topics::MENTIONS)
        )
    );
    assert_eq!(letter["error"], "id: 2000 bytes, longer than 1024");
    let text = metrics.encode();
    assert!(
        text.contains(r#"viral_dead_letters_total{stage="producer",reason="too_large"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"viral_mentions_published_total{topic="ocean-spray"} 4"#),
        "{text}"
    );
}

/// A mention the bus refuses although it passed the producer's check (the broker's limit
/// is lower than librdkafka's) is dead-lettered, not retried: the producer goes on.
#[tokio::test]
async fn a_mention_the_bus_refuses_is_dead_lettered_and_the_producer_goes_on() {
    let inner = MemoryBus::new(64).with_message_limit(1000);
    let mut mentions = inner.subscribe(topics::MENTIONS, "m").await.unwrap();
    let mut dead = inner.subscribe(topics::DEADLETTER, "d").await.unwrap();
    let bus = Arc::new(Stricter(inner));
    let posts = vec![
        post("big", format!("ocean spray {}", "x".repeat(8000))),
        post("small", "ocean spray".into()),
    ];
    let metrics = produce(bus, posts).await;
    let m: Mention = serde_json::from_value(next_json(&mut mentions).await).unwrap();
    assert_eq!(m.post.id, "small");
    let letter = next_json(&mut dead).await;
    assert_eq!(letter["reason"], "too_large");
    assert!(
        letter["error"]
            .as_str()
            .unwrap()
            .contains("over the bus's limit of 1000"),
        "{letter}"
    );
    // Its letter (with a 1 KiB excerpt) was over this bus's limit too: it went without.
    assert_eq!(letter["payload"], "");
    let text = metrics.encode();
    assert!(
        text.contains(r#"viral_dead_letters_total{stage="producer",reason="too_large"} 1"#),
        "{text}"
    );
}

fn mention(id: usize, minute: i64, text: &str) -> Vec<u8> {
    let mut p = post(&id.to_string(), text.to_owned());
    let t = 1_600_992_000_000 + minute * 60_000;
    p.created_at = from_millis(t);
    p.observed_at = Some(from_millis(t));
    serde_json::to_vec(&Mention {
        topic: "ocean-spray".into(),
        post: p,
    })
    .unwrap()
}

/// Publish mentions (id, minute, text) of topic ocean-spray, as another writer would.
async fn feed(bus: &dyn Bus, mentions: impl IntoIterator<Item = (usize, i64, String)>) {
    for (id, minute, text) in mentions {
        let payload = mention(id, minute, &text);
        bus.publish(topics::MENTIONS, "ocean-spray", payload)
            .await
            .unwrap();
    }
}

fn aggregator(bus: Arc<dyn Bus>, metrics: &Metrics) -> Aggregator {
    Aggregator::new(
        bus,
        Arc::new(viral_store::sqlite::SqliteStore::in_memory().unwrap()),
        Arc::new(SystemClock),
        metrics.clone(),
        Health::new(),
        Settings {
            spec: viral_core::WindowSpec::from_millis(600_000, 600_000, 0).unwrap(),
            idle_timeout: Duration::from_secs(3600),
            samples: 5,
            commit_interval: Duration::from_millis(20),
            topics: Default::default(),
            group: "viral-aggregator".into(),
        },
    )
}

async fn next_count(sub: &mut Box<dyn Subscription>) -> WindowCount {
    serde_json::from_value(next_json(sub).await).unwrap()
}

/// Five posts of ~205 KB made one window's count (5 samples) larger than the bus takes,
/// and the aggregator restarted from the same commit forever. Samples are cut to 1 KiB:
/// the count goes out, exact, and so do the windows after it.
#[tokio::test]
async fn five_posts_of_205_kb_make_a_small_window_count() {
    let bus = Arc::new(MemoryBus::new(1000));
    let mut counts = bus.subscribe(topics::COUNTS, "c").await.unwrap();
    let text = format!("ocean spray {}", "z".repeat(205_000));
    feed(&*bus, (0..5).map(|i| (i, 1, text.clone()))).await;
    let real = (5..12).map(|i| (i, 11 + i as i64, "ocean spray".to_string()));
    feed(&*bus, real).await;
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let task = tokio::spawn(aggregator(bus.clone(), &metrics).run(stop.clone()));
    let first = next_count(&mut counts).await;
    assert_eq!(first.count, 5);
    assert_eq!(first.samples.len(), 5);
    assert!(first
        .samples
        .iter()
        .all(|s| s.text.len() <= SAMPLE_TEXT_BYTES && s.text.starts_with("ocean spray zzz")));
    let second = next_count(&mut counts).await;
    assert_eq!(
        (second.window_start, second.count),
        (from_millis(1_600_992_600_000), 4)
    );
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(!metrics.encode().contains("viral_stage_restarts_total{"));
}

/// A window count the bus refuses although it passed the check: the commit is redone
/// with the count sent without its samples, and the aggregator goes on, never
/// restarting from the same commit.
#[tokio::test]
async fn a_commit_the_bus_refuses_is_redone_without_what_it_refused() {
    let inner = MemoryBus::new(1000).with_message_limit(3000);
    let mut counts = inner.subscribe(topics::COUNTS, "c").await.unwrap();
    let bus = Arc::new(Stricter(inner));
    let text = format!("ocean spray {}", "z".repeat(900));
    feed(&*bus, (0..5).map(|i| (i, 1, text.clone()))).await;
    // Three in the second window, and one that closes it.
    let real = (5..9).map(|i| (i, if i < 8 { 11 } else { 25 }, "ocean spray".to_string()));
    feed(&*bus, real).await;
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let task = tokio::spawn(aggregator(bus.clone(), &metrics).run(stop.clone()));
    let first = next_count(&mut counts).await;
    assert_eq!((first.count, first.samples.len()), (5, 0));
    let second = next_count(&mut counts).await;
    assert_eq!((second.count, second.samples.len()), (3, 3));
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(!metrics.encode().contains("viral_stage_restarts_total{"));
}
