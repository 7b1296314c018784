//! The bus: how viral's stages talk, and the only way they do.
//!
//! # Layout
//!
//! - [`Bus`] / [`Subscription`]: the trait every bus implements (publish with
//!   acknowledgement, consume as a group, commit progress together with output).
//! - [`memory`]: an in-process bus for `viral standalone` and unit tests.
//! - [`kafka`]: Apache Kafka (and compatible brokers) through librdkafka.
//!
//! Payloads are bytes (JSON) on every bus, so the in-memory path exercises the same
//! encoding, decoding and dead-lettering as Kafka does.
//!
//! # Exactness
//!
//! A consuming stage that keeps state (the aggregator's open windows) needs three things
//! from the bus, and [`Subscription`] gives exactly those: to be told which partitions it
//! owns and what state it left for each ([`Event::Assigned`] with the checkpoint it
//! committed), to be told before it loses one ([`Event::Revoked`], acknowledged by the
//! next call to [`Subscription::next`], so a partition is never processed by two members
//! at once), and to publish its output and record its progress as one unit
//! ([`Subscription::commit`]): after a crash either both happened or neither did.

pub mod kafka;
pub mod memory;

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use thiserror::Error;

pub use kafka::{KafkaBus, KafkaConfig};
pub use memory::MemoryBus;

/// Default topic names (DESIGN.md's).
pub mod topics {
    pub const MENTIONS: &str = "viral.mentions.v1";
    pub const COUNTS: &str = "viral.counts.v1";
    pub const DEADLETTER: &str = "viral.deadletter.v1";
}

/// The topics the stages talk through (`[bus.topics]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicNames {
    pub mentions: String,
    pub counts: String,
    pub deadletter: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            mentions: topics::MENTIONS.into(),
            counts: topics::COUNTS.into(),
            deadletter: topics::DEADLETTER.into(),
        }
    }
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

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// A partition this member now owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub partition: i32,
    /// Where consumption resumes (`None`: from the beginning, nothing committed yet).
    pub offset: Option<i64>,
    /// The checkpoint committed with that offset, if any.
    pub checkpoint: Option<String>,
}

/// Progress on one partition: everything before `offset` is fully processed, and
/// `checkpoint` is the state a successor needs to continue from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub partition: i32,
    pub offset: i64,
    pub checkpoint: Option<String>,
}

/// What a subscription yields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Message(Message),
    /// Partitions gained; their messages follow this event.
    Assigned(Vec<Assignment>),
    /// Partitions lost; no message of theirs follows. The bus waits for the next call to
    /// [`Subscription::next`] before handing them to another member, so commit for them
    /// before that call if you want to.
    Revoked(Vec<i32>),
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

    /// Publish `messages` (key, payload) in order, with many in flight; returns once the
    /// bus has accepted all of them. On error some may have been accepted: a retry can
    /// duplicate, which consumers must tolerate (the aggregator de-duplicates by id).
    async fn publish_all(
        &self,
        topic: &str,
        messages: Vec<(String, Vec<u8>)>,
    ) -> Result<(), BusError> {
        for (key, payload) in messages {
            self.publish(topic, &key, payload).await?;
        }
        Ok(())
    }

    /// Join consumer group `group` on `topic`.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Is the bus reachable (for /readyz)?
    async fn ping(&self) -> Result<(), BusError>;
}

/// A commit in progress: see [`Subscription::commit`].
pub type Commit = Pin<Box<dyn Future<Output = Result<(), BusError>> + Send + 'static>>;

/// A group member's stream of events.
#[async_trait]
pub trait Subscription: Send {
    /// The next event; `Err(Closed)` once the bus has shut down. Any other error means
    /// this member's view can no longer be trusted: drop it and subscribe again, which
    /// resumes from the last commit.
    async fn next(&mut self) -> Result<Event, BusError>;

    /// Publish `records` and record `progress`, atomically where the bus can (Kafka
    /// transactions): after a crash, either the records are visible to consumers and a
    /// restart resumes after them, or neither.
    ///
    /// The commit happens when the returned future is awaited; it does not borrow the
    /// subscription, so a stage can keep reading while a commit is in flight. Await each
    /// commit before starting the next one, and before asking for the event after a
    /// [`Event::Revoked`] (which hands the partitions on).
    fn commit(&mut self, records: Vec<Record>, progress: Vec<Progress>) -> Commit;

    /// Messages waiting behind what this member has been given, per owned partition, as
    /// last measured. A partition left out has unknown lag (not measured yet, or nothing
    /// read and nothing committed): treat it as behind.
    fn lag(&self) -> Vec<(i32, i64)> {
        Vec::new()
    }

    /// The next message, skipping ownership events: for readers that keep no
    /// per-partition state. `None` once the bus is closed or failed.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            match self.next().await {
                Ok(Event::Message(m)) => return Some(m),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}
