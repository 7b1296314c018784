//! The decoders of outside bytes that live inside this crate, reachable from outside it
//! for the fuzz targets (`crates/viral-fuzz`, `fuzz/`) and nothing else: only built with
//! the `fuzzing` feature, and not an API. Each item is the very function a source calls
//! on what it reads, so fuzzing exercises the production code, not a copy.

use serde_json::Value;
use viral_core::Post;

pub use crate::http::body::{read as ingest_body, Body as IngestBody, Problems as IngestProblems};
pub use crate::jetstream::event::{
    parse as jetstream_event, Parsed as JetstreamEvent, MAX_AHEAD_US,
};
pub use crate::mastodon::sse::{Event as SseEvent, Parser as SseParser};
pub use crate::mastodon::status::parse as mastodon_status;
pub use crate::x::tweet::{parse as x_line, Line as XLine};

/// The longest SSE event (and line, less 64 bytes) the Mastodon source reads.
pub const MASTODON_MAX_EVENT: usize = crate::mastodon::MAX_EVENT;
/// The longest line the X source reads.
pub const X_MAX_LINE: usize = crate::x::MAX_LINE;

/// The ingest endpoint's check of one element of a request body.
pub fn ingest_post(item: Value, allowed: &[String]) -> Result<Post, String> {
    crate::http::check(item, allowed)
}

/// What every source does to a post's URL before sending it on.
pub fn keep_web_url(post: &mut Post) -> bool {
    crate::keep_web_url(post)
}
