//! The messages of viral, as docs/ARCHITECTURE.md ("Messages and topics")
//! and `schemas/` describe them.
//!
//! Unknown fields are ignored on read so that older readers accept newer writers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::rfc3339;

/// What a source yields, and each line of a `viral replay` input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Unique per source, stable across reconnects and replays.
    pub id: String,
    pub source: String,
    pub text: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

impl Post {
    /// Event time in milliseconds (see [`crate::time::event_time`]).
    pub fn event_time(&self) -> crate::time::Millis {
        crate::time::event_time(&self.created_at, self.observed_at.as_ref())
    }
}

/// A post that matched one tracked topic: one message per (post, topic) on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MentionWire")]
pub struct Mention {
    pub topic: String,
    #[serde(flatten)]
    pub post: Post,
}

/// [`Mention`]'s fields spelled out for reading: `flatten` buffers every field into an
/// intermediate tree before decoding the post, which made decoding the aggregator's
/// largest cost.
#[derive(Deserialize)]
struct MentionWire {
    topic: String,
    id: String,
    source: String,
    text: String,
    #[serde(with = "rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(default, with = "rfc3339::option")]
    observed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

impl From<MentionWire> for Mention {
    fn from(w: MentionWire) -> Self {
        Self {
            topic: w.topic,
            post: Post {
                id: w.id,
                source: w.source,
                text: w.text,
                created_at: w.created_at,
                observed_at: w.observed_at,
                author: w.author,
                url: w.url,
                lang: w.lang,
            },
        }
    }
}

/// A sample post carried with a window or alert so a reader sees *why* without a dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The count of one topic's mentions in one closed window `[window_start, window_end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCount {
    pub topic: String,
    #[serde(with = "rfc3339")]
    pub window_start: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub window_end: DateTime<Utc>,
    pub count: u64,
    /// A few of the window's posts, for alerts. Optional on the bus, never in replay output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
}

/// Whether an alert opens or closes an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// The counts a detector considered normal for a window: it fires at `high` and above.
/// (`low` is for drawing the band; an unusually quiet window is not an incident.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

/// An incident notification: stored, and the payload of every notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable per incident (the same in its `firing` and `resolved` alerts): the
    /// idempotency key receivers de-duplicate on.
    pub id: String,
    pub topic: String,
    pub detector: String,
    pub status: AlertStatus,
    #[serde(with = "rfc3339")]
    pub window_start: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub window_end: DateTime<Utc>,
    pub count: u64,
    /// The detector's baseline, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    /// The detector's normal band, where it has one: why this count is (not) normal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
    pub score: f64,
    /// Start of the first anomalous window of the incident.
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub samples: Vec<Sample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_roundtrip_ignores_unknown_fields() {
        let line = r#"{"id":"bluesky:at://did:plc:abc/app.bsky.feed.post/3kxyz","source":"bluesky",
            "text":"Ocean Spray and Dreams","created_at":"2020-09-25T18:00:00.123Z",
            "observed_at":"2020-09-25T18:00:01Z","author":"did:plc:abc","lang":"en","extra":1}"#;
        let p: Post = serde_json::from_str(line).unwrap();
        assert_eq!(p.author.as_deref(), Some("did:plc:abc"));
        let back = serde_json::to_string(&p).unwrap();
        assert!(
            back.contains(r#""created_at":"2020-09-25T18:00:00.123Z""#),
            "{back}"
        );
        assert!(!back.contains("extra"));
        assert!(!back.contains("url"));
    }

    #[test]
    fn post_requires_created_at() {
        let err = serde_json::from_str::<Post>(r#"{"id":"a","source":"s","text":"t"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("created_at"), "{err}");
    }

    #[test]
    fn mention_is_post_plus_topic() {
        let m: Mention = serde_json::from_str(
            r#"{"topic":"x","id":"a","source":"s","text":"t","created_at":"2020-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(m.topic, "x");
        assert_eq!(m.post.id, "a");
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["topic"], "x");
        assert_eq!(v["text"], "t");
    }
}
