//! Webhook notifier: POSTs the Alert as JSON, following Standard Webhooks v1 so receivers
//! can verify and de-duplicate: `webhook-id` (stable per incident and status),
//! `webhook-timestamp`, and, with a secret, `webhook-signature` = `v1,` + base64 of
//! HMAC-SHA256 over `"{id}.{timestamp}.{body}"`.
//!
//! Delivery retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff
//! and jitter (honouring `Retry-After`), until `max_retry_time`; other 4xx fail at once,
//! since sending the same request again cannot fix it.

mod config;
#[cfg(test)]
mod tests;

pub use config::WebhookConfig;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use viral_core::Alert;

use crate::{Notifier, NotifyError};

pub struct WebhookNotifier {
    config: WebhookConfig,
    client: reqwest::Client,
    /// Signing key, decoded from the `whsec_` secret.
    key: Option<Vec<u8>>,
    min_delay: Duration,
}

struct AttemptError {
    retryable: bool,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: String,
}

impl WebhookNotifier {
    pub fn new(config: WebhookConfig) -> Result<Self, NotifyError> {
        config.validate().map_err(NotifyError::Config)?;
        let key = match &config.secret_env {
            Some(var) => {
                let secret = std::env::var(var).map_err(|_| {
                    NotifyError::Config(format!("environment variable {var:?} is not set"))
                })?;
                Some(decode_secret(&secret).map_err(|e| {
                    NotifyError::Config(format!("the secret in {var:?} is not valid: {e}"))
                })?)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("viral/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config(e.to_string()))?;
        Ok(Self {
            config,
            client,
            key,
            min_delay: Duration::from_secs(1),
        })
    }

    /// First retry delay (doubles from there). Tests use milliseconds.
    pub fn with_min_delay(mut self, d: Duration) -> Self {
        self.min_delay = d;
        self
    }

    async fn attempt(
        &self,
        id: &str,
        body: &[u8],
        attempts: &AtomicU32,
    ) -> Result<(), AttemptError> {
        attempts.fetch_add(1, Ordering::Relaxed);
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
        let resp = req.send().await.map_err(|e| AttemptError {
            retryable: true,
            status: None,
            retry_after: None,
            message: e.to_string(),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(AttemptError {
            retryable: code == 408 || code == 429 || status.is_server_error(),
            status: Some(code),
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
        let body = serde_json::to_vec(alert)?;
        let id = format!("{}:{}", alert.id, alert.status.as_str());
        let attempts = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(Duration::from_secs(300))
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(self.config.max_retry_time));
        let result = (|| self.attempt(&id, &body, &attempts))
            .retry(backoff)
            .when(|e| e.retryable)
            .adjust(|e, delay| delay.map(|d| e.retry_after.unwrap_or(d)))
            .notify(|e, delay| {
                tracing::warn!(id = %id, error = %e.message, retry_in = ?delay, "webhook delivery failed; retrying");
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) if !e.retryable => Err(NotifyError::Rejected {
                status: e.status.unwrap_or(0),
            }),
            Err(e) => Err(NotifyError::GaveUp {
                attempts: attempts.load(Ordering::Relaxed),
                last_error: e.message,
            }),
        }
    }
}

/// Standard Webhooks secrets are `whsec_` + base64; a secret without the prefix is used
/// as raw bytes.
fn decode_secret(secret: &str) -> Result<Vec<u8>, base64::DecodeError> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}
