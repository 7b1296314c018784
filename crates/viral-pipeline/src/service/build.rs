//! Building the swappable edges from config, shared by the services and `viral
//! standalone`, so both read a config file the same way. Errors name the config key.

use std::sync::Arc;

use tokio::sync::mpsc;

use viral_config::{Config, StoreKind};
use viral_notifiers::Notifier;
use viral_runtime::clock::{Clock, SharedClock, SimClock, SystemClock};
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_sources::file::FileTime;
use viral_sources::{Acked, BuildContext, Source};
use viral_store::scylla::{ScyllaConfig, ScyllaStore};
use viral_store::Store;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A problem with one config key.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {problem}")]
pub struct BuildError {
    pub key: String,
    pub problem: String,
}

fn err(key: impl Into<String>, problem: impl std::fmt::Display) -> BuildError {
    BuildError {
        key: key.into(),
        problem: problem.to_string(),
    }
}

/// The store `[store]` describes. A CQL store connects in the background (retrying with
/// backoff), so a service starts, and says it is not ready, while its database is away;
/// must be called inside a tokio runtime.
pub fn store(config: &Config) -> Result<Arc<dyn Store>, BuildError> {
    match config.store.kind {
        StoreKind::Sqlite => sqlite(config),
        StoreKind::Scylla => Ok(Arc::new(ScyllaStore::connecting(scylla_config(config)?))),
    }
}

/// The store `[store]` describes, connected now: for commands, which should fail at once
/// when the database is away rather than wait for it.
pub async fn store_now(config: &Config) -> Result<Arc<dyn Store>, BuildError> {
    match config.store.kind {
        StoreKind::Sqlite => sqlite(config),
        StoreKind::Scylla => {
            let c = scylla_config(config)?;
            let nodes = c.nodes.join(",");
            let store = ScyllaStore::connect(c)
                .await
                .map_err(|e| err("store.scylla.nodes", format!("{nodes}: {e}")))?;
            Ok(Arc::new(store))
        }
    }
}

fn scylla_config(config: &Config) -> Result<ScyllaConfig, BuildError> {
    config.store.scylla.clone().ok_or_else(|| {
        err(
            "store.scylla.nodes",
            "required when store.kind = \"scylla\"",
        )
    })
}

fn sqlite(config: &Config) -> Result<Arc<dyn Store>, BuildError> {
    let path = &config.store.sqlite.path;
    let store = viral_store::sqlite::SqliteStore::open(path).map_err(|e| {
        err(
            "store.sqlite.path",
            format!("cannot open {}: {e}", path.display()),
        )
    })?;
    Ok(Arc::new(store))
}

/// The notifiers `[notifiers]` enables.
pub fn notifiers(config: &Config) -> Result<Vec<Arc<dyn Notifier>>, BuildError> {
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    if config.notifiers.stdout {
        out.push(Arc::new(viral_notifiers::stdout::StdoutNotifier::new()));
    }
    if let Some(w) = &config.notifiers.webhook {
        let n = viral_notifiers::webhook::WebhookNotifier::new(w.clone())
            .map_err(|e| err("notifiers.webhook", e))?;
        out.push(Arc::new(n));
    }
    if let Some(e) = &config.notifiers.email {
        let n = viral_notifiers::email::EmailNotifier::new(e.clone())
            .map_err(|e| err("notifiers.email", e))?;
        out.push(Arc::new(n));
    }
    Ok(out)
}

/// The clock the pipeline runs on: the wall clock, except for the synthetic demo, whose
/// simulated day starts at yesterday's midnight (so its rhythm lines up with the wall
/// clock and windows are round) and runs `speed` times faster, and for a file moved onto
/// the present with a `speed`, whose clock starts now and runs that much faster.
pub fn clock(config: &Config) -> SharedClock {
    if let Some(file) = &config.sources.file {
        if let (FileTime::Rebase, Some(speed)) = (file.time, file.speed) {
            return Arc::new(SimClock::new(SystemClock.now_ms(), speed));
        }
    }
    if !config.sources.synthetic_runs() {
        return Arc::new(SystemClock);
    }
    let speed = config.sources.synthetic.as_ref().map_or(
        viral_sources::synthetic::SyntheticConfig::default().speed,
        |s| s.speed,
    );
    let now = SystemClock.now_ms();
    let origin = now.div_euclid(DAY_MS) * DAY_MS - DAY_MS;
    Arc::new(SimClock::new(origin, speed))
}

/// What [`sources`] builds: the sources, and the producer's input for posts that wait for
/// the bus (the HTTP ingest's; closed at once when it is not configured).
pub struct Sources {
    pub sources: Vec<Box<dyn Source>>,
    pub acked: mpsc::Receiver<Acked>,
}

/// The sources `[sources]` describes, each to be run in a task of its own, all sending
/// into the producer: every configured one, or the synthetic demo (its defaults when
/// `[sources.synthetic]` is absent) when no other is. Live sources report their metrics
/// into `metrics` and their readiness (`source:<name>`) into `health`. Secrets are read
/// from the environment and the ingest port is bound here, so that a missing token or a
/// port in use stops the process at start-up; must be called inside a tokio runtime.
pub fn sources(
    config: &Config,
    clock: SharedClock,
    metrics: &Metrics,
    health: &Health,
) -> Result<Sources, BuildError> {
    let (acked_tx, acked) = mpsc::channel(64);
    let ctx = BuildContext::new(
        config.topic_terms(),
        clock,
        metrics.clone(),
        health.clone(),
        acked_tx,
    );
    let sources = config
        .sources
        .running()
        .into_iter()
        .map(|(table, source)| {
            source
                .build(&ctx)
                .map_err(|e| err(source_key(table, e.key), e.problem))
        })
        .collect::<Result<_, _>>()?;
    Ok(Sources { sources, acked })
}

/// `sources.<table>.<key>`: the full key of a source's setting, for a [`BuildError`].
fn source_key(table: &str, key: &str) -> String {
    format!("sources.{table}.{key}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use viral_runtime::clock::SystemClock;
    use viral_runtime::health::Health;
    use viral_runtime::metrics::Metrics;

    #[test]
    fn a_source_that_cannot_be_built_names_its_full_key() {
        let config = viral_config::load_str(
            "[[topics]]\nname = \"spray\"\nterms = [\"ocean spray\"]\n\
             [window]\nsize = \"30m\"\n\
             [sources.mastodon]\ninstance = \"https://mastodon.example\"\n\
             hashtags = [\"spray\"]\ntoken_env = \"VIRAL_TEST_TOKEN_NOBODY_SETS\"\n",
        )
        .unwrap();
        let Err(e) = super::sources(
            &config,
            Arc::new(SystemClock),
            &Metrics::new(),
            &Health::new(),
        ) else {
            panic!("built without its token");
        };
        assert_eq!(
            e.to_string(),
            "config key `sources.mastodon.token_env`: names \"VIRAL_TEST_TOKEN_NOBODY_SETS\", \
             but that environment variable is not set (or not UTF-8)"
        );
    }
}
