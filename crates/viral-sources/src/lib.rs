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
//! - [`synthetic`]: the built-in demo: a daily rhythm of posts about the configured topics
//!   and then a viral spike, on an accelerated clock, so a new user sees a real alert
//!   within a minute. Its pure generator also writes JSONL files offline
//!   ([`synthetic::generate`]).
//! - [`file`]: replays a JSONL file of posts, as fast as possible or paced by `created_at`.

use std::path::PathBuf;

use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use viral_core::Post;

pub mod file;
pub mod jetstream;
pub mod live;
pub mod synthetic;
#[cfg(test)]
mod testkit;

/// A producer of posts.
///
/// `run` takes `self: Box<Self>` so that a configured source can be chosen at run time
/// (`Box<dyn Source>`) and moved into its own task, which then owns it until it ends.
#[async_trait::async_trait]
pub trait Source: Send {
    /// Short name for logs and metrics, e.g. `"synthetic"`.
    fn name(&self) -> &str;

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

/// Send one post unless the pipeline has gone away or shutdown was requested.
///
/// Returns `false` when the source should stop. Waiting on a full channel must not keep a
/// source from noticing shutdown, hence the `select!` rather than a bare `send`.
pub(crate) async fn send_or_stop(
    sink: &mpsc::Sender<Post>,
    shutdown: &CancellationToken,
    post: Post,
) -> bool {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => false,
        sent = sink.send(post) => sent.is_ok(),
    }
}
