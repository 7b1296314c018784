//! Poison messages are never fatal: each goes to the dead-letter topic with the reason and
//! where it came from, and is counted, and the consumer moves on.

use serde::Serialize;
use viral_bus::{Message, Record};
use viral_runtime::metrics::{DeadLetterLabel, Metrics};

/// Largest message a consumer accepts; bigger ones are dead-lettered, not parsed.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Why a message was dead-lettered (a metric label, so a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    TooLarge,
    InvalidJson,
    InvalidMessage,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::InvalidJson => "invalid_json",
            Reason::InvalidMessage => "invalid_message",
        }
    }
}

#[derive(Serialize)]
struct DeadLetter<'a> {
    stage: &'static str,
    reason: Reason,
    error: &'a str,
    source_topic: &'a str,
    partition: i32,
    offset: i64,
    key: &'a str,
    /// The original bytes as text (lossy), truncated to 64 KiB.
    payload: String,
}

/// Decode a JSON message, classifying failures for the dead-letter topic.
pub fn decode<T: serde::de::DeserializeOwned>(msg: &Message) -> Result<T, (Reason, String)> {
    if msg.payload.len() > MAX_MESSAGE_BYTES {
        return Err((
            Reason::TooLarge,
            format!("{} bytes, limit {MAX_MESSAGE_BYTES}", msg.payload.len()),
        ));
    }
    serde_json::from_slice(&msg.payload).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Data => Reason::InvalidMessage,
            _ => Reason::InvalidJson,
        };
        (reason, e.to_string())
    })
}

/// Count `msg` as dead and build its dead letter for `topic`; the caller publishes it
/// with its next commit, so a dead letter is written exactly when the consumer's progress
/// past the message is.
pub fn letter(
    metrics: &Metrics,
    stage: &'static str,
    topic: &str,
    msg: &Message,
    reason: Reason,
    error: &str,
) -> Option<Record> {
    metrics
        .dead_letters
        .get_or_create(&DeadLetterLabel {
            stage,
            reason: reason.as_str(),
        })
        .inc();
    tracing::warn!(stage, reason = reason.as_str(), error, topic = %msg.topic, partition = msg.partition, offset = msg.offset, "dead-lettered a message");
    let keep = msg.payload.len().min(64 * 1024);
    let letter = DeadLetter {
        stage,
        reason,
        error,
        source_topic: &msg.topic,
        partition: msg.partition,
        offset: msg.offset,
        key: &msg.key,
        payload: String::from_utf8_lossy(&msg.payload[..keep]).into_owned(),
    };
    match serde_json::to_vec(&letter) {
        Ok(payload) => Some(Record {
            topic: topic.to_owned(),
            key: msg.key.clone(),
            payload,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a dead letter");
            None
        }
    }
}
