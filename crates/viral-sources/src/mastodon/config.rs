//! Keys of `[sources.mastodon]`: which instance, which streams (hashtags, the public
//! timeline), the token's variable, and how patiently to reconnect.

use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::live::{positive, Patience, UNREADY_AFTER};
use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MastodonConfig {
    /// The instance's base URL, e.g. `https://mastodon.social`.
    pub instance: String,
    /// Base URL of its streaming server; default: the one the instance announces
    /// (`/api/v2/instance`, `configuration.urls.streaming`), else the instance itself.
    pub streaming_url: Option<String>,
    /// Name of the environment variable holding a user access token with
    /// `read:statuses` (required by the streaming API since Mastodon 4.2).
    pub token_env: String,
    /// Hashtag streams to follow, without `#`.
    pub hashtags: Vec<String>,
    /// Also follow the public timeline (every public post the instance sees: busy).
    pub public: bool,
    /// Only posts from the instance's own users, on every stream followed.
    pub local_only: bool,
    /// Reconnect a stream when nothing (not even a heartbeat) arrives for this long.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// First delay before reconnecting; doubles (with jitter) up to `reconnect_max`.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// A stream disconnected for longer than this makes the producer not ready.
    #[serde(with = "humantime_serde")]
    pub unready_after: Duration,
}

impl Default for MastodonConfig {
    fn default() -> Self {
        Self {
            instance: String::new(),
            streaming_url: None,
            token_env: "VIRAL_MASTODON_TOKEN".into(),
            hashtags: Vec::new(),
            public: false,
            local_only: false,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            unready_after: UNREADY_AFTER,
        }
    }
}

/// One stream to follow: its path under the streaming base and its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stream {
    pub path: String,
    pub tag: Option<String>,
}

impl Stream {
    /// For logs: `hashtag:oceanspray`, `public`.
    pub fn label(&self) -> String {
        match &self.tag {
            Some(t) => format!("hashtag:{t}"),
            None => "public".into(),
        }
    }
}

fn http_url(key: &'static str, text: &str) -> Result<Url, InvalidConfig> {
    let bad = |why: String| InvalidConfig::new(key, format!("{text:?}: {why}"));
    let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(bad("use an http(s) URL with a host".into()));
    }
    Ok(url)
}

impl MastodonConfig {
    /// Check the values; the keys named are relative to `sources.mastodon`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.instance.is_empty() {
            return Err(InvalidConfig::new(
                "instance",
                "required: the instance's URL, e.g. \"https://mastodon.social\"",
            ));
        }
        self.instance_url()?;
        if let Some(s) = &self.streaming_url {
            streaming_base(s).map_err(|e| InvalidConfig::new("streaming_url", e))?;
        }
        if self.token_env.is_empty() {
            return Err(InvalidConfig::new(
                "token_env",
                "must name an environment variable",
            ));
        }
        for tag in &self.hashtags {
            let t = tag.trim_start_matches('#');
            if t.is_empty() || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(InvalidConfig::new(
                    "hashtags",
                    format!("{tag:?} is not a hashtag (letters, digits and '_')"),
                ));
            }
        }
        if self.hashtags.is_empty() && !self.public {
            return Err(InvalidConfig::new(
                "hashtags",
                "follow at least one hashtag, or set public = true",
            ));
        }
        positive(&[("idle_timeout", self.idle_timeout)])?;
        self.patience().check()
    }

    /// How patiently each stream reconnects.
    pub fn patience(&self) -> Patience {
        Patience {
            connect_timeout: self.connect_timeout,
            unready_after: self.unready_after,
            reconnect: Some((self.reconnect_min, self.reconnect_max)),
        }
    }

    pub(crate) fn instance_url(&self) -> Result<Url, InvalidConfig> {
        http_url("instance", &self.instance)
    }

    /// The streams followed, one connection each.
    pub(crate) fn streams(&self) -> Vec<Stream> {
        let local = if self.local_only { "/local" } else { "" };
        let mut out: Vec<Stream> = self
            .hashtags
            .iter()
            .map(|t| Stream {
                path: format!("/api/v1/streaming/hashtag{local}"),
                tag: Some(t.trim_start_matches('#').to_lowercase()),
            })
            .collect();
        out.dedup();
        if self.public {
            out.push(Stream {
                path: format!("/api/v1/streaming/public{local}"),
                tag: None,
            });
        }
        out
    }
}

/// The base URL for SSE requests from a streaming URL as configured or announced, which
/// may be a websocket URL (`wss://streaming.example` means `https://streaming.example`).
pub(crate) fn streaming_base(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => return Err(format!("{text:?}: unexpected scheme {other:?}")),
    };
    url.set_scheme(scheme)
        .map_err(|()| format!("{text:?}: cannot use it over {scheme}"))?;
    if !url.has_host() {
        return Err(format!("{text:?}: no host"));
    }
    Ok(url)
}

impl SourceConfig for MastodonConfig {
    fn check(&self, _: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        let token = ctx.secret("token_env", &self.token_env)?;
        let monitor = ctx.monitor(super::SOURCE, self.unready_after);
        Ok(Box::new(super::MastodonSource::new(
            self.clone(),
            token,
            monitor,
        )))
    }
}
