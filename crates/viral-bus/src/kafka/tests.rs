//! Against a real broker (integration-tests/kafka.sh, started on demand).

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test.{name}.{}.{nanos}", std::process::id())
}

fn bus(partitions: i32) -> KafkaBus {
    let brokers = viral_integration_tests::kafka::bootstrap();
    KafkaBus::new(KafkaConfig {
        partitions,
        ..KafkaConfig::new(brokers)
    })
    .unwrap()
}

#[tokio::test]
async fn published_messages_come_back_in_order_per_key() {
    let bus = bus(3);
    let topic = unique("order");
    bus.ping().await.unwrap();
    for i in 0..30 {
        let key = format!("k{}", i % 3);
        bus.publish(&topic, &key, format!("{key}:{i}").into_bytes())
            .await
            .unwrap();
    }
    let mut sub = bus.subscribe(&topic, &unique("group")).await.unwrap();
    let mut per_key: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    let mut partitions = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let m = sub.next().await.unwrap();
        let text = String::from_utf8(m.payload).unwrap();
        let (key, i) = text.split_once(':').unwrap();
        assert_eq!(key, m.key);
        per_key
            .entry(m.key.clone())
            .or_default()
            .push(i.parse().unwrap());
        // One key, one partition.
        assert_eq!(*partitions.entry(m.key).or_insert(m.partition), m.partition);
    }
    for (key, seq) in per_key {
        let mut sorted = seq.clone();
        sorted.sort();
        assert_eq!(seq, sorted, "messages of {key} out of order");
        assert_eq!(seq.len(), 10);
    }
}

#[tokio::test]
async fn a_group_resumes_from_its_committed_offset() {
    let bus = bus(1);
    let (topic, group) = (unique("resume"), unique("group"));
    for i in 0..10 {
        bus.publish(&topic, "k", vec![i]).await.unwrap();
    }
    {
        let mut sub = bus.subscribe(&topic, &group).await.unwrap();
        for want in 0..4u8 {
            let m = sub.next().await.unwrap();
            assert_eq!(m.payload, vec![want]);
        }
        // Everything before offset 4 is processed.
        sub.commit(0, 4).await.unwrap();
    }
    let mut sub = bus.subscribe(&topic, &group).await.unwrap();
    let m = sub.next().await.unwrap();
    assert_eq!(
        (m.offset, m.payload),
        (4, vec![4]),
        "resumed after the committed offset"
    );
}

#[tokio::test]
async fn topics_are_created_with_the_configured_partitions() {
    let bus = bus(4);
    let topic = unique("partitions");
    bus.ensure_topic(&topic).await.unwrap();
    bus.ensure_topic(&topic).await.unwrap();
    let md = bus
        .producer
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 4);
}

#[test]
fn config_is_validated() {
    assert!(KafkaConfig::new("")
        .validate()
        .unwrap_err()
        .contains("brokers"));
    let c = KafkaConfig {
        partitions: 0,
        ..KafkaConfig::new("127.0.0.1:9092")
    };
    assert!(c.validate().unwrap_err().contains("partitions"));
}
