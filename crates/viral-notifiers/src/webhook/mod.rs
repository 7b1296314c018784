//! Webhook notifier: POSTs the Alert as JSON, following Standard Webhooks v1 so receivers
//! can verify and de-duplicate: `webhook-id` (stable per incident and status),
//! `webhook-timestamp`, and, with a secret, `webhook-signature` = `v1,` + base64 of
//! HMAC-SHA256 over `"{id}.{timestamp}.{body}"`.
//!
//! Delivery retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff
//! and jitter (honouring `Retry-After` in seconds), until `max_retry_time` has passed; other
//! statuses fail at once, since sending the same request again cannot fix them. Redirects
//! are not followed: a redirected POST may lose its body, and the receiver should be
//! configured with its real URL.

mod config;
#[cfg(test)]
mod tests;

pub use config::{WebhookConfig, WebhookFormat};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use viral_core::Alert;

use crate::render;
use crate::retry::{self, Failure};
use crate::{Notifier, NotifyError};

const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);

pub struct WebhookNotifier {
    config: WebhookConfig,
    client: reqwest::Client,
    /// Signing key, decoded from the `whsec_` secret. Deliberately not `Debug`.
    key: Option<Vec<u8>>,
    initial_backoff: Duration,
}

impl WebhookNotifier {
    /// Reads the signing secret from the variable `config.secret_env` names, if any.
    pub fn new(config: WebhookConfig) -> Result<Self, NotifyError> {
        config.validate().map_err(NotifyError::Config)?;
        let secret = match &config.secret_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                NotifyError::Config(format!(
                    "environment variable {var:?} is not set or not valid UTF-8"
                ))
            })?),
            None => None,
        };
        Self::build(config, secret.as_deref())
    }

    /// With the signing secret given directly (read from a file or a vault, or in tests);
    /// `config.secret_env` is then ignored.
    pub fn with_secret(config: WebhookConfig, secret: &str) -> Result<Self, NotifyError> {
        config.check_target().map_err(NotifyError::Config)?;
        Self::build(config, Some(secret))
    }

    fn build(config: WebhookConfig, secret: Option<&str>) -> Result<Self, NotifyError> {
        let key = match secret {
            Some(s) => Some(decode_secret(s)?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("viral/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            config,
            client,
            key,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
        })
    }

    /// Delay before the first retry (default 1s); it roughly doubles from there, plus
    /// jitter. Tests use milliseconds, or hours to prove a retry did not wait for it.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    async fn attempt(&self, id: &str, body: &[u8]) -> Result<(), Failure> {
        // Per attempt, so a retry is not refused as stale by a receiver checking the age.
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let mut req = self
            .client
            .post(&self.config.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", &ts)
            .body(body.to_vec());
        if let Some(key) = &self.key {
            req = req.header("webhook-signature", sign(key, id, &ts, body));
        }
        let resp = req.send().await.map_err(|e| Failure::Retryable {
            retry_after: None,
            message: describe(e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        if !(code == 408 || code == 429 || status.is_server_error()) {
            return Err(Failure::Final(NotifyError::Rejected { status: code }));
        }
        // Only the delay-seconds form; an HTTP-date falls back to our own backoff.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(Failure::Retryable {
            retry_after,
            message: format!("HTTP {code}"),
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let body = match self.config.format {
            WebhookFormat::Standard => serde_json::to_vec(alert)?,
            WebhookFormat::Slack => serde_json::to_vec(&render::slack("[viral]", alert))?,
        };
        let id = format!("{}:{}", alert.id, alert.status.as_str());
        let (budget, first) = (self.config.max_retry_time, self.initial_backoff);
        retry::deliver("webhook", &id, budget, first, || self.attempt(&id, &body)).await
    }
}

/// A transport error with its causes, which reqwest's own message leaves out ("error
/// sending request"), and without the URL, whose path or query may carry a token.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Standard Webhooks secrets are `whsec_` + base64; a secret without the prefix is used as
/// raw bytes. Errors never quote the secret, not even the offending byte.
fn decode_secret(secret: &str) -> Result<Vec<u8>, NotifyError> {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| {
                NotifyError::Config("the signing secret is not valid base64 after `whsec_`".into())
            })?,
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(NotifyError::Config("the signing secret is empty".into()));
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the Standard Webhooks v1
/// signature; public so receivers written in Rust (and tests) can verify with it.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so the error branch is unreachable in practice.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}
