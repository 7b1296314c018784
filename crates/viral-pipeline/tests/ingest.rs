//! The HTTP ingest and the producer together, on the memory bus: a 202 means the
//! mentions are already on the bus; a bus that refuses them means no 202 (503 after
//! `ack_timeout`), while the producer keeps retrying. And a stranger's clock cannot move
//! viral's: with the aggregator behind them (the standalone pipeline), a backdated first
//! post and a post dated a month ahead open no past and move no watermark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use viral_bus::{topics, Bus, BusError, MemoryBus, Subscription, TopicNames};
use viral_core::time::{format_rfc3339, from_millis, to_millis};
use viral_core::window::WindowSpec;
use viral_core::{Mention, TopicMatcher, TopicSpec, WindowCount};
use viral_pipeline::aggregator::{Aggregator, Settings};
use viral_pipeline::producer;
use viral_runtime::clock::{Clock, SystemClock};
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_sources::http::{HttpIngestConfig, HttpIngestSource, NAME, PATH};
use viral_sources::live::SourceMonitor;
use viral_sources::Source;

const TOKEN: &str = "t0ken";
const TOPIC: &str = topics::MENTIONS;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The memory bus, refusing every publish while `refuse` is set.
struct Flaky {
    inner: MemoryBus,
    refuse: AtomicBool,
}

#[async_trait]
impl Bus for Flaky {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable("the broker is away".into()));
        }
        self.inner.publish(topic, key, payload).await
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe(topic, group).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Ingest + producer on `bus`; returns the ingest URL.
async fn pipeline(
    bus: Arc<Flaky>,
    health: &Health,
    ack_timeout: Duration,
    stop: &CancellationToken,
) -> String {
    let matcher = TopicMatcher::new(&[TopicSpec {
        name: "ocean-spray".into(),
        terms: vec!["ocean spray".into()],
    }])
    .unwrap();
    let (acked_tx, acked) = mpsc::channel(8);
    let (posts_tx, posts) = mpsc::channel(8);
    let config = HttpIngestConfig {
        listen: "127.0.0.1:0".into(),
        ack_timeout,
        ..HttpIngestConfig::default()
    };
    let source = HttpIngestSource::bind(
        config,
        TOKEN.into(),
        SourceMonitor::detached(NAME),
        acked_tx,
    )
    .unwrap();
    let url = format!("http://{}{PATH}", source.local_addr().unwrap());
    tokio::spawn(Box::new(source).run(posts_tx, stop.clone()));
    let producer = producer::Producer {
        matcher: Arc::new(matcher),
        bus,
        clock: Arc::new(SystemClock),
        metrics: Metrics::new(),
        health: health.clone(),
        topics: TopicNames::default(),
    };
    tokio::spawn(producer.run(producer::Inputs {
        acked,
        ..producer::Inputs::live(posts)
    }));
    url
}

fn post(id: &str, text: &str) -> Value {
    json!({"id": id, "source": "gateway", "text": text, "created_at": "2020-09-25T18:00:00Z"})
}

async fn send(url: &str, body: Value) -> u16 {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_202_means_the_mentions_are_on_the_bus() {
    let bus = Arc::new(Flaky {
        inner: MemoryBus::new(16),
        refuse: AtomicBool::new(false),
    });
    let mut sub = bus.subscribe(TOPIC, "test").await.unwrap();
    let stop = CancellationToken::new();
    let url = pipeline(bus.clone(), &Health::new(), Duration::from_secs(30), &stop).await;

    let status = send(
        &url,
        json!([post("1", "Ocean Spray!"), post("2", "nothing")]),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        sub.lag(),
        [(0, 1)],
        "the mention was published before the answer"
    );
    let m = sub.recv().await.unwrap();
    let mention: Mention = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(
        (mention.topic.as_str(), mention.post.id.as_str()),
        ("ocean-spray", "1")
    );
    assert_eq!(mention.post.source, "gateway");
    // Matching nothing, a post is acknowledged at once.
    assert_eq!(send(&url, post("3", "cranberries")).await, 202);
    assert_eq!(sub.lag(), [(0, 0)]);
    stop.cancel();
}

#[tokio::test]
async fn no_202_while_the_bus_refuses_and_the_post_gets_through_afterwards() {
    let bus = Arc::new(Flaky {
        inner: MemoryBus::new(16),
        refuse: AtomicBool::new(true),
    });
    let mut sub = bus.subscribe(TOPIC, "test").await.unwrap();
    let stop = CancellationToken::new();
    let health = Health::new();
    let url = pipeline(bus.clone(), &health, Duration::from_millis(300), &stop).await;

    assert_eq!(send(&url, post("1", "ocean spray")).await, 503);
    assert_eq!(sub.lag(), [(0, 0)]);
    // A producer that cannot deliver is not ready.
    assert_eq!(health.snapshot().get(producer::PUBLISH), Some(&false));
    assert!(!health.ready());
    // The producer keeps the batch and retries; once the broker is back it is published.
    bus.refuse.store(false, Ordering::SeqCst);
    let m = tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .expect("the retried mention")
        .unwrap();
    let mention: Mention = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(mention.post.id, "1");
    // Ready again once a publish went through (the next post's answer follows it).
    assert_eq!(send(&url, post("2", "nothing")).await, 202);
    assert_eq!(send(&url, post("3", "ocean spray")).await, 202);
    assert!(health.ready(), "{:?}", health.snapshot());
    stop.cancel();
}

fn dated(id: &str, created_at: i64, observed_at: Option<i64>) -> serde_json::Value {
    let at = |t| format_rfc3339(&from_millis(t));
    let mut p = json!({"id": id, "source": "gateway", "text": "Ocean Spray!", "created_at": at(created_at)});
    if let Some(o) = observed_at {
        p["observed_at"] = json!(at(o));
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn backdated_and_future_dated_posts_move_nothing_and_later_posts_count_exactly() {
    let bus = Arc::new(Flaky {
        inner: MemoryBus::new(10_000),
        refuse: AtomicBool::new(false),
    });
    let mut counts = bus.subscribe(topics::COUNTS, "test").await.unwrap();
    let stop = CancellationToken::new();
    let url = pipeline(bus.clone(), &Health::new(), Duration::from_secs(30), &stop).await;
    let aggregator = Aggregator::new(
        bus.clone(),
        Arc::new(viral_store::sqlite::SqliteStore::in_memory().unwrap()),
        Arc::new(SystemClock),
        Metrics::new(),
        Health::new(),
        Settings {
            // One-second windows and lateness, so that windows close within seconds.
            spec: WindowSpec::from_millis(1000, 1000, 1000).unwrap(),
            idle_timeout: Duration::from_millis(200),
            samples: 0,
            commit_interval: Duration::from_millis(20),
            topics: Default::default(),
            group: "viral-aggregator".into(),
        },
    );
    tokio::spawn(aggregator.run(stop.clone()));
    let started = SystemClock.now_ms();

    // The first post of the stream, backdated a month (its observed_at too).
    let back = started - 30 * DAY_MS;
    assert_eq!(send(&url, dated("back", back, Some(back))).await, 202);
    // A post that says it was written and seen a month from now.
    let ahead = started + 30 * DAY_MS;
    assert_eq!(send(&url, dated("ahead", ahead, Some(ahead))).await, 202);
    // Then real posts, written now.
    let real = SystemClock.now_ms();
    let batch: Vec<_> = (0..5)
        .map(|i| dated(&format!("real-{i}"), real, None))
        .collect();
    assert_eq!(send(&url, json!(batch)).await, 202);

    // Windows come out in order: once the real posts' window is out, so is every one
    // before it.
    let mut got: Vec<WindowCount> = Vec::new();
    while !got
        .last()
        .is_some_and(|w| to_millis(&w.window_start) <= real && real < to_millis(&w.window_end))
    {
        let msg = tokio::time::timeout(Duration::from_secs(60), counts.recv())
            .await
            .expect("the real posts' window closes")
            .expect("the bus is open");
        got.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    stop.cancel();

    // The future-dated post counts once, as of its arrival; the backdated one is late.
    let total: u64 = got.iter().map(|w| w.count).sum();
    assert_eq!(total, 6, "{got:?}");
    assert!(got.last().unwrap().count >= 5, "{got:?}");
    // No window reaches back to the backdated post nor ahead to the future-dated one:
    // the topic's windows begin at the first post that counted.
    let first = to_millis(&got[0].window_start);
    assert!(
        first >= started - 2000 && got.len() <= 10,
        "windows from {} ({} of them)",
        format_rfc3339(&from_millis(first)),
        got.len()
    );
}
