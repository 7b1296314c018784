//! Checkpoints too large for commit metadata.
//!
//! A checkpoint rides in the offset commit's metadata, which brokers cap
//! (`offset.metadata.max.bytes`, 4096 by default). A larger one is written, inside the
//! same transaction, to a compacted topic keyed by group/topic/partition, and the
//! metadata holds a pointer to it (`@<partition>:<offset>`): committing the offset still
//! commits the checkpoint atomically.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::Shared;
use crate::BusError;

/// Largest checkpoint kept inline, below the broker default with room to spare.
pub(super) const INLINE_MAX: usize = 3500;

/// The metadata to commit for `checkpoint`.
pub(super) async fn encode(
    shared: &Shared,
    producer: &FutureProducer,
    group: &str,
    topic: &str,
    partition: i32,
    checkpoint: &str,
) -> Result<String, BusError> {
    if checkpoint.len() <= INLINE_MAX && !checkpoint.starts_with('@') {
        return Ok(checkpoint.to_owned());
    }
    let cp_topic = &shared.config.checkpoints_topic;
    shared.ensure_compacted(cp_topic).await?;
    let key = format!("{group}/{topic}/{partition}");
    let record = FutureRecord::to(cp_topic)
        .key(key.as_str())
        .payload(checkpoint.as_bytes());
    let mut sent = super::send::Sent::default();
    sent.send(producer, 0, record, shared.config.publish_timeout)
        .await?;
    let (partition, offset) = sent.delivered().await?;
    Ok(format!("@{partition}:{offset}"))
}

/// The checkpoint committed metadata stands for (`None` when there is none).
pub(super) fn resolve(shared: &Shared, metadata: &str) -> Result<Option<String>, String> {
    if metadata.is_empty() {
        return Ok(None);
    }
    let Some(pointer) = metadata.strip_prefix('@') else {
        return Ok(Some(metadata.to_owned()));
    };
    let (partition, offset) = pointer
        .split_once(':')
        .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
        .ok_or_else(|| format!("malformed checkpoint pointer {metadata:?}"))?;
    fetch(shared, partition, offset)
        .map(Some)
        .map_err(|e| format!("cannot read checkpoint {metadata:?}: {e}"))
}

fn fetch(shared: &Shared, partition: i32, offset: i64) -> Result<String, String> {
    let topic = &shared.config.checkpoints_topic;
    let reader: BaseConsumer = super::client_config(&shared.config)
        .set("group.id", "viral-checkpoint-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(|e| e.to_string())?;
    reader.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + shared.config.publish_timeout;
    while Instant::now() < deadline {
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.offset() == offset => {
                return std::str::from_utf8(m.payload().unwrap_or_default())
                    .map(str::to_owned)
                    .map_err(|e| e.to_string());
            }
            Some(Ok(m)) if m.offset() > offset => {
                return Err("the record is gone (compacted away?)".into())
            }
            Some(Err(e)) => tracing::warn!(error = %e, "reading a checkpoint"),
            _ => {}
        }
    }
    Err("timed out".into())
}
