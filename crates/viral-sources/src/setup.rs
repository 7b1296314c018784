//! How a source is configured and built. Its table's type (`[sources.<key>]`) implements
//! [`SourceConfig`]: it checks itself, against the rest of the configuration
//! ([`CheckContext`]), when the file is loaded, and it builds its running source from
//! what the process provides ([`BuildContext`]) when a producer starts. The configuration
//! crate registers each type with one line and loops over them, so adding a source
//! touches its own folder and that line, nothing else.

use std::fmt::Debug;
use std::time::Duration;

use tokio::sync::mpsc;
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;

use crate::live::SourceMonitor;
use crate::{Acked, InvalidConfig, Source};

/// A source's configuration table. Errors name a key relative to the table (e.g.
/// `token_env`); the caller, who knows where the table is, names the full key.
pub trait SourceConfig: Debug + Send + Sync {
    /// Check the values, on their own and against the rest of the configuration.
    fn check(&self, ctx: &CheckContext<'_>) -> Result<(), InvalidConfig>;

    /// The source, ready to run in a task of its own. What can only fail in the process
    /// that runs it (a secret not in its environment, a port in use) fails here, so that
    /// it stops the process at start-up. Must be called inside a tokio runtime.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig>;
}

/// What a source's table is checked against: the parts of the configuration outside it.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The tracked topics as (name, terms).
    pub topics: &'a [(String, Vec<String>)],
    /// `http.listen`: the address of metrics and health, which no source may take.
    pub http_listen: &'a str,
}

/// What the process gives its sources.
pub struct BuildContext {
    /// The tracked topics as (name, terms).
    pub topics: Vec<(String, Vec<String>)>,
    /// The pipeline's clock (the demo's and a rebased file's run faster than the wall).
    pub clock: SharedClock,
    /// Where live sources report their metrics and readiness (`source:<name>`).
    pub metrics: Metrics,
    pub health: Health,
    /// The producer's input for posts whose sender waits for the bus ([`Acked`]).
    pub acked: mpsc::Sender<Acked>,
    /// Where secrets are looked up by variable name: the environment, unless a test
    /// says otherwise.
    pub secrets: fn(&str) -> Option<String>,
}

impl BuildContext {
    /// A context whose secrets come from the environment.
    pub fn new(
        topics: Vec<(String, Vec<String>)>,
        clock: SharedClock,
        metrics: Metrics,
        health: Health,
        acked: mpsc::Sender<Acked>,
    ) -> Self {
        Self {
            topics,
            clock,
            metrics,
            health,
            acked,
            secrets: from_env,
        }
    }

    /// The metrics and readiness handle of the live source `name`.
    pub fn monitor(&self, name: &str, unready_after: Duration) -> SourceMonitor {
        SourceMonitor::new(
            name,
            self.metrics.clone(),
            self.health.clone(),
            unready_after,
        )
    }

    /// The secret in the variable `var`, which the key `key` (e.g. `token_env`) names.
    /// Secrets are never in the configuration file, nor logged.
    pub fn secret(&self, key: &'static str, var: &str) -> Result<String, InvalidConfig> {
        match (self.secrets)(var) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            Some(_) => Err(InvalidConfig::new(
                key,
                format!("names {var:?}, but that environment variable is empty"),
            )),
            None => Err(InvalidConfig::new(
                key,
                format!("names {var:?}, but that environment variable is not set (or not UTF-8)"),
            )),
        }
    }
}

fn from_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use viral_runtime::clock::SystemClock;

    use super::*;
    use crate::{file, http, jetstream, mastodon, synthetic, x};

    fn context(secrets: fn(&str) -> Option<String>) -> (BuildContext, mpsc::Receiver<Acked>) {
        let (acked, rx) = mpsc::channel(1);
        let topics = vec![("spray".to_owned(), vec!["ocean spray".to_owned()])];
        let mut ctx = BuildContext::new(
            topics,
            Arc::new(SystemClock),
            Metrics::new(),
            Health::new(),
            acked,
        );
        ctx.secrets = secrets;
        (ctx, rx)
    }

    fn mastodon() -> mastodon::MastodonConfig {
        mastodon::MastodonConfig {
            instance: "https://mastodon.example".into(),
            hashtags: vec!["spray".into()],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn every_source_builds_from_its_table_with_what_the_process_gives() {
        let (ctx, _acked) = context(|_| Some("a token".into()));
        let http = http::HttpIngestConfig {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        };
        let file = file::FileConfig {
            path: "posts.jsonl".into(),
            time: Default::default(),
            speed: None,
        };
        let tables: [&dyn SourceConfig; 6] = [
            &synthetic::SyntheticConfig::default(),
            &file,
            &jetstream::JetstreamConfig::default(),
            &mastodon(),
            &x::XConfig::default(),
            &http,
        ];
        let names: Vec<String> = tables
            .iter()
            .map(|t| t.build(&ctx).map(|s| s.name().to_owned()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            names,
            ["synthetic", "file", "bluesky", "mastodon", "x", "http"]
        );
    }

    #[tokio::test]
    async fn a_missing_or_empty_secret_stops_the_build_naming_its_key() {
        let (unset, _a) = context(|_| None);
        let Err(e) = mastodon().build(&unset) else {
            panic!("built without its token")
        };
        assert_eq!(e.key, "token_env");
        assert!(e.problem.contains("\"VIRAL_MASTODON_TOKEN\""), "{e}");
        assert!(e.problem.contains("not set"), "{e}");
        let (empty, _b) = context(|_| Some(" \n".into()));
        let Err(e) = x::XConfig::default().build(&empty) else {
            panic!("built with an empty token")
        };
        assert_eq!(e.key, "token_env");
        assert!(e.problem.contains("empty"), "{e}");
    }

    #[test]
    fn a_table_is_checked_against_the_rest_of_the_configuration() {
        let topics = vec![("spray".to_owned(), vec!["ocean spray".to_owned()])];
        let ctx = CheckContext {
            topics: &topics,
            http_listen: "127.0.0.1:9900",
        };
        let http = http::HttpIngestConfig {
            listen: "127.0.0.1:9900".into(),
            ..Default::default()
        };
        assert_eq!(http.validate(), Ok(()));
        assert_eq!(http.check(&ctx).unwrap_err().key, "listen");
        // Two port-0 listeners each get a port of their own: no clash.
        let any = CheckContext {
            topics: &topics,
            http_listen: "127.0.0.1:0",
        };
        let http_any = http::HttpIngestConfig {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        };
        assert_eq!(http_any.check(&any), Ok(()));
        let demo = synthetic::SyntheticConfig {
            spike_topic: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(demo.check(&ctx).unwrap_err().key, "spike_topic");
        assert_eq!(mastodon().check(&ctx), Ok(()));
    }
}
