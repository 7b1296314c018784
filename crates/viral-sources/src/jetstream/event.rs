//! Jetstream events as its documentation shows them, turned into Posts. Pure, so every
//! shape of event — good, irrelevant or broken — is tested without a connection.
//!
//! ```json
//! {"did":"did:plc:…","time_us":1725911162329308,"kind":"commit","commit":{"rev":"…",
//!  "operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vuowo2b",
//!  "record":{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z",
//!  "langs":["en"],"text":"…"},"cid":"…"}}
//! ```

use chrono::{DateTime, Utc};
use serde::Deserialize;
use viral_core::time::parse_rfc3339;
use viral_core::Post;

use super::{POST_COLLECTION, SOURCE};

/// What one event means for the pipeline.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A new post; `time_us` is the event's cursor position.
    Post { post: Box<Post>, time_us: i64 },
    /// A well-formed event that is not a new post (identity, account, delete, update).
    Other { time_us: i64 },
    /// An event that cannot be used; `time_us` when it could be read.
    Bad {
        kind: &'static str,
        detail: String,
        time_us: Option<i64>,
    },
}

#[derive(Deserialize)]
struct Event {
    did: String,
    time_us: i64,
    kind: String,
    #[serde(default)]
    commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    operation: String,
    collection: String,
    #[serde(default)]
    rkey: String,
    #[serde(default)]
    record: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Record {
    text: String,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(default)]
    langs: Option<Vec<String>>,
}

/// How far past the wall clock an event's `time_us` may be: the bound on event
/// times (clocks disagree a little; a year 9999 is not a clock's error).
pub const MAX_AHEAD_US: i64 = 24 * 3600 * 1_000_000;

/// Parse one text frame; `now_us` is the wall clock, for the range check of `time_us`.
pub fn parse(text: &str, now_us: i64) -> Parsed {
    let event: Event = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            return Parsed::Bad {
                kind: "invalid_json",
                detail: format!("not a Jetstream event: {e}"),
                time_us: None,
            }
        }
    };
    let time_us = event.time_us;
    // `time_us` becomes the cursor (where a reconnect resumes) and the post's observed
    // time: one outside the possible range must move neither.
    if time_us <= 0 || time_us > now_us.saturating_add(MAX_AHEAD_US) {
        return Parsed::Bad {
            kind: "invalid_time",
            detail: format!("time_us {time_us} is not between the Unix epoch and a day from now"),
            time_us: None,
        };
    }
    let bad = |detail: String| Parsed::Bad {
        kind: "invalid_post",
        detail,
        time_us: Some(time_us),
    };
    let commit = match (event.kind.as_str(), event.commit) {
        ("commit", Some(c)) => c,
        ("commit", None) => return bad("a commit event without `commit`".into()),
        _ => return Parsed::Other { time_us },
    };
    if commit.operation != "create" || commit.collection != POST_COLLECTION {
        return Parsed::Other { time_us };
    }
    if commit.rkey.is_empty() || commit.rkey.contains('/') {
        return bad(format!("rkey {:?} is not a record key", commit.rkey));
    }
    if !event.did.starts_with("did:") {
        return bad(format!("did {:?} is not a DID", event.did));
    }
    let Some(record) = commit.record else {
        return bad("a create without `record`".into());
    };
    let record: Record = match serde_json::from_value(record) {
        Ok(r) => r,
        Err(e) => return bad(format!("record: {e}")),
    };
    let Some(observed) = DateTime::<Utc>::from_timestamp_micros(time_us) else {
        return bad(format!("time_us {time_us} is out of range"));
    };
    // A client's malformed createdAt should not cost the post: the relay's time stands in.
    let created = parse_rfc3339(&record.created_at).unwrap_or_else(|_| {
        tracing::debug!(created_at = %record.created_at, "jetstream: createdAt is not RFC 3339; using time_us");
        observed
    });
    let uri = format!("at://{}/{}/{}", event.did, POST_COLLECTION, commit.rkey);
    let post = Post {
        id: format!("{SOURCE}:{uri}"),
        source: SOURCE.to_owned(),
        text: record.text,
        created_at: created,
        observed_at: Some(observed),
        url: Some(format!(
            "https://bsky.app/profile/{}/post/{}",
            event.did, commit.rkey
        )),
        author: Some(event.did),
        lang: record.langs.and_then(|l| l.into_iter().next()),
    };
    Parsed::Post {
        post: Box::new(post),
        time_us,
    }
}
