//! Keys of `[notifiers.webhook]`.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where alerts are POSTed (http or https).
    pub url: String,
    /// Per-attempt timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Give up on an alert after retrying this long.
    #[serde(default = "default_max_retry_time", with = "humantime_serde")]
    pub max_retry_time: Duration,
    /// Name of the environment variable holding the Standard Webhooks signing secret
    /// (`whsec_…`). The secret itself never goes in the file.
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_retry_time() -> Duration {
    Duration::from_secs(60)
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url {:?}: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url {:?}: scheme must be http or https", self.url));
        }
        if self.timeout.is_zero() {
            return Err("timeout must be positive".into());
        }
        if let Some(var) = &self.secret_env {
            if std::env::var_os(var).is_none() {
                return Err(format!(
                    "secret_env names {var:?}, but that environment variable is not set"
                ));
            }
        }
        Ok(())
    }
}
