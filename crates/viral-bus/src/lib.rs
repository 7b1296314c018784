//! The bus: how viral's stages talk, and the only way they do.
//!
//! # Layout
//!
//! - [`Bus`] / [`Subscription`]: the trait every bus implements (publish with
//!   acknowledgement, consume as a group, commit progress).
//! - [`memory`]: an in-process bus for `viral standalone` and unit tests.
//! - [`kafka`]: Apache Kafka (and compatible brokers) through librdkafka.
//!
//! Payloads are bytes (JSON) on every bus, so the in-memory path exercises the same
//! encoding, decoding and dead-lettering as Kafka does.

pub mod kafka;
pub mod memory;

use async_trait::async_trait;
use thiserror::Error;

pub use kafka::{KafkaBus, KafkaConfig};
pub use memory::MemoryBus;

/// Topic names (configurable later; these are DESIGN.md's).
pub mod topics {
    pub const MENTIONS: &str = "viral.mentions.v1";
    pub const COUNTS: &str = "viral.counts.v1";
    pub const DEADLETTER: &str = "viral.deadletter.v1";
}

/// One message read from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum BusError {
    #[error("the bus is closed")]
    Closed,
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// A message bus with consumer groups.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Returns once the bus has accepted the message; until then the caller must not
    /// acknowledge it to its own source.
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError>;

    /// Join consumer group `group` on `topic`.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Is the bus reachable (for /readyz)?
    async fn ping(&self) -> Result<(), BusError>;
}

/// A group member's stream of messages.
#[async_trait]
pub trait Subscription: Send {
    /// The next message; `None` once the bus has shut down.
    async fn next(&mut self) -> Option<Message>;

    /// Record that everything before `offset` in `partition` is fully processed.
    async fn commit(&mut self, partition: i32, offset: i64) -> Result<(), BusError>;
}
