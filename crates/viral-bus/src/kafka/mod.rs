//! Kafka bus (Apache Kafka and anything speaking its protocol: Redpanda, MSK, Event Hubs),
//! through librdkafka.
//!
//! - Publishing uses an idempotent producer (`enable.idempotence`, `acks=all`) and returns
//!   only once the broker has acknowledged, so a source can acknowledge its post after.
//! - Topics are created with the configured partitions when absent (once per process).
//! - Consumers never auto-commit and read `read_committed`; a stage commits its output and
//!   its offsets in one transaction ([`txn`]), with its checkpoint as commit metadata
//!   ([`checkpoints`]). That is what makes counting exact across crashes.

mod checkpoints;
mod consumer;
mod send;
#[cfg(test)]
mod tests;
mod txn;

pub use crate::KafkaConfig;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::{Bus, BusError, Subscription};

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// What the bus, its subscriptions and their transactions share.
struct Shared {
    config: KafkaConfig,
    admin: AdminClient<DefaultClientContext>,
    /// Topics known to exist, so creation is attempted once per topic.
    ensured: Mutex<HashSet<String>>,
}

impl Shared {
    async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        self.create(topic, &[]).await
    }

    async fn ensure_compacted(&self, topic: &str) -> Result<(), BusError> {
        self.create(topic, &[("cleanup.policy", "compact")]).await
    }

    /// Create `topic` with the configured partitions unless it exists.
    async fn create(&self, topic: &str, settings: &[(&str, &str)]) -> Result<(), BusError> {
        if self.lock().contains(topic) {
            return Ok(());
        }
        let mut new = NewTopic::new(
            topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        );
        for (k, v) in settings {
            new = new.set(k, v);
        }
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

pub struct KafkaBus {
    shared: Arc<Shared>,
    producer: FutureProducer,
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
            shared: Arc::new(Shared {
                config,
                admin,
                ensured: Mutex::default(),
            }),
            producer,
        })
    }

    /// Create `topic` with the configured partitions unless it exists.
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        self.shared.ensure_topic(topic).await
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
        self.publish_all(topic, vec![(key.to_owned(), payload)])
            .await
    }

    async fn publish_all(
        &self,
        topic: &str,
        messages: Vec<(String, Vec<u8>)>,
    ) -> Result<(), BusError> {
        self.ensure_topic(topic).await?;
        // Enqueueing is synchronous and in call order, so order per key is kept while
        // librdkafka batches; only the confirmations are awaited.
        let mut sent = send::Sent::default();
        for (i, (key, payload)) in messages.iter().enumerate() {
            let record = FutureRecord::to(topic)
                .key(key.as_str())
                .payload(payload.as_slice());
            sent.send(
                &self.producer,
                i,
                record,
                self.shared.config.publish_timeout,
            )
            .await?;
        }
        sent.finish().await
    }

    fn max_message_bytes(&self) -> usize {
        self.shared.config.max_message_bytes()
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.ensure_topic(topic).await?;
        Ok(Box::new(consumer::KafkaSubscription::start(
            self.shared.clone(),
            topic,
            group,
        )?))
    }

    async fn ping(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(5))
                .map(|_| ())
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
    }
}
