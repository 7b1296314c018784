//! Every kind of message the code emits validates against `schemas/`: posts from the
//! synthetic source, mentions the producer stage publishes on a bus, window counts the
//! engine closes (with and without samples), alerts the alerter's judge raises. And the
//! schemas do reject what they should, so the checks above are not vacuous.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use viral_bus::{topics, Bus, MemoryBus};
use viral_core::window::{MentionRef, WindowEngine};
use viral_core::{Mention, Post, WindowCount};
use viral_integration_tests::config::TestConfig;
use viral_integration_tests::schema::Schema;
use viral_pipeline::alerter::Judge;
use viral_runtime::metrics::Metrics;

/// The demo's topics in 30-minute windows every 10 minutes, a low threshold, a spike.
fn config() -> String {
    TestConfig::demo()
        .default_lateness()
        .hop("10m")
        .threshold(50)
        .with("[sources.synthetic]\nspike_after = \"2h\"\nspike_duration = \"1h\"")
        .toml()
}

fn posts(config: &viral_config::Config) -> Vec<Post> {
    let topics: Vec<(String, Vec<String>)> = config
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.terms.clone()))
        .collect();
    let synthetic = config.sources.synthetic.clone().unwrap_or_default();
    viral_sources::synthetic::generate(&synthetic, &topics, 1_600_992_000_000, 4 * 3_600_000)
        .collect()
}

#[tokio::test]
async fn every_emitted_message_validates() {
    let config = viral_config::load_str(&config()).unwrap();
    let posts = posts(&config);
    assert!(
        posts.len() > 1000,
        "the generator produced only {}",
        posts.len()
    );

    let post_schema = Schema::load("post");
    for p in &posts {
        post_schema.assert_valid(&serde_json::to_value(p).unwrap());
    }

    // Mentions, as the producer stage really publishes them on a bus.
    let bus = Arc::new(MemoryBus::new(posts.len() * 2 + 16));
    let mut sub = bus.subscribe(topics::MENTIONS, "test").await.unwrap();
    let (tx, rx) = mpsc::channel(posts.len() + 1);
    for p in &posts {
        tx.send(p.clone()).await.unwrap();
    }
    drop(tx);
    let matcher = Arc::new(config.matcher().unwrap());
    let bus_dyn: Arc<dyn Bus> = bus.clone();
    let clock = Arc::new(viral_runtime::clock::SystemClock);
    // The generator's posts keep their own time, as the synthetic source's do.
    viral_pipeline::producer::Producer {
        matcher,
        bus: bus_dyn,
        clock,
        metrics: Metrics::new(),
        health: viral_runtime::health::Health::new(),
        topics: viral_bus::TopicNames::default(),
    }
    .run(viral_pipeline::producer::Inputs::recorded(rx))
    .await
    .unwrap();
    let mention_schema = Schema::load("mention");
    let mut mentions = Vec::new();
    // The producer has finished, so everything it published is queued; stop at the end.
    while let Ok(Some(msg)) =
        tokio::time::timeout(std::time::Duration::from_millis(0), sub.recv()).await
    {
        let v: Value = serde_json::from_slice(&msg.payload).unwrap();
        mention_schema.assert_valid(&v);
        assert_eq!(
            v["topic"].as_str(),
            Some(msg.key.as_str()),
            "key = topic name"
        );
        mentions.push(serde_json::from_value::<Mention>(v).unwrap());
    }
    assert!(mentions.len() > 500, "only {} mentions", mentions.len());

    // Window counts with samples (bus) and without (replay, store).
    let mut engine = WindowEngine::new(config.window_spec().unwrap()).with_samples(5);
    let mut closed: Vec<WindowCount> = Vec::new();
    for m in &mentions {
        engine.push(MentionRef::of(m, 0));
        closed.extend(engine.closed());
    }
    engine.flush();
    closed.extend(engine.closed());
    let count_schema = Schema::load("window_count");
    assert!(closed.iter().any(|w| !w.samples.is_empty()));
    assert!(closed.iter().any(|w| w.count == 0) || closed.iter().all(|w| w.count > 0));
    for w in &closed {
        count_schema.assert_valid(&serde_json::to_value(w).unwrap());
        let bare = WindowCount {
            samples: vec![],
            ..w.clone()
        };
        count_schema.assert_valid(&serde_json::to_value(&bare).unwrap());
    }

    // Alerts from the alerter's judge: the spike must fire and then resolve.
    let mut judge = Judge::new(config.detectors.clone()).unwrap();
    let alerts: Vec<_> = closed.iter().flat_map(|w| judge.observe(w)).collect();
    let alert_schema = Schema::load("alert");
    assert!(alerts
        .iter()
        .any(|a| a.status == viral_core::AlertStatus::Firing));
    assert!(alerts
        .iter()
        .any(|a| a.status == viral_core::AlertStatus::Resolved));
    for a in &alerts {
        alert_schema.assert_valid(&serde_json::to_value(a).unwrap());
    }
    // Alerts of detectors with a band carry it.
    let mut burst = Judge::new(vec![viral_config::DetectorConfig::Burst {
        factor: None,
        min_count: Some(5),
        name: None,
        resolve_after: None,
    }])
    .unwrap();
    let banded: Vec<_> = closed
        .iter()
        .flat_map(|w| burst.observe(w))
        .filter(|a| a.band.is_some())
        .collect();
    assert!(!banded.is_empty(), "the spike fires the burst detector");
    for a in &banded {
        alert_schema.assert_valid(&serde_json::to_value(a).unwrap());
    }
}

#[test]
fn schemas_reject_what_they_should() {
    let post = Schema::load("post");
    let good =
        json!({"id": "x:1", "source": "x", "text": "t", "created_at": "2020-09-25T18:00:00Z"});
    post.assert_valid(&good);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("created_at");
    assert!(!post.errors(&missing).is_empty());
    let mut bad_time = good.clone();
    bad_time["created_at"] = json!("yesterday");
    assert!(
        !post.errors(&bad_time).is_empty(),
        "date-time format is checked"
    );

    let mention = Schema::load("mention");
    assert!(!mention.errors(&good).is_empty(), "a mention needs a topic");
    let mut m = good.clone();
    m["topic"] = json!("ocean-spray");
    mention.assert_valid(&m);
    m.as_object_mut().unwrap().remove("text");
    assert!(!mention.errors(&m).is_empty(), "a mention is a post");

    let wc = Schema::load("window_count");
    let w = json!({"topic": "t", "window_start": "2020-09-25T18:00:00Z",
                   "window_end": "2020-09-25T18:30:00Z", "count": -1});
    assert!(!wc.errors(&w).is_empty());

    let alert = Schema::load("alert");
    let a = json!({"id": "i", "topic": "t", "detector": "threshold", "status": "open",
                   "window_start": "2020-09-25T18:00:00Z", "window_end": "2020-09-25T18:30:00Z",
                   "count": 1, "score": 1.0, "started_at": "2020-09-25T18:00:00Z", "samples": []});
    assert!(!alert.errors(&a).is_empty(), "status is firing or resolved");
}
