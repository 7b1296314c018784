//! The bus: how viral's stages talk, and the only way they do.
//!
//! # Layout
//!
//! - [`Bus`] / [`Subscription`]: the trait every bus implements (publish with
//!   acknowledgement, consume as a group, commit progress together with output).
//! - [`memory`]: an in-process bus for `viral standalone` and unit tests.
//! - `kafka` (feature `kafka`): Apache Kafka (and compatible brokers) through librdkafka.
//!   [`KafkaConfig`] is parsed and checked without it, so a binary that only reads
//!   configs (the `viral` CLI and its standalone demo) does not link librdkafka.
//!
//! Payloads are bytes (JSON) on every bus, so the in-memory path exercises the same
//! encoding, decoding and dead-lettering as Kafka does.
//!
//! # Size
//!
//! Every bus takes messages up to [`Bus::max_message_bytes`] (key and payload; Kafka's
//! is librdkafka's `message.max.bytes` less room for the record's framing) and refuses
//! larger ones for good with [`BusError::Rejected`], as it does anything else it can
//! never accept. Stages check each message against the limit before sending it, and
//! dead-letter what does not fit; a refusal that still happens names the messages, so
//! they are dead-lettered too, never retried: one message cannot wedge a stage.
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

#[cfg(feature = "kafka")]
pub mod kafka;
mod kafka_config;
pub mod memory;

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use thiserror::Error;

#[cfg(feature = "kafka")]
pub use kafka::KafkaBus;
pub use kafka_config::KafkaConfig;
pub use memory::MemoryBus;

/// librdkafka's default `message.max.bytes`: the largest message its producer sends.
pub const KAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Room kept below a producer's limit for a record's framing (lengths, timestamp,
/// headers, the batch header), which librdkafka counts against `message.max.bytes`.
pub const RECORD_OVERHEAD_BYTES: usize = 1024;
/// The largest key + payload viral publishes on any bus (unless the Kafka property
/// `message.max.bytes` says less).
pub const MAX_MESSAGE_BYTES: usize = KAFKA_MESSAGE_MAX_BYTES - RECORD_OVERHEAD_BYTES;

/// Default topic names (docs/ARCHITECTURE.md, "Messages and topics").
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
    /// Messages the bus refused for good (too large, invalid): retrying them cannot
    /// help. What else that call did is in its documentation.
    #[error("the bus refused {} message(s) for good: {}", .0.len(), .0.first().map_or("", |r| r.reason.as_str()))]
    Rejected(Vec<Refusal>),
}

/// One message a bus refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its position among the messages of the call ([`Bus::publish_all`]'s messages,
    /// [`Subscription::commit`]'s records; 0 for [`Bus::publish`]).
    pub index: usize,
    /// Too large for the bus (rather than otherwise unacceptable).
    pub too_large: bool,
    pub reason: String,
}

impl Refusal {
    /// The refusal of the `index`th message, with `key` and `payload`, by a bus taking
    /// `limit` bytes; `None` if it fits.
    pub fn of_size(index: usize, limit: usize, key: &str, payload: &[u8]) -> Option<Self> {
        let bytes = key.len() + payload.len();
        (bytes > limit).then(|| Self {
            index,
            too_large: true,
            reason: format!("{bytes} bytes, over the bus's limit of {limit}"),
        })
    }
}

/// A message bus with consumer groups.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Returns once the bus has accepted the message; until then the caller must not
    /// acknowledge it to its own source. [`BusError::Rejected`]: it never will.
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError>;

    /// Publish `messages` (key, payload) in order, with many in flight; returns once the
    /// bus has accepted all of them. [`BusError::Rejected`] names the messages refused
    /// for good, and means that every other one was accepted. On any other error some
    /// may have been accepted: a retry can duplicate, which consumers must tolerate (the
    /// aggregator de-duplicates by id).
    async fn publish_all(
        &self,
        topic: &str,
        messages: Vec<(String, Vec<u8>)>,
    ) -> Result<(), BusError> {
        let mut refused = Vec::new();
        for (index, (key, payload)) in messages.into_iter().enumerate() {
            match self.publish(topic, &key, payload).await {
                Ok(()) => {}
                Err(BusError::Rejected(r)) => {
                    refused.extend(r.into_iter().map(|r| Refusal { index, ..r }))
                }
                Err(e) => return Err(e),
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(BusError::Rejected(refused))
        }
    }

    /// The largest key + payload this bus accepts in one message: stages check each
    /// message against it before sending.
    fn max_message_bytes(&self) -> usize {
        MAX_MESSAGE_BYTES
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
    /// restart resumes after them, or neither. [`BusError::Rejected`] names the records
    /// refused for good; none of the commit happened, and the same commit without them
    /// (or with something in their place) can succeed.
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
