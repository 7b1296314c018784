//! Keys of `[notifiers.webhook]`, validated when the configuration is loaded so a typo fails
//! at start-up instead of at the first alert.

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
    /// Give up on an alert once retrying it has taken this long.
    #[serde(default = "default_max_retry_time", with = "humantime_serde")]
    pub max_retry_time: Duration,
    /// Name of the environment variable holding the Standard Webhooks signing secret
    /// (`whsec_…`). The secret itself never goes in the file.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `standard`: the Alert as JSON (for programs). `slack`: a Slack incoming-webhook
    /// message (`text` and Block Kit `blocks`), which Mattermost and others accept too.
    #[serde(default)]
    pub format: WebhookFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Standard,
    Slack,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_retry_time() -> Duration {
    Duration::from_secs(60)
}

impl WebhookConfig {
    /// The URL is an http(s) URL with a host, the timeout is positive, and `secret_env`,
    /// if given, names a variable that is set (its value is not checked or shown here).
    pub fn validate(&self) -> Result<(), String> {
        self.check_target()?;
        if let Some(var) = &self.secret_env {
            if std::env::var_os(var).is_none() {
                return Err(format!(
                    "secret_env names {var:?}, but that environment variable is not set"
                ));
            }
        }
        Ok(())
    }

    /// The URL is an http(s) URL and the timeout is usable; the environment is not read.
    pub(crate) fn check_target(&self) -> Result<(), String> {
        // The URL is never quoted: a Slack or Teams webhook URL is itself the secret.
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("url: not an absolute http(s) URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "url: the scheme must be http or https, not {:?}",
                url.scheme()
            ));
        }
        if !url.has_host() {
            return Err("url: has no host".into());
        }
        if self.timeout.is_zero() {
            return Err("timeout must be positive".into());
        }
        if matches!(&self.secret_env, Some(v) if v.is_empty()) {
            return Err("secret_env must name an environment variable".into());
        }
        Ok(())
    }
}
