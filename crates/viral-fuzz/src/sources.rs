//! The live sources' decoders: a Jetstream text frame, a Mastodon SSE stream, an X
//! stream body, an HTTP ingest request body. Every post they accept goes on to the bus
//! ([`to_the_bus`]) with only a web address as its URL.

use serde_json::Value;
use viral_core::link::web_url;
use viral_core::Post;
use viral_sources::fuzzing::{
    ingest_body as read_body, ingest_post, jetstream_event as parse_event, keep_web_url,
    mastodon_status, x_line, IngestBody, IngestProblems, JetstreamEvent, SseParser, XLine,
    MASTODON_MAX_EVENT, MAX_AHEAD_US, X_MAX_LINE,
};

use crate::chain::to_the_bus;
use crate::stream::{body_lines, Piece};
use crate::NOW_MS;

/// A post as a source sends it on: its URL kept only if it is a web address.
fn send(mut post: Post) {
    keep_web_url(&mut post);
    if let Some(url) = &post.url {
        assert_eq!(
            web_url(url).as_ref(),
            Some(url),
            "a URL that is not a web address went on"
        );
    }
    to_the_bus(post, true);
}

/// One Jetstream text frame (tungstenite has checked it is UTF-8).
pub fn jetstream_event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now_us = NOW_MS * 1000;
    let in_range = |t: i64| t > 0 && t <= now_us + MAX_AHEAD_US;
    match parse_event(text, now_us) {
        JetstreamEvent::Post { post, time_us } => {
            // `time_us` becomes the cursor and the post's observed time.
            assert!(in_range(time_us), "cursor {time_us}");
            assert_eq!(
                post.observed_at.map(|o| o.timestamp_micros()),
                Some(time_us)
            );
            assert!(post.id.starts_with("bluesky:at://did:"), "{}", post.id);
            send(*post);
        }
        JetstreamEvent::Other { time_us } => assert!(in_range(time_us), "cursor {time_us}"),
        JetstreamEvent::Bad { time_us, .. } => {
            assert!(time_us.is_none_or(in_range), "cursor {time_us:?}")
        }
    }
}

/// A Mastodon streaming body: SSE lines, `update` events' data as statuses.
pub fn mastodon_sse(data: &[u8]) {
    let mut parser = SseParser::new(MASTODON_MAX_EVENT);
    // The same events under a bound this input can reach.
    let mut small = SseParser::new(32);
    for piece in body_lines(data, MASTODON_MAX_EVENT + 64) {
        let Piece::Line(line) = piece else {
            parser.reset();
            small.reset();
            continue;
        };
        if let Some(e) = small.feed(&line) {
            assert!(
                e.data.len() <= 32 || e.too_large,
                "an event over its bound: {}",
                e.data.len()
            );
            assert!(!e.too_large || e.data.is_empty());
        }
        let Some(event) = parser.feed(&line) else {
            continue;
        };
        if event.too_large || event.kind != "update" {
            continue;
        }
        if let Ok(Some(post)) = mastodon_status(&event.data, "mastodon.example") {
            assert!(post.id.starts_with("mastodon:"));
            send(post);
        }
    }
}

/// An X filtered-stream body: one JSON message per line, blank keep-alives between.
pub fn x_stream(data: &[u8]) {
    let now = chrono::DateTime::from_timestamp_millis(NOW_MS).expect("a valid time");
    for piece in body_lines(data, X_MAX_LINE) {
        let Piece::Line(line) = piece else { continue };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match x_line(&line, now) {
            XLine::Post(post) => {
                assert!(
                    post.id.starts_with("x:") && post.id.len() > 2,
                    "{}",
                    post.id
                );
                assert_eq!(post.observed_at, Some(now));
                send(*post);
            }
            // What X says about a disconnect is quoted, cut, in the reconnect's log line.
            XLine::Disconnect(why) => {
                assert!(
                    why.chars().count() <= 301,
                    "an excerpt of {} chars",
                    why.chars().count()
                )
            }
            XLine::Bad { .. } => {}
        }
    }
}

/// An ingest request body, read and checked as the endpoint does; the 400 answer for
/// it stays bounded, whatever the body.
pub fn ingest_body(data: &[u8]) {
    // The endpoint's default `max_posts` is 1000; a smaller one is reached by small inputs.
    for max_posts in [1000, 3] {
        let items = match read_body(data, max_posts) {
            IngestBody::Items(items) => items,
            IngestBody::TooMany | IngestBody::Neither | IngestBody::NotJson(_) => continue,
        };
        assert!(items.len() <= max_posts);
        let count = items.len();
        let mut posts = Vec::new();
        let mut problems = IngestProblems::default();
        for (index, item) in items.into_iter().enumerate() {
            match ingest_post(item, &[]) {
                Ok(post) => posts.push(post),
                Err(problem) => problems.add(index, &problem),
            }
        }
        if problems.is_empty() {
            posts.into_iter().for_each(send);
            continue;
        }
        let answer: Value = problems.answer(count);
        let bytes = serde_json::to_vec(&answer).expect("an answer encodes");
        assert!(
            bytes.len() <= 4 * data.len() + 16 * 1024,
            "a {}-byte body earned a {}-byte answer",
            data.len(),
            bytes.len()
        );
    }
}
