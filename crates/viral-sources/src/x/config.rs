//! Keys of `[sources.x]`: the X API v2 filtered stream, the token's variable, and how
//! the producer writes the stream's rules from the tracked topics.

use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::live::{positive, Patience, UNREADY_AFTER};
use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XConfig {
    /// Base URL of the API.
    pub api_url: String,
    /// Name of the environment variable holding the app's bearer token.
    pub token_env: String,
    /// Keep the app's stream rules equal to the topics: add the missing ones, delete the
    /// others (the rules belong to the app, and X allows one stream per app).
    pub sync_rules: bool,
    /// Appended to every rule: retweets repeat a post rather than mention anew.
    pub rule_suffix: String,
    /// The longest rule the account's access level allows; a topic with many terms is
    /// split into several rules with the same tag.
    pub max_rule_length: usize,
    /// Reconnect when neither a post nor a keep-alive arrives for this long (X sends a
    /// keep-alive every 20 s).
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Disconnected for longer than this, the producer reports not ready.
    #[serde(with = "humantime_serde")]
    pub unready_after: Duration,
}

impl Default for XConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.x.com".into(),
            token_env: "VIRAL_X_BEARER_TOKEN".into(),
            sync_rules: true,
            rule_suffix: "-is:retweet".into(),
            max_rule_length: 512,
            stall_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            unready_after: UNREADY_AFTER,
        }
    }
}

impl XConfig {
    /// Check the values; the keys named are relative to `sources.x`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.api()?;
        if self.token_env.is_empty() {
            return Err(InvalidConfig::new(
                "token_env",
                "must name an environment variable",
            ));
        }
        if self.max_rule_length < 16 {
            return Err(InvalidConfig::new("max_rule_length", "must be at least 16"));
        }
        if self.rule_suffix.len() + 8 > self.max_rule_length {
            return Err(InvalidConfig::new(
                "rule_suffix",
                "leaves no room for terms within max_rule_length",
            ));
        }
        positive(&[("stall_timeout", self.stall_timeout)])?;
        self.patience().check()
    }

    /// How patiently it reconnects (its delays are X's guidance, [`super::XBackoff`]).
    pub fn patience(&self) -> Patience {
        Patience {
            connect_timeout: self.connect_timeout,
            unready_after: self.unready_after,
            reconnect: None,
        }
    }

    pub(crate) fn api(&self) -> Result<Url, InvalidConfig> {
        let bad = |why: String| InvalidConfig::new("api_url", format!("{:?}: {why}", self.api_url));
        let url = Url::parse(&self.api_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(bad("use an http(s) URL with a host".into()));
        }
        Ok(url)
    }
}

impl SourceConfig for XConfig {
    /// Also that the topics make rules X accepts.
    fn check(&self, ctx: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()?;
        super::rules::desired(ctx.topics, &self.rule_suffix, self.max_rule_length).map(|_| ())
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        let token = ctx.secret("token_env", &self.token_env)?;
        let monitor = ctx.monitor(super::SOURCE, self.unready_after);
        let source = super::XSource::new(self.clone(), token, ctx.topics.clone(), monitor);
        Ok(Box::new(source))
    }
}
