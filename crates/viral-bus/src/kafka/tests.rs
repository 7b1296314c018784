//! Against a real broker (integration-tests/kafka.sh, started on demand).

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use crate::{Assignment, Event, Progress, Record};

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
        let m = sub.recv().await.unwrap();
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

/// The first event of a fresh member: its assignment.
async fn assignment(sub: &mut Box<dyn Subscription>) -> Vec<Assignment> {
    match sub.next().await.unwrap() {
        Event::Assigned(a) => a,
        other => panic!("expected an assignment, got {other:?}"),
    }
}

async fn resume_with_checkpoint(checkpoint: String) {
    let bus = bus(1);
    let (topic, out, group) = (unique("resume"), unique("out"), unique("group"));
    for i in 0..10 {
        bus.publish(&topic, "k", vec![i]).await.unwrap();
    }
    {
        let mut sub = bus.subscribe(&topic, &group).await.unwrap();
        assert_eq!(
            assignment(&mut sub).await,
            [Assignment {
                partition: 0,
                offset: None,
                checkpoint: None
            }]
        );
        for want in 0..4u8 {
            assert_eq!(sub.recv().await.unwrap().payload, vec![want]);
        }
        // Everything before offset 4 is processed, and this is what it produced.
        let record = Record {
            topic: out.clone(),
            key: "k".into(),
            payload: b"output".to_vec(),
        };
        let progress = Progress {
            partition: 0,
            offset: 4,
            checkpoint: Some(checkpoint.clone()),
        };
        sub.commit(vec![record], vec![progress]).await.unwrap();
    }
    let mut sub = bus.subscribe(&topic, &group).await.unwrap();
    assert_eq!(
        assignment(&mut sub).await,
        [Assignment {
            partition: 0,
            offset: Some(4),
            checkpoint: Some(checkpoint)
        }]
    );
    let m = sub.recv().await.unwrap();
    assert_eq!(
        (m.offset, m.payload),
        (4, vec![4]),
        "resumed after the commit"
    );
    let mut reader = bus.subscribe(&out, &unique("reader")).await.unwrap();
    assert_eq!(reader.recv().await.unwrap().payload, b"output");
}

#[tokio::test]
async fn a_member_resumes_from_the_committed_offset_and_checkpoint() {
    resume_with_checkpoint(r#"{"watermark":1}"#.into()).await;
}

#[tokio::test]
async fn checkpoints_beyond_the_metadata_limit_survive_too() {
    let big = format!("{{\"topics\":\"{}\"}}", "x".repeat(50_000));
    assert!(big.len() > checkpoints::INLINE_MAX);
    resume_with_checkpoint(big).await;
}

#[tokio::test]
async fn a_second_member_gets_partitions_only_after_the_first_let_go() {
    let bus = bus(2);
    let (topic, group) = (unique("rebalance"), unique("group"));
    let mut first = bus.subscribe(&topic, &group).await.unwrap();
    let mine: Vec<i32> = assignment(&mut first)
        .await
        .iter()
        .map(|a| a.partition)
        .collect();
    assert_eq!(mine, [0, 1]);
    let mut second = bus.subscribe(&topic, &group).await.unwrap();
    let joined = tokio::spawn(async move {
        let got = assignment(&mut second).await;
        (second, got)
    });
    // The first member is told before anything moves; the move waits for its next call.
    let revoked = match first.next().await.unwrap() {
        Event::Revoked(p) => p,
        other => panic!("expected a revocation, got {other:?}"),
    };
    assert!(!joined.is_finished());
    let again = tokio::spawn(async move {
        let a = assignment(&mut first).await;
        (first, a)
    });
    let (_second, theirs) = joined.await.unwrap();
    let (_first, ours) = again.await.unwrap();
    let mut all: Vec<i32> = theirs.iter().chain(&ours).map(|a| a.partition).collect();
    all.sort();
    assert_eq!(all, [0, 1], "every partition has exactly one owner");
    assert_eq!(revoked, [0, 1]);
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
    let mut c = KafkaConfig::new("127.0.0.1:9092");
    c.properties
        .insert("message.max.bytes".into(), "100000".into());
    assert!(c.validate().unwrap_err().contains("message.max.bytes"));
    c.properties
        .insert("message.max.bytes".into(), "600000".into());
    c.validate().unwrap();
    assert_eq!(
        c.max_message_bytes(),
        600_000 - crate::RECORD_OVERHEAD_BYTES
    );
}

/// Bytes that lz4 cannot shrink, so that the broker sees their full size.
fn incompressible(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn refused(result: Result<(), BusError>) -> Vec<(usize, bool)> {
    match result {
        Err(BusError::Rejected(r)) => r.iter().map(|r| (r.index, r.too_large)).collect(),
        other => panic!("expected a refusal for good, got {other:?}"),
    }
}

/// One message over librdkafka's `message.max.bytes` used to be retried forever (and
/// every publish after it waited): it is refused for good, by index, and the others of
/// the batch are delivered.
#[tokio::test]
async fn a_message_too_large_for_librdkafka_is_refused_and_the_rest_delivered() {
    let bus = bus(1);
    let topic = unique("too-large");
    assert_eq!(bus.max_message_bytes(), crate::MAX_MESSAGE_BYTES);
    let batch = vec![
        ("k".to_string(), b"before".to_vec()),
        ("k".to_string(), vec![b'x'; 1_010_091]),
        ("k".to_string(), b"after".to_vec()),
    ];
    assert_eq!(refused(bus.publish_all(&topic, batch).await), [(1, true)]);
    assert_eq!(
        refused(bus.publish(&topic, "k", vec![b'x'; 1_010_091]).await),
        [(0, true)]
    );
    bus.publish(&topic, "k", b"later".to_vec()).await.unwrap();
    let mut sub = bus.subscribe(&topic, &unique("group")).await.unwrap();
    for want in ["before", "after", "later"] {
        assert_eq!(sub.recv().await.unwrap().payload, want.as_bytes());
    }
}

/// The broker's own limit (here a topic's `max.message.bytes`) refuses a record after
/// librdkafka took it: refused for good too, not retried.
#[tokio::test]
async fn a_message_the_broker_refuses_is_refused_for_good() {
    let bus = bus(1);
    let topic = unique("broker-limit");
    bus.shared
        .create(&topic, &[("max.message.bytes", "2048")])
        .await
        .unwrap();
    assert_eq!(
        refused(bus.publish(&topic, "k", incompressible(8192)).await),
        [(0, true)]
    );
    bus.publish(&topic, "k", b"small".to_vec()).await.unwrap();
    let mut sub = bus.subscribe(&topic, &unique("group")).await.unwrap();
    assert_eq!(sub.recv().await.unwrap().payload, b"small");
}

fn record(topic: &str, payload: Vec<u8>) -> Record {
    Record {
        topic: topic.to_owned(),
        key: "k".into(),
        payload,
    }
}

/// A transaction holding a record too large is refused, naming it, and leaves nothing
/// behind; the same commit without it then succeeds.
#[tokio::test]
async fn a_commit_with_a_record_too_large_is_refused_whole_and_can_be_redone() {
    let bus = bus(1);
    let (topic, out, group) = (unique("txn-in"), unique("txn-out"), unique("group"));
    bus.publish(&topic, "k", vec![0]).await.unwrap();
    let mut sub = bus.subscribe(&topic, &group).await.unwrap();
    assignment(&mut sub).await;
    sub.recv().await.unwrap();
    let progress = || {
        vec![Progress {
            partition: 0,
            offset: 1,
            checkpoint: None,
        }]
    };
    let records = vec![
        record(&out, b"aborted".to_vec()),
        record(&out, vec![b'x'; 1_010_091]),
    ];
    assert_eq!(refused(sub.commit(records, progress()).await), [(1, true)]);
    let records = vec![record(&out, b"one".to_vec()), record(&out, b"two".to_vec())];
    sub.commit(records, progress()).await.unwrap();
    let mut reader = bus.subscribe(&out, &unique("reader")).await.unwrap();
    assert_eq!(reader.recv().await.unwrap().payload, b"one");
    assert_eq!(reader.recv().await.unwrap().payload, b"two");
    drop(sub);
    let mut again = bus.subscribe(&topic, &group).await.unwrap();
    assert_eq!(assignment(&mut again).await[0].offset, Some(1));
}

/// librdkafka's queue full (`QueueFull`) in the middle of a transaction: the commit
/// waits for room instead of failing, and everything arrives.
#[tokio::test]
async fn a_commit_larger_than_librdkafkas_queue_completes() {
    let brokers = viral_integration_tests::kafka::bootstrap();
    let mut config = KafkaConfig::new(brokers);
    config
        .properties
        .insert("queue.buffering.max.messages".into(), "2".into());
    let bus = KafkaBus::new(config).unwrap();
    let (topic, out, group) = (unique("queue-in"), unique("queue-out"), unique("group"));
    bus.publish(&topic, "k", vec![0]).await.unwrap();
    let mut sub = bus.subscribe(&topic, &group).await.unwrap();
    assignment(&mut sub).await;
    sub.recv().await.unwrap();
    let records: Vec<Record> = (0..50u8).map(|i| record(&out, vec![i])).collect();
    let progress = Progress {
        partition: 0,
        offset: 1,
        checkpoint: Some(format!("{{\"big\":\"{}\"}}", "x".repeat(10_000))),
    };
    sub.commit(records, vec![progress]).await.unwrap();
    let mut reader = bus.subscribe(&out, &unique("reader")).await.unwrap();
    for i in 0..50u8 {
        assert_eq!(reader.recv().await.unwrap().payload, [i]);
    }
}
