//! Poison messages are never fatal: each goes to the dead-letter topic with the reason and
//! where it came from, and is counted, and the consumer moves on. The same goes for a
//! stage's own output that the bus cannot take (too large for it, or refused for good):
//! it is dead-lettered in its place instead of retried forever.
//!
//! A dead letter is bounded whatever it is about (an excerpt of the payload, a cut key
//! and error text), so it always fits on the bus itself.

use serde::Serialize;
use viral_bus::{Message, Record};
use viral_core::limits::truncate;
use viral_runtime::metrics::{DeadLetterLabel, Metrics};

/// Largest message a consumer accepts; bigger ones are dead-lettered, not parsed.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The excerpt of a dead message a letter carries.
pub const EXCERPT_BYTES: usize = 64 * 1024;
/// The excerpt of a stage's own output that did not go out: enough to tell what it was
/// (a mention's topic, id and source come first), small enough to fit where it did not.
pub const UNSENT_EXCERPT_BYTES: usize = 1024;
/// A letter's key and error text are cut to this (a parser's error can quote its input).
const FIELD_BYTES: usize = 1024;

/// Why a message was dead-lettered (a metric label, so a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Over the consumer's limit, or (a stage's output) over the bus's.
    TooLarge,
    InvalidJson,
    InvalidMessage,
    /// Refused for good by the bus for another reason than its size.
    Rejected,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::InvalidJson => "invalid_json",
            Reason::InvalidMessage => "invalid_message",
            Reason::Rejected => "rejected",
        }
    }
}

#[derive(Serialize)]
struct DeadLetter<'a> {
    stage: &'static str,
    reason: Reason,
    error: &'a str,
    /// The topic the message was read from, or (a stage's output) was meant for.
    source_topic: &'a str,
    /// Where it was read (absent for a stage's output, which was never on the bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    key: &'a str,
    /// The original bytes as text (lossy), cut to [`EXCERPT_BYTES`] (or
    /// [`UNSENT_EXCERPT_BYTES`]; empty in a letter [shrunk](shrink)).
    payload: String,
}

/// A stage's own output that did not go out (or a message read, in [`letter`]).
#[derive(Debug, Clone, Copy)]
pub struct Unsent<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub payload: &'a [u8],
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
    tracing::warn!(stage, reason = reason.as_str(), error = truncate(error, FIELD_BYTES), topic = %msg.topic, partition = msg.partition, offset = msg.offset, "dead-lettered a message");
    let about = Unsent {
        topic: &msg.topic,
        key: &msg.key,
        payload: &msg.payload,
    };
    let at = Some((msg.partition, msg.offset));
    write(metrics, stage, topic, about, at, reason, error)
}

/// Count a stage's output that the bus cannot take as dead and build its dead letter for
/// `topic`, to publish in its place.
pub fn unsent(
    metrics: &Metrics,
    stage: &'static str,
    topic: &str,
    out: Unsent<'_>,
    reason: Reason,
    error: &str,
) -> Option<Record> {
    tracing::warn!(
        stage,
        reason = reason.as_str(),
        error = truncate(error, FIELD_BYTES),
        topic = out.topic,
        key = truncate(out.key, FIELD_BYTES),
        bytes = out.payload.len(),
        "dead-lettered output the bus cannot take"
    );
    write(metrics, stage, topic, out, None, reason, error)
}

/// Count and build the letter about a message read at `at` (partition, offset), or (none)
/// a stage's own output.
fn write(
    metrics: &Metrics,
    stage: &'static str,
    topic: &str,
    about: Unsent<'_>,
    at: Option<(i32, i64)>,
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
    let keep = if at.is_some() {
        EXCERPT_BYTES
    } else {
        UNSENT_EXCERPT_BYTES
    };
    let key = truncate(about.key, FIELD_BYTES);
    let letter = DeadLetter {
        stage,
        reason,
        error: truncate(error, FIELD_BYTES),
        source_topic: about.topic,
        partition: at.map(|a| a.0),
        offset: at.map(|a| a.1),
        key,
        payload: excerpt(about.payload, keep),
    };
    match serde_json::to_vec(&letter) {
        Ok(payload) => Some(Record {
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a dead letter");
            None
        }
    }
}

fn excerpt(payload: &[u8], max: usize) -> String {
    let keep = payload.len().min(max);
    // Invalid bytes become U+FFFD (three bytes each): cut again after.
    let mut text = String::from_utf8_lossy(&payload[..keep]).into_owned();
    viral_core::limits::truncate_in_place(&mut text, max);
    text
}

/// A letter the bus refused, without its excerpt (a few hundred bytes at most), to send
/// in its place; `None` if it has none to lose.
pub fn shrink(letter: &Record) -> Option<Record> {
    let mut v: serde_json::Value = serde_json::from_slice(&letter.payload).ok()?;
    let excerpt = v.get_mut("payload")?;
    if excerpt.as_str().is_none_or(str::is_empty) {
        return None;
    }
    *excerpt = serde_json::Value::from("");
    Some(Record {
        payload: serde_json::to_vec(&v).ok()?,
        ..letter.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile message (a 900 KB key, control characters escaped six-fold, an error quoting its input) still
    /// makes a letter that fits on the bus.
    #[test]
    fn a_letter_is_bounded_whatever_it_is_about() {
        let metrics = Metrics::new();
        let msg = Message {
            topic: "m".into(),
            partition: 0,
            offset: 7,
            key: "k".repeat(900_000),
            payload: vec![1; 900_000],
        };
        let error = format!("invalid type: string {:?}", "\u{1}".repeat(300_000));
        let r = letter(&metrics, "test", "dl", &msg, Reason::InvalidMessage, &error).unwrap();
        assert!(r.payload.len() < 512 * 1024, "{}", r.payload.len());
        assert!(r.key.len() <= FIELD_BYTES);
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(
            (v["offset"].as_i64(), v["reason"].as_str()),
            (Some(7), Some("invalid_message"))
        );

        let out = Unsent {
            topic: "counts",
            key: "t",
            payload: &[b'x'; 2_000_000],
        };
        let r = unsent(&metrics, "test", "dl", out, Reason::TooLarge, "too big").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(v["source_topic"], "counts");
        assert!(v.get("offset").is_none());
        assert_eq!(v["payload"].as_str().unwrap().len(), UNSENT_EXCERPT_BYTES);
        let small = shrink(&r).unwrap();
        assert!(small.payload.len() < 200, "{}", small.payload.len());
        let v: serde_json::Value = serde_json::from_slice(&small.payload).unwrap();
        assert_eq!(
            (v["payload"].as_str(), v["error"].as_str()),
            (Some(""), Some("too big"))
        );
        assert!(shrink(&small).is_none());
        let text = metrics.encode();
        assert!(
            text.contains(r#"viral_dead_letters_total{stage="test",reason="too_large"} 1"#),
            "{text}"
        );
    }
}
