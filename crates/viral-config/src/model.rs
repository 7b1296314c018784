//! Every configuration key, its type and its default. Unknown keys are errors: a typo
//! must not silently fall back to a default.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use viral_core::{TopicMatcher, TopicSpec, WindowSpec};
use viral_runtime::metrics::Metrics;
use viral_runtime::server::{Limits, Listener};

use crate::sources::SourcesConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub topics: Vec<TopicConfig>,
    pub window: WindowConfig,
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
    #[serde(default)]
    pub bus: BusConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub aggregator: AggregatorConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub notifiers: NotifiersConfig,
    #[serde(default)]
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    #[serde(with = "humantime_serde")]
    pub size: Duration,
    /// Defaults to `size` (tumbling windows).
    #[serde(default, with = "humantime_serde")]
    pub hop: Option<Duration>,
    #[serde(default = "default_lateness", with = "humantime_serde")]
    pub lateness: Duration,
    /// A post seen more than this after it was written is late: the watermark follows
    /// `observed_at − max_delay`, so a backdated post cannot reopen the past.
    #[serde(default = "default_max_delay", with = "humantime_serde")]
    pub max_delay: Duration,
}

fn default_max_delay() -> Duration {
    viral_core::window::DEFAULT_MAX_DELAY
}

fn default_lateness() -> Duration {
    Duration::from_secs(60)
}

/// A `[[detectors]]` entry: defined, defaulted and validated with the detectors.
pub use viral_core::DetectorConfig;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    #[default]
    Memory,
    Kafka,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    #[serde(default)]
    pub kind: BusKind,
    /// Capacity of each in-memory topic before publishers wait (backpressure).
    #[serde(default = "default_memory_capacity")]
    pub memory_capacity: usize,
    /// Required when `kind = "kafka"`.
    #[serde(default)]
    pub kafka: Option<viral_bus::KafkaConfig>,
    /// Names of the topics the stages talk through.
    #[serde(default)]
    pub topics: viral_bus::TopicNames,
    /// Consumer groups are `<prefix>-aggregator` and `<prefix>-alerter`: give each viral
    /// deployment sharing a Kafka cluster its own prefix (and topic names).
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
}

impl BusConfig {
    /// The consumer group of `stage` (`aggregator`, `alerter`).
    pub fn group(&self, stage: &str) -> String {
        format!("{}-{stage}", self.group_prefix)
    }
}

fn default_group_prefix() -> String {
    "viral".into()
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Memory,
            memory_capacity: default_memory_capacity(),
            kafka: None,
            topics: Default::default(),
            group_prefix: default_group_prefix(),
        }
    }
}

fn default_memory_capacity() -> usize {
    10_000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Scylla,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default)]
    pub kind: StoreKind,
    #[serde(default)]
    pub sqlite: SqliteConfig,
    /// Required when `kind = "scylla"`.
    #[serde(default)]
    pub scylla: Option<viral_store::scylla::ScyllaConfig>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            sqlite: SqliteConfig::default(),
            scylla: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    #[serde(default = "default_sqlite_path")]
    pub path: PathBuf,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            path: default_sqlite_path(),
        }
    }
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from("viral.db")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of /metrics, /healthz and /readyz (and the query API and dashboard where
    /// served). Port 0 picks a free port (logged).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A request's headers must arrive within this (also how long a kept-alive
    /// connection may wait for its next request).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed. At
    /// least 20 s: event streams send a keep-alive every 15 s.
    #[serde(default = "default_idle_timeout_http", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Open connections at most; more wait until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Expected-band and backtest queries computed at once (they replay a detector over
    /// stored history); more wait their turn.
    #[serde(default = "default_max_concurrent_queries")]
    pub max_concurrent_queries: usize,
    /// Event streams (`/api/v1/events`, one per open dashboard page) at once; more are
    /// answered 503.
    #[serde(default = "default_max_event_streams")]
    pub max_event_streams: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout_http(),
            max_connections: default_max_connections(),
            max_concurrent_queries: default_max_concurrent_queries(),
            max_event_streams: default_max_event_streams(),
        }
    }
}

impl HttpConfig {
    /// The listener's connection limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }

    /// The `http` listener within these limits, reporting to `metrics`.
    pub fn listener(&self, metrics: &Metrics) -> Listener {
        Listener {
            name: "http",
            limits: self.limits(),
            metrics: metrics.clone(),
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Limits::default().header_read_timeout
}

fn default_idle_timeout_http() -> Duration {
    Limits::default().idle_timeout
}

fn default_max_connections() -> usize {
    Limits::default().max_connections
}

fn default_max_concurrent_queries() -> usize {
    4
}

fn default_max_event_streams() -> usize {
    64
}

fn default_listen() -> String {
    "127.0.0.1:9900".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// After this long without a mention, the watermark follows the clock so windows
    /// close during silence.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Sample posts kept per window for alerts.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// How often closed windows, dead letters and progress are committed, in one
    /// transaction: the longest a closed window waits to be published (Kafka Streams uses
    /// 100 ms under exactly-once too).
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            idle_timeout: default_idle_timeout(),
            samples: default_samples(),
            commit_interval: default_commit_interval(),
        }
    }
}

fn default_commit_interval() -> Duration {
    Duration::from_millis(100)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_samples() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifiersConfig {
    /// Print each alert as one JSON line on standard output.
    #[serde(default = "yes")]
    pub stdout: bool,
    #[serde(default)]
    pub webhook: Option<viral_notifiers::webhook::WebhookConfig>,
    #[serde(default)]
    pub email: Option<viral_notifiers::email::EmailConfig>,
    /// After a topic's detector fires, its next incidents within this time are stored but
    /// not notified (a flapping topic tells people once). `0s` turns it off.
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    pub cooldown: Duration,
    /// At most this many new incidents notified per hour, all topics together (a mass
    /// event cannot flood anyone); `0` = no limit.
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: usize,
}

fn default_cooldown() -> Duration {
    Duration::from_secs(30 * 60)
}

fn default_max_per_hour() -> usize {
    100
}

impl Default for NotifiersConfig {
    fn default() -> Self {
        Self {
            stdout: true,
            webhook: None,
            email: None,
            cooldown: default_cooldown(),
            max_per_hour: default_max_per_hour(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `viral=debug,info`; `RUST_LOG` wins if set.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: default_level(),
        }
    }
}

fn default_level() -> String {
    "info".into()
}

impl Config {
    /// The window geometry (checked by validation, so this fails only on a `Config`
    /// built by hand).
    pub fn window_spec(&self) -> Result<WindowSpec, viral_core::window::SpecError> {
        WindowSpec::new(self.window.size, self.window.hop, self.window.lateness)?
            .with_max_delay(self.window.max_delay)
    }

    /// The topics as (name, terms), as the sources take them.
    pub fn topic_terms(&self) -> Vec<(String, Vec<String>)> {
        self.topics
            .iter()
            .map(|t| (t.name.clone(), t.terms.clone()))
            .collect()
    }

    pub fn topic_specs(&self) -> Vec<TopicSpec> {
        self.topics
            .iter()
            .map(|t| TopicSpec {
                name: t.name.clone(),
                terms: t.terms.clone(),
            })
            .collect()
    }

    /// The topic matcher (checked by validation, like [`window_spec`](Self::window_spec)).
    pub fn matcher(&self) -> Result<TopicMatcher, viral_core::matcher::MatcherError> {
        TopicMatcher::new(&self.topic_specs())
    }
}
