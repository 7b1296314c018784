//! Output and progress as one Kafka transaction.
//!
//! A stage's records and its consumer offsets (with their checkpoints as commit
//! metadata) are committed together through `send_offsets_to_transaction`, so consumers
//! reading `read_committed` see a window count exactly when the aggregator's progress
//! past it is recorded — never twice after a crash, never lost.
//!
//! The transactional id is `<group>.<instance_id>`: a restarted instance with the same id
//! fences its predecessor and aborts whatever it left open at once, instead of waiting
//! for the transaction timeout.

use std::sync::Arc;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{checkpoints, send, unavailable, Shared};
use crate::{BusError, Progress, Record};

pub(super) struct Transactions {
    shared: Arc<Shared>,
    group: String,
    producer: Option<FutureProducer>,
}

impl Transactions {
    pub(super) fn new(shared: Arc<Shared>, group: &str) -> Self {
        Self {
            shared,
            group: group.to_owned(),
            producer: None,
        }
    }

    /// The transactional producer, created and initialised on first use.
    async fn producer(&mut self) -> Result<FutureProducer, BusError> {
        if let Some(p) = &self.producer {
            return Ok(p.clone());
        }
        let config = &self.shared.config;
        let id = format!("{}.{}", self.group, config.instance_id());
        let producer: FutureProducer = super::client_config(config)
            .set("transactional.id", &id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "transaction.timeout.ms",
                config.transaction_timeout.as_millis().to_string(),
            )
            .create()
            .map_err(unavailable)?;
        let (p, timeout) = (producer.clone(), config.publish_timeout);
        tokio::task::spawn_blocking(move || p.init_transactions(timeout))
            .await
            .map_err(unavailable)?
            .map_err(|e| BusError::Unavailable(format!("transactional id {id}: {e}")))?;
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    pub(super) async fn commit(
        &mut self,
        group: ConsumerGroupMetadata,
        topic: &str,
        records: Vec<Record>,
        progress: Vec<Progress>,
    ) -> Result<(), BusError> {
        if records.is_empty() && progress.is_empty() {
            return Ok(());
        }
        let topics: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.topic.as_str()).collect();
        for t in topics {
            self.shared.ensure_topic(t).await?;
        }
        let producer = self.producer().await?;
        let result = self
            .transact(&producer, group, topic, records, progress)
            .await;
        if result.is_err() {
            // Leave nothing half-done; a fresh producer (same id) starts clean next time.
            let timeout = self.shared.config.publish_timeout;
            let p = producer.clone();
            let _ = tokio::task::spawn_blocking(move || p.abort_transaction(timeout)).await;
            self.producer = None;
        }
        result
    }

    async fn transact(
        &self,
        producer: &FutureProducer,
        group: ConsumerGroupMetadata,
        topic: &str,
        records: Vec<Record>,
        progress: Vec<Progress>,
    ) -> Result<(), BusError> {
        producer.begin_transaction().map_err(unavailable)?;
        let timeout = self.shared.config.publish_timeout;
        let mut sent = send::Sent::default();
        for (i, r) in records.iter().enumerate() {
            let record = FutureRecord::to(&r.topic)
                .key(r.key.as_str())
                .payload(r.payload.as_slice());
            sent.send(producer, i, record, timeout).await?;
        }
        if sent.refused() {
            // A transaction is all or nothing: the caller aborts it, and may commit again
            // without what was refused.
            return sent.known().await;
        }
        let mut offsets = TopicPartitionList::new();
        for p in &progress {
            let metadata = match &p.checkpoint {
                Some(cp) => {
                    checkpoints::encode(&self.shared, producer, &self.group, topic, p.partition, cp)
                        .await?
                }
                None => String::new(),
            };
            let mut elem = offsets.add_partition(topic, p.partition);
            elem.set_offset(Offset::Offset(p.offset))
                .map_err(unavailable)?;
            elem.set_metadata(metadata);
        }
        let p = producer.clone();
        let committed = tokio::task::spawn_blocking(move || {
            if offsets.count() > 0 {
                p.send_offsets_to_transaction(&offsets, &group, timeout)?;
            }
            p.commit_transaction(timeout)
        })
        .await
        .map_err(unavailable)?;
        if let Err(e) = committed {
            // A record the broker refused for good fails the commit: name it, so that the
            // caller does not retry it forever.
            sent.known().await?;
            return Err(unavailable(e));
        }
        sent.finish().await?;
        Ok(())
    }
}
