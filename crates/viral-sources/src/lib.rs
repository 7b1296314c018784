//! Where posts enter viral: the [`Source`] trait and its implementations.
//!
//! A source only produces [`Post`]s; matching, windowing and everything downstream happen
//! in the producer, so every source — a live social network, an HTTP ingest endpoint, a
//! recorded file, the synthetic demo — feeds exactly the same pipeline code.
//!
//! # Layout
//!
//! One folder per implementation, each with the same files (`mod.rs` for the source
//! itself, `config.rs` for its serde configuration, `tests.rs`):
//!
//! - [`jetstream`]: Bluesky posts from a Jetstream websocket, resumed by cursor.
//! - [`mastodon`]: statuses from a Mastodon instance's streaming API (SSE), HTML as text.
//! - [`x`]: the X API v2 filtered stream, its rules kept equal to the topics.
//! - [`http`]: the HTTP ingest endpoint, answering 202 only once the bus has the posts
//!   (through [`Acked`] batches).
//! - [`synthetic`]: the built-in demo: a daily rhythm of posts about the configured topics
//!   and then a viral spike, on an accelerated clock, so a new user sees a real alert
//!   within a minute. Its pure generator also writes JSONL files offline
//!   ([`synthetic::generate`]).
//! - [`file`]: replays a JSONL file of posts, as fast as possible or paced by `created_at`.
//!
//! [`live`] holds what the connected sources share: the start, the bounded attempts and
//! the reconnects with backoff and jitter, the keys saying how patient a source is,
//! per-source metrics and readiness.
//!
//! # Adding a source
//!
//! 1. A folder of its own as above. Its config type implements [`SourceConfig`]: `check`
//!    (its keys, named relative to its table, and anything it needs from the rest of the
//!    configuration through [`CheckContext`]) and `build` (its [`Source`], from what the
//!    process provides through [`BuildContext`]: clock, topics, metrics and readiness,
//!    secrets). A source that keeps a connection uses [`live::Reconnect`] for its start
//!    and its reconnects and [`live::Patience`] for its connect/reconnect keys.
//! 2. One registration line, `key: its config type`, in the `sources!` list of
//!    viral-config (`crates/viral-config/src/sources.rs`): that makes `[sources.key]` a
//!    table, checks it at load (errors naming `sources.key.…`) and builds it in every
//!    producer. Then document its keys in README.md's configuration reference.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use viral_core::Post;

pub mod file;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod jetstream;
pub mod live;
pub mod mastodon;
mod setup;
pub mod synthetic;
#[cfg(test)]
mod testkit;
pub mod x;

pub use setup::{BuildContext, CheckContext, SourceConfig};

/// A producer of posts.
///
/// `run` takes `self: Box<Self>` so that a configured source can be chosen at run time
/// (`Box<dyn Source>`) and moved into its own task, which then owns it until it ends.
#[async_trait::async_trait]
pub trait Source: Send {
    /// Short name for logs and metrics, e.g. `"synthetic"`.
    fn name(&self) -> &str;

    /// Whether the posts carry a time viral can trust: a recording (the file source) or
    /// the demo's generator. Their `observed_at` is kept. Every other source is live: the
    /// producer stamps `observed_at` on arrival, replacing what the post said, because a
    /// stranger's clock must not move viral's.
    fn keeps_time(&self) -> bool {
        false
    }

    /// Runs until the source is exhausted (`Ok`) or `shutdown` fires (`Ok`); each post is
    /// sent into `sink`. A send error means the pipeline is gone, which is not the
    /// source's failure: it returns `Ok`. `Err` is reserved for the source being unable
    /// to work at all (bad configuration, unreadable input).
    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError>;
}

/// Posts whose sender waits until the producer has handed all their mentions to the bus.
///
/// Most sources send posts one by one into the producer's channel and move on: what they
/// read again after a crash (a cursor, a file) is their own business. The HTTP ingest
/// cannot read anything again — its client can, if it is told the truth — so it answers
/// only once its posts are safe. It sends them as one `Acked` batch on a second channel
/// into the producer, which publishes them like any other posts and completes `done`
/// after the bus has accepted the publish that carried the last of their mentions (at
/// once when they match no topic). If the producer stops first, `done` is dropped
/// unsent, and the waiting request learns that its posts may not have got through.
#[derive(Debug)]
pub struct Acked {
    pub posts: Vec<Post>,
    pub done: oneshot::Sender<()>,
}

/// Why a source stopped before it was exhausted.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("source {source_name}: invalid configuration: {problem}")]
    Config {
        source_name: String,
        problem: InvalidConfig,
    },
    #[error("source {source_name}: cannot open {path}: {source}")]
    Open {
        source_name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("source {source_name}: cannot read {path}: {source}")]
    Read {
        source_name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Set-up that has nothing to do with the remote service failed (binding the ingest
    /// port, initialising TLS): retrying would not help.
    #[error("source {source_name}: cannot start: {problem}")]
    Start {
        source_name: String,
        problem: String,
    },
}

/// A configuration value a source cannot work with, named by its key within the source's
/// configuration table (e.g. `spike_factor`).
///
/// Converts into a `String` so that the configuration loader can wrap it with the key of
/// the whole table without depending on this type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {problem}")]
pub struct InvalidConfig {
    pub key: &'static str,
    pub problem: String,
}

impl InvalidConfig {
    pub(crate) fn new(key: &'static str, problem: impl Into<String>) -> Self {
        Self {
            key,
            problem: problem.into(),
        }
    }
}

impl From<InvalidConfig> for String {
    fn from(e: InvalidConfig) -> Self {
        e.to_string()
    }
}

/// URLs dropped so far by [`keep_web_url`], in this process.
static URLS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Keep the post's `url` only if it is a web address ([`viral_core::link::web_url`], in
/// its normalised form): anything else (`javascript:`, `data:`…) would become a link in
/// the dashboard and the alerts. The post itself is kept. Returns whether a URL was
/// dropped; the first drop is logged as a warning, later ones at debug level (a stream of
/// them must not flood the logs).
pub(crate) fn keep_web_url(post: &mut Post) -> bool {
    let Some(raw) = post.url.take() else {
        return false;
    };
    post.url = viral_core::link::web_url(&raw);
    if post.url.is_some() {
        return false;
    }
    let scheme: String = raw.chars().take_while(|c| *c != ':').take(16).collect();
    if URLS_DROPPED.fetch_add(1, Ordering::Relaxed) == 0 {
        tracing::warn!(source = %post.source, id = %post.id, %scheme, "dropping a post's url that is not an http(s) address (further ones are logged at debug level)");
    } else {
        tracing::debug!(source = %post.source, id = %post.id, %scheme, "dropping a post's url that is not an http(s) address");
    }
    true
}

/// Send one post unless the pipeline has gone away or shutdown was requested. Its `url`
/// goes only if it is a web address ([`keep_web_url`]).
///
/// Returns `false` when the source should stop. Waiting on a full channel must not keep a
/// source from noticing shutdown, hence the `select!` rather than a bare `send`.
pub(crate) async fn send_or_stop(
    sink: &mpsc::Sender<Post>,
    shutdown: &CancellationToken,
    mut post: Post,
) -> bool {
    keep_web_url(&mut post);
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => false,
        sent = sink.send(post) => sent.is_ok(),
    }
}
