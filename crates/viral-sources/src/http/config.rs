//! Keys of `[sources.http]`: the HTTP ingest endpoint (`POST /api/v1/posts`), the
//! original system's API Gateway, for posts that other tools collect.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use viral_runtime::server::Limits;

use crate::live::UNREADY_AFTER;
use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpIngestConfig {
    /// Address to listen on; `0.0.0.0:…` to accept from other hosts (put TLS in front).
    pub listen: String,
    /// Name of the environment variable holding the bearer token clients must send.
    pub token_env: String,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Posts in one request; an array of more is refused with 413 (before the rest is
    /// parsed), so one request's cost is bounded whatever it holds.
    pub max_posts: usize,
    /// Requests handled at once; more are refused with 429 and `Retry-After`.
    pub max_in_flight: usize,
    /// How long a request waits for the bus to accept its mentions before it is answered
    /// 503 (its posts may still get through; a retry is de-duplicated per window).
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// A request's headers must arrive within this (also how long a kept-alive connection
    /// may wait for its next request).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Open connections at most; more wait until one closes.
    pub max_connections: usize,
    /// Values of `source` accepted in posts; empty: any name of ASCII letters, digits,
    /// `.`, `_` and `-`. Listing them bounds the `source` label of the producer's metrics.
    pub allowed_sources: Vec<String>,
}

impl Default for HttpIngestConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            token_env: "VIRAL_INGEST_TOKEN".into(),
            max_body_bytes: 1 << 20,
            max_posts: 1000,
            max_in_flight: 64,
            ack_timeout: Duration::from_secs(30),
            header_read_timeout: Limits::default().header_read_timeout,
            idle_timeout: Limits::default().idle_timeout,
            max_connections: Limits::default().max_connections,
            allowed_sources: Vec::new(),
        }
    }
}

impl HttpIngestConfig {
    /// The listener's connection limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }

    /// Check the values; the keys named are relative to `sources.http`. The token's
    /// variable is read when the source is built, by the process that runs it.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            InvalidConfig::new(
                "listen",
                format!("{:?} is not an address: {e}", self.listen),
            )
        })?;
        if self.token_env.is_empty() {
            return Err(InvalidConfig::new(
                "token_env",
                "must name an environment variable",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(InvalidConfig::new("max_body_bytes", "must be at least 1"));
        }
        if self.max_posts == 0 {
            return Err(InvalidConfig::new("max_posts", "must be at least 1"));
        }
        if self.max_in_flight == 0 {
            return Err(InvalidConfig::new("max_in_flight", "must be at least 1"));
        }
        if self.ack_timeout.is_zero() {
            return Err(InvalidConfig::new("ack_timeout", "must be positive"));
        }
        self.limits()
            .check()
            .map_err(|(key, problem)| InvalidConfig::new(key, problem))?;
        if let Some(bad) = self
            .allowed_sources
            .iter()
            .find(|s| !super::valid_source_name(s))
        {
            return Err(InvalidConfig::new(
                "allowed_sources",
                format!("{bad:?}: use 1 to 64 of ASCII letters, digits, '.', '_' or '-'"),
            ));
        }
        Ok(())
    }
}

impl SourceConfig for HttpIngestConfig {
    /// Also that it does not take `http.listen`.
    fn check(&self, ctx: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()?;
        if same_listener(&self.listen, ctx.http_listen) {
            return Err(InvalidConfig::new(
                "listen",
                format!(
                    "{} is already http.listen (metrics and health)",
                    self.listen
                ),
            ));
        }
        Ok(())
    }

    /// Binds `listen` now: a port in use stops the process at start-up.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        let token = ctx.secret("token_env", &self.token_env)?;
        let monitor = ctx.monitor(super::NAME, UNREADY_AFTER);
        let source = super::HttpIngestSource::bind(self.clone(), token, monitor, ctx.acked.clone())
            .map_err(|e| InvalidConfig::new("listen", e.to_string()))?;
        Ok(Box::new(source))
    }
}

/// Whether two `listen` addresses would take the same port. Port 0 asks the system for a
/// free one, so two of those never collide, however they are spelled.
fn same_listener(a: &str, b: &str) -> bool {
    match (
        a.parse::<std::net::SocketAddr>(),
        b.parse::<std::net::SocketAddr>(),
    ) {
        (Ok(x), Ok(y)) => x.port() != 0 && x == y,
        _ => a == b,
    }
}
