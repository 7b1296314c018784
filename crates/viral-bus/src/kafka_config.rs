//! Keys of `[bus.kafka]`: parsed and checked without librdkafka (the `kafka` feature), so
//! every binary reads the same config file, whether or not it links the Kafka client.

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
    /// This instance's name, unique among the running instances of a stage: it makes
    /// the transactional id, so a restarted instance fences its predecessor. Default:
    /// the host name (unique per container or pod). When set explicitly it is also the
    /// consumer's static group membership (`group.instance.id`), so a restart takes its
    /// partitions straight back without a rebalance.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// How long a transaction left open by a vanished instance blocks readers.
    #[serde(default = "default_txn_timeout", with = "humantime_serde")]
    pub transaction_timeout: Duration,
    /// Compacted topic for checkpoints too large for commit metadata.
    #[serde(default = "default_checkpoints_topic")]
    pub checkpoints_topic: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.mechanism`, …), applied to
    /// producers and consumers. Secrets belong in the environment
    /// (`VIRAL__BUS__KAFKA__PROPERTIES__SASL.PASSWORD`), not in the file.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// The least `message.max.bytes` viral works with: its largest messages (a mention with
/// a 64 KiB text escaped six-fold, a dead letter) stay below it.
const MIN_MESSAGE_MAX_BYTES: usize = 512 * 1024;

fn default_partitions() -> i32 {
    3
}

fn default_replication() -> i32 {
    1
}

fn default_txn_timeout() -> Duration {
    Duration::from_secs(15)
}

fn default_checkpoints_topic() -> String {
    "viral.checkpoints.v1".into()
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
            instance_id: None,
            transaction_timeout: default_txn_timeout(),
            checkpoints_topic: default_checkpoints_topic(),
            properties: BTreeMap::new(),
        }
    }

    /// The largest key + payload to publish: [`crate::MAX_MESSAGE_BYTES`], or less when
    /// the property `message.max.bytes` is set lower (less room for the framing).
    pub fn max_message_bytes(&self) -> usize {
        self.properties
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(crate::MAX_MESSAGE_BYTES, |m| {
                m.saturating_sub(crate::RECORD_OVERHEAD_BYTES)
                    .min(crate::MAX_MESSAGE_BYTES)
            })
    }

    /// [`Self::instance_id`], or the host name.
    pub fn instance_id(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            gethostname::gethostname()
                .into_string()
                .unwrap_or_else(|_| "viral".into())
        })
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
        if self
            .instance_id
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err("instance_id: must not be empty".into());
        }
        if self.transaction_timeout < Duration::from_secs(1) {
            return Err("transaction_timeout: must be at least 1s".into());
        }
        if let Some(v) = self.properties.get("message.max.bytes") {
            if v.trim()
                .parse::<usize>()
                .is_ok_and(|n| n >= MIN_MESSAGE_MAX_BYTES)
            {
                return Ok(());
            }
            return Err(format!(
                "properties.\"message.max.bytes\" = {v:?}: must be a number of bytes, at least \
                 {MIN_MESSAGE_MAX_BYTES} (viral's messages are bounded below that)"
            ));
        }
        Ok(())
    }
}
