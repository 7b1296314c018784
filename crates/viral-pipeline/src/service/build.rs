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
use viral_sources::live::SourceMonitor;
use viral_sources::{Acked, Source};
use viral_store::scylla::{ScyllaConfig, ScyllaStore};
use viral_store::Store;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A problem with one config key.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {problem}")]
pub struct BuildError {
    pub key: &'static str,
    pub problem: String,
}

fn err(key: &'static str, problem: impl std::fmt::Display) -> BuildError {
    BuildError {
        key,
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
    let s = &config.sources;
    let monitor = |name: &str, unready_after| {
        SourceMonitor::new(name, metrics.clone(), health.clone(), unready_after)
    };
    let (acked_tx, acked) = mpsc::channel(64);
    let topics: Vec<(String, Vec<String>)> = config
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.terms.clone()))
        .collect();
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    if s.synthetic_runs() {
        let synthetic = s.synthetic.clone().unwrap_or_default();
        out.push(Box::new(viral_sources::synthetic::SyntheticSource::new(
            synthetic,
            topics.clone(),
            clock.clone(),
        )));
    }
    if let Some(file) = &s.file {
        out.push(Box::new(viral_sources::file::FileSource::new(
            file.clone(),
            clock.clone(),
        )));
    }
    if let Some(j) = &s.jetstream {
        let m = monitor(viral_sources::jetstream::SOURCE, j.unready_after);
        out.push(Box::new(viral_sources::jetstream::JetstreamSource::new(
            j.clone(),
            m,
        )));
    }
    if let Some(m) = &s.mastodon {
        use viral_sources::mastodon::{MastodonSource, SOURCE};
        let token = viral_sources::secret_from_env("token_env", &m.token_env)
            .map_err(|e| err("sources.mastodon.token_env", e.problem))?;
        let source = MastodonSource::new(m.clone(), token, monitor(SOURCE, m.unready_after));
        out.push(Box::new(source));
    }
    if let Some(x) = &s.x {
        use viral_sources::x::{XSource, SOURCE};
        let token = viral_sources::secret_from_env("token_env", &x.token_env)
            .map_err(|e| err("sources.x.token_env", e.problem))?;
        let m = monitor(SOURCE, x.unready_after);
        out.push(Box::new(XSource::new(x.clone(), token, topics.clone(), m)));
    }
    if let Some(h) = &s.http {
        use viral_sources::http::{HttpIngestSource, NAME};
        let token = viral_sources::secret_from_env("token_env", &h.token_env)
            .map_err(|e| err("sources.http.token_env", e.problem))?;
        let m = monitor(NAME, viral_sources::live::UNREADY_AFTER);
        let source = HttpIngestSource::bind(h.clone(), token, m, acked_tx.clone())
            .map_err(|e| err("sources.http.listen", e))?;
        out.push(Box::new(source));
    }
    Ok(Sources {
        sources: out,
        acked,
    })
}
