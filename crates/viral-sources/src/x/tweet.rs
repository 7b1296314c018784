//! Lines of the filtered stream, as X documents them, turned into Posts. Pure.
//!
//! ```json
//! {"data":{"id":"1834...","text":"…","author_id":"2244994945","created_at":"2024-09-09T19:46:02.000Z",
//!  "lang":"en","edit_history_tweet_ids":["1834..."]},"matching_rules":[{"id":"…","tag":"ocean-spray"}]}
//! ```

use chrono::{DateTime, Utc};
use serde::Deserialize;
use viral_core::time::parse_rfc3339;
use viral_core::Post;

use super::SOURCE;

/// What one line means.
#[derive(Debug, PartialEq)]
pub enum Line {
    Post(Box<Post>),
    /// X is closing the stream (`operational-disconnect`): reconnect.
    Disconnect(String),
    Bad {
        kind: &'static str,
        detail: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Tweet {
    id: String,
    text: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

/// Parse one non-empty line; `now` stands in for a missing or malformed `created_at`.
pub fn parse(line: &[u8], now: DateTime<Utc>) -> Line {
    let envelope: Envelope = match serde_json::from_slice(line) {
        Ok(e) => e,
        Err(e) => {
            return Line::Bad {
                kind: "invalid_json",
                detail: format!("not a stream message: {e}"),
            }
        }
    };
    let Some(data) = envelope.data.filter(|d| !d.is_null()) else {
        let disconnect = envelope.errors.iter().find(|e| {
            e.get("title").and_then(|t| t.as_str()) == Some("operational-disconnect")
                || e.get("disconnect_type").is_some()
        });
        if let Some(e) = disconnect {
            return Line::Disconnect(super::excerpt(&e.to_string()));
        }
        return Line::Bad {
            kind: if envelope.errors.is_empty() {
                "invalid_post"
            } else {
                "stream_error"
            },
            detail: super::excerpt(&String::from_utf8_lossy(line)),
        };
    };
    let tweet: Tweet = match serde_json::from_value(data) {
        Ok(t) => t,
        Err(e) => {
            return Line::Bad {
                kind: "invalid_post",
                detail: format!("data: {e}"),
            }
        }
    };
    if tweet.id.is_empty() || !tweet.id.bytes().all(|b| b.is_ascii_digit()) {
        return Line::Bad {
            kind: "invalid_post",
            detail: format!("id {:?} is not a post id", tweet.id),
        };
    }
    let created_at = tweet
        .created_at
        .as_deref()
        .and_then(|c| parse_rfc3339(c).ok())
        .unwrap_or(now);
    Line::Post(Box::new(Post {
        url: Some(format!("https://x.com/i/web/status/{}", tweet.id)),
        id: format!("{SOURCE}:{}", tweet.id),
        source: SOURCE.to_owned(),
        text: tweet.text,
        created_at,
        observed_at: Some(now),
        author: tweet.author_id,
        lang: tweet.lang.filter(|l| !l.is_empty() && l != "und"),
    }))
}
