//! What viral's fuzz targets run on each input, in one place: the cargo-fuzz targets in
//! `fuzz/` call these functions, and so does the test that replays the committed corpus
//! (`tests/corpus.rs`), so `cargo test` checks every input the fuzzers kept without any
//! fuzzing tool.
//!
//! Each target feeds bytes from outside to the decoder production calls on them (never a
//! copy), then carries what it decoded as far as viral would: a source's post through the
//! producer's bounds onto the bus and back, a mention through the windowing engine, a
//! window count through the detectors. A target panics only when a property breaks: the
//! code panicked, a message viral writes would not fit on the bus or would not read back
//! as written, a dead letter is unbounded, windows come out of order.
//!
//! Times are fixed ([`NOW_MS`]) so that every run of an input is the same run.

mod bus;
mod chain;
mod config;
mod post;
mod sources;
mod stream;

pub use bus::{bus_mention, bus_window_count};
pub use config::config;
pub use post::post_json;
pub use sources::{ingest_body, jetstream_event, mastodon_sse, x_stream};

/// The wall clock as the targets see it: 2026-01-01T00:00:00Z.
pub const NOW_MS: i64 = 1_767_225_600_000;

/// A fuzz target: its name (also its corpus directory, `fuzz/corpus/<name>`) and what it
/// does with one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("post_json", post_json),
    ("bus_mention", bus_mention),
    ("bus_window_count", bus_window_count),
    ("jetstream_event", jetstream_event),
    ("mastodon_sse", mastodon_sse),
    ("x_stream", x_stream),
    ("ingest_body", ingest_body),
    ("config", config),
];
