//! The aggregator stage on the in-memory bus: poison messages mixed into a stream of
//! mentions all reach the dead-letter topic with their reason and offset, are counted in
//! the metric, never stop the consumer, and leave the counts exactly as without them
//! (checked against the core engine run directly on the good mentions).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use viral_bus::{topics, Bus, MemoryBus};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};
use viral_core::{Mention, Post, WindowCount};
use viral_pipeline::aggregator::{Aggregator, Settings};
use viral_runtime::clock::SystemClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;

fn mentions(n: usize) -> Vec<Mention> {
    let topics = vec![
        ("ocean-spray".to_string(), vec!["ocean spray".to_string()]),
        ("cranberry".to_string(), vec!["cranberry".to_string()]),
    ];
    let matcher = viral_core::TopicMatcher::new(
        &topics
            .iter()
            .map(|(name, terms)| viral_core::TopicSpec {
                name: name.clone(),
                terms: terms.clone(),
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let cfg = viral_sources::synthetic::SyntheticConfig::default();
    viral_sources::synthetic::generate(&cfg, &topics, 1_600_992_000_000, 48 * 3_600_000)
        .flat_map(|p: Post| {
            matcher
                .find(&p.text)
                .into_iter()
                .map(|t| Mention {
                    topic: t.to_owned(),
                    post: p.clone(),
                })
                .collect::<Vec<_>>()
        })
        .take(n)
        .collect()
}

#[tokio::test]
async fn poison_goes_to_the_dead_letter_topic_and_counts_are_unaffected() {
    let good = mentions(5_000);
    let spec = WindowSpec::from_millis(1_800_000, 1_800_000, 60_000).unwrap();

    // What the counts must be: the engine on the good mentions alone.
    let mut engine = WindowEngine::new(spec);
    let mut expected: Vec<WindowCount> = Vec::new();
    for m in &good {
        engine.push(MentionRef::of(m, 0));
        expected.extend(engine.closed());
    }

    // Poison comes from any writer, up to what a broker stores (over 1 MiB by default),
    // beyond what viral itself publishes.
    let bus = Arc::new(MemoryBus::new(100_000).with_message_limit(2 << 20));
    let mut counts = bus.subscribe(topics::COUNTS, "test-counts").await.unwrap();
    let mut dead = bus
        .subscribe(topics::DEADLETTER, "test-dead")
        .await
        .unwrap();
    let poison: [(&str, Vec<u8>); 3] = [
        ("invalid_json", b"{not json".to_vec()),
        ("invalid_message", br#"{"topic":"x","id":1}"#.to_vec()),
        (
            "too_large",
            vec![b' '; viral_pipeline::deadletter::MAX_MESSAGE_BYTES + 1],
        ),
    ];
    let mut sent_poison = Vec::new();
    for (i, m) in good.iter().enumerate() {
        bus.publish(topics::MENTIONS, &m.topic, serde_json::to_vec(m).unwrap())
            .await
            .unwrap();
        if i % 5 == 0 && sent_poison.len() < 1000 {
            // Oversized ones are 1 MiB each: a few suffice.
            let k = sent_poison.len();
            let (reason, bytes) = &poison[if k % 50 == 0 { 2 } else { k % 2 }];
            bus.publish(topics::MENTIONS, "ocean-spray", bytes.clone())
                .await
                .unwrap();
            sent_poison.push(*reason);
        }
    }
    assert_eq!(sent_poison.len(), 1000);

    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let agg = Aggregator::new(
        bus.clone(),
        Arc::new(viral_store::sqlite::SqliteStore::in_memory().unwrap()),
        Arc::new(SystemClock),
        metrics.clone(),
        Health::new(),
        Settings {
            spec,
            idle_timeout: Duration::from_secs(3600),
            samples: 0,
            commit_interval: Duration::from_millis(50),
            topics: Default::default(),
            group: "viral-aggregator".into(),
        },
    );
    let task = tokio::spawn(agg.run(stop.clone()));

    // Every window the engine closed must arrive, in order, with the same counts.
    for want in &expected {
        let msg = counts.recv().await.expect("a window count");
        let got: WindowCount = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(&got, want);
    }
    let mut reasons = Vec::new();
    let mut offsets = Vec::new();
    for _ in 0..1000 {
        let msg = dead.recv().await.expect("a dead letter");
        let v: Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(v["stage"], "aggregator");
        assert_eq!(v["source_topic"], topics::MENTIONS);
        assert!(!v["error"].as_str().unwrap().is_empty());
        reasons.push(v["reason"].as_str().unwrap().to_owned());
        offsets.push(v["offset"].as_i64().unwrap());
    }
    assert_eq!(reasons, sent_poison);
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "source offsets recorded"
    );
    stop.cancel();
    task.await.unwrap().unwrap();

    let text = metrics.encode();
    for reason in ["invalid_json", "invalid_message", "too_large"] {
        let n = sent_poison.iter().filter(|r| **r == reason).count();
        let line =
            format!(r#"viral_dead_letters_total{{stage="aggregator",reason="{reason}"}} {n}"#);
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
}
