//! Notifiers: how an alert reaches a person or a system. The alerter only sees the
//! [`Notifier`] trait, so adding a channel (e-mail, chat) touches nothing else.
//!
//! # Layout
//!
//! - [`Notifier`], [`NotifyError`]: the contract. Each implementation lives in its own
//!   folder with the same files (`mod.rs` for the notifier, `config.rs` for its keys,
//!   `tests.rs`).
//! - [`stdout`]: one JSON line per alert, for terminals, pipes and container logs.
//! - [`webhook`]: an HTTP POST signed per Standard Webhooks, retried with backoff.
//! - [`email`]: SMTP (lettre), a plain-text and an HTML part, retried with backoff.
//! - `render`: the words of an alert for people (e-mail, Slack), written once.
//! - `retry`: the retry loop the remote notifiers share.

pub mod email;
mod render;
mod retry;
pub mod stdout;
pub mod webhook;

use async_trait::async_trait;
use thiserror::Error;
use viral_core::Alert;

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("cannot write the alert: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the alert: {0}")]
    Encode(#[from] serde_json::Error),
    /// The receiver answered with a status that retrying cannot change (4xx other than
    /// 408 and 429, or a redirect); nothing was retried.
    #[error("the receiver rejected the alert with HTTP {status}")]
    Rejected { status: u16 },
    /// The receiver refused the alert for good (an SMTP 5xx, a TLS requirement the server
    /// cannot meet); nothing was retried.
    #[error("the receiver refused the alert: {0}")]
    Refused(String),
    /// Every attempt failed with a retryable error until the retry budget ran out.
    #[error("gave up after {attempts} attempts: {last_error}")]
    GaveUp { attempts: u32, last_error: String },
    /// Detected when the notifier is built, never while notifying. Never contains a secret.
    #[error("invalid notifier configuration: {0}")]
    Config(String),
}

#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Name used in metrics and logs (`stdout`, `webhook`).
    fn name(&self) -> &str;
    /// Deliver one alert; returns once it is delivered or delivery has been given up
    /// (retries happen inside, so callers should not add their own).
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError>;
}
