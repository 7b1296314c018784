//! Kafka bus (Apache Kafka and anything speaking its protocol: Redpanda, MSK, Event Hubs),
//! through librdkafka.
//!
//! - Publishing uses an idempotent producer (`enable.idempotence`, `acks=all`) and returns
//!   only once the broker has acknowledged, so a source can acknowledge its post after.
//! - Topics are created with the configured partitions when absent (once per process).
//! - Consumers never auto-commit: a stage commits an offset only when everything before it
//!   is safely processed, which is what makes counting exact across crashes.

mod config;
#[cfg(test)]
mod tests;

pub use config::KafkaConfig;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::{Bus, BusError, Message, Subscription};

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

pub struct KafkaBus {
    config: KafkaConfig,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Topics known to exist, so creation is attempted once per topic.
    ensured: Mutex<HashSet<String>>,
}

impl KafkaBus {
    pub fn new(config: KafkaConfig) -> Result<Self, BusError> {
        config.validate().map_err(BusError::Unavailable)?;
        let producer = client_config(&config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "message.timeout.ms",
                config.publish_timeout.as_millis().to_string(),
            )
            .create()
            .map_err(unavailable)?;
        let admin = client_config(&config).create().map_err(unavailable)?;
        Ok(Self {
            config,
            producer,
            admin,
            ensured: Mutex::default(),
        })
    }

    /// Create `topic` with the configured partitions unless it exists.
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        if self.lock().contains(topic) {
            return Ok(());
        }
        let new = NewTopic::new(
            topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        );
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(unavailable)?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(BusError::Unavailable(format!(
                        "cannot create topic {t}: {code}"
                    )))
                }
            }
        }
        self.lock().insert(topic.to_owned());
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ensured.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    c
}

#[async_trait]
impl Bus for KafkaBus {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.ensure_topic(topic).await?;
        let record = FutureRecord::to(topic).key(key).payload(&payload);
        self.producer
            .send(record, Timeout::After(self.config.publish_timeout))
            .await
            .map(|_| ())
            .map_err(|(e, _)| unavailable(e))
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.ensure_topic(topic).await?;
        let consumer: StreamConsumer = client_config(&self.config)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(unavailable)?;
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        Ok(Box::new(KafkaSubscription {
            topic: topic.to_owned(),
            consumer,
        }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.producer
            .client()
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|_| ())
            .map_err(unavailable)
    }
}

struct KafkaSubscription {
    topic: String,
    consumer: StreamConsumer,
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Option<Message> {
        loop {
            match self.consumer.recv().await {
                Ok(m) => {
                    return Some(Message {
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m
                            .key()
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                            .unwrap_or_default(),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    })
                }
                // librdkafka retries broker failures itself; errors here are reported
                // and the consumer keeps going.
                Err(KafkaError::MessageConsumption(code)) => {
                    tracing::warn!(topic = %self.topic, %code, "kafka consumer error");
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, error = %e, "kafka consumer error");
                }
            }
        }
    }

    async fn commit(&mut self, partition: i32, offset: i64) -> Result<(), BusError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
            .map_err(unavailable)?;
        // Synchronous: when this returns, a restart resumes from here. Stages commit at
        // window boundaries, not per message, so the round trip is rare.
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(unavailable)
    }
}
