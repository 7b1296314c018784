//! Keys of `[bus.kafka]`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated (`host:port,host:port`).
    pub brokers: String,
    /// Partitions of topics viral creates when they are absent.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor of topics viral creates.
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
    /// How long a publish may wait for the broker's acknowledgement.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Extra librdkafka properties (`security.protocol`, `sasl.mechanism`, …), applied to
    /// producers and consumers. Secrets belong in the environment
    /// (`VIRAL__BUS__KAFKA__PROPERTIES__SASL.PASSWORD`), not in the file.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_partitions() -> i32 {
    3
}

fn default_replication() -> i32 {
    1
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

impl KafkaConfig {
    /// A config for `brokers` with every default.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            partitions: default_partitions(),
            replication_factor: default_replication(),
            publish_timeout: default_timeout(),
            properties: BTreeMap::new(),
        }
    }

    /// Problems name the key relative to `bus.kafka`.
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("brokers: must name at least one host:port".into());
        }
        if self.partitions < 1 {
            return Err(format!(
                "partitions = {}: must be at least 1",
                self.partitions
            ));
        }
        if self.replication_factor < 1 {
            return Err(format!(
                "replication_factor = {}: must be at least 1",
                self.replication_factor
            ));
        }
        Ok(())
    }
}
