//! Keys of `[sources.jetstream]`: which Jetstream instance to read Bluesky posts from,
//! where the resume cursor is kept, and how patiently to reconnect.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::live::{positive, Patience, UNREADY_AFTER};
use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

/// One of Bluesky's public Jetstream instances.
pub const DEFAULT_HOST: &str = "jetstream2.us-east.bsky.network";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JetstreamConfig {
    /// A Jetstream host name (`wss://HOST/subscribe`), or a whole `ws://` or `wss://` URL
    /// (a self-hosted instance; the path defaults to `/subscribe`).
    pub host: String,
    /// Where the last event's `time_us` is saved, so a restart resumes where it stopped.
    pub cursor_path: PathBuf,
    /// How often the cursor is saved while events flow (and always at shutdown).
    #[serde(with = "humantime_serde")]
    pub cursor_interval: Duration,
    /// Resume this far before the cursor: events near it may not have reached the
    /// pipeline. The duplicates this replays are removed by the aggregator.
    #[serde(with = "humantime_serde")]
    pub rewind: Duration,
    /// A saved cursor older than this is not resumed from (the posts it would replay are
    /// late for their windows anyway, and Jetstream keeps only about a day and a half).
    #[serde(with = "humantime_serde")]
    pub max_replay: Duration,
    /// Reconnect when nothing arrives for this long (the firehose is never quiet).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// First delay before reconnecting; doubles (with jitter) up to `reconnect_max`.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// Disconnected for longer than this, the producer reports not ready.
    #[serde(with = "humantime_serde")]
    pub unready_after: Duration,
}

impl Default for JetstreamConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            cursor_path: PathBuf::from("viral-state/jetstream.cursor"),
            cursor_interval: Duration::from_secs(5),
            rewind: Duration::from_secs(5),
            max_replay: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            unready_after: UNREADY_AFTER,
        }
    }
}

impl JetstreamConfig {
    /// Check the values; the keys named are relative to `sources.jetstream`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.subscribe_url(None)?;
        if self.cursor_path.as_os_str().is_empty() {
            return Err(InvalidConfig::new("cursor_path", "must not be empty"));
        }
        positive(&[
            ("cursor_interval", self.cursor_interval),
            ("idle_timeout", self.idle_timeout),
        ])?;
        self.patience().check()?;
        positive(&[("max_replay", self.max_replay)])?;
        if self.rewind >= self.max_replay {
            return Err(InvalidConfig::new(
                "rewind",
                "must be shorter than max_replay",
            ));
        }
        Ok(())
    }

    /// How patiently it reconnects.
    pub fn patience(&self) -> Patience {
        Patience {
            connect_timeout: self.connect_timeout,
            unready_after: self.unready_after,
            reconnect: Some((self.reconnect_min, self.reconnect_max)),
        }
    }

    /// The subscription URL, resuming from `cursor` (Unix microseconds) if given.
    pub fn subscribe_url(&self, cursor: Option<i64>) -> Result<Url, InvalidConfig> {
        let host = self.host.trim();
        if host.is_empty() {
            return Err(InvalidConfig::new("host", "must not be empty"));
        }
        let text = if host.contains("://") {
            host.to_owned()
        } else {
            format!("wss://{host}/subscribe")
        };
        let bad = |why: String| InvalidConfig::new("host", format!("{host:?}: {why}"));
        let mut url = Url::parse(&text).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(bad("the scheme must be ws or wss".into()));
        }
        if !url.has_host() {
            return Err(bad("no host".into()));
        }
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/subscribe");
        }
        url.query_pairs_mut()
            .append_pair("wantedCollections", super::POST_COLLECTION);
        if let Some(cursor) = cursor {
            url.query_pairs_mut()
                .append_pair("cursor", &cursor.to_string());
        }
        Ok(url)
    }
}

impl SourceConfig for JetstreamConfig {
    fn check(&self, _: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        let monitor = ctx.monitor(super::SOURCE, self.unready_after);
        Ok(Box::new(super::JetstreamSource::new(self.clone(), monitor)))
    }
}
