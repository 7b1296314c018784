//! The process of a service binary, so each `main.rs` stays one line.
//!
//! A service is one stage on the shared Kafka bus, with its ops server (`/metrics`,
//! `/healthz`, `/readyz` following the broker and the store; on the aggregator also the
//! query API, `/api/v1/…`) on `http.listen`. SIGTERM or Ctrl-C stops it cleanly: the stage
//! commits what it has and the process exits within [`DRAIN`]; whatever it could not
//! finish is redone by its successor from the last commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use viral_bus::{Bus, KafkaBus};
use viral_config::{BusKind, Config, LogFormat};
use viral_runtime::clock::SystemClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;
use viral_store::Store;

use super::{build, settings, Routes, ServiceError};
use crate::stages::{self, Parts};

/// How long a stopping service may take to commit and leave.
pub const DRAIN: Duration = Duration::from_secs(10);
/// How often `/readyz` re-checks the broker and the store.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Which stage a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Aggregator,
    Alerter,
}

impl Role {
    /// The binary that runs this stage.
    fn binary(self) -> &'static str {
        match self {
            Self::Producer => "viral-producer",
            Self::Aggregator => "viral-aggregator",
            Self::Alerter => "viral-alerter",
        }
    }

    /// The stage binary `name` runs.
    fn of(name: &str) -> Option<Self> {
        [Self::Producer, Self::Aggregator, Self::Alerter]
            .into_iter()
            .find(|role| role.binary() == name)
    }
}

/// A service's command line: one flag, `--config FILE` (or `--config=FILE`, or
/// `VIRAL_CONFIG`); `--help` and `--version` as usual.
#[derive(Debug, clap::Parser)]
struct Args {
    /// The TOML config file shared by every service (README: Configuration); any key can
    /// be overridden by a `VIRAL__…` environment variable.
    #[arg(long, env = "VIRAL_CONFIG")]
    config: PathBuf,
}

impl Args {
    /// The process's arguments, for the service `name`; `--help`, `--version` and a
    /// usage error print and exit here, as clap does.
    fn parse_as(role: Role) -> Result<Self, ServiceError> {
        use clap::{CommandFactory, FromArgMatches};
        let about = match role {
            Role::Producer => "viral's producer: posts from the sources, matched to topics, as mentions on Kafka",
            Role::Aggregator => "viral's aggregator: mentions into windows, counts on Kafka and in the store; serves the query API and the dashboard",
            Role::Alerter => "viral's alerter: window counts judged by the detectors; incidents stored and notified",
        };
        let name = role.binary();
        let matches = Self::command()
            .name(name)
            .bin_name(name)
            .about(about)
            .version(env!("CARGO_PKG_VERSION"))
            .get_matches();
        Self::from_arg_matches(&matches).map_err(|e| ServiceError::Start(e.to_string()))
    }
}

/// Run service `name` (`viral-producer`, …) with the process's arguments, serving
/// `routes` too when the stage has a store.
pub fn main(name: &str, routes: Option<Routes>) -> Result<(), ServiceError> {
    let role = Role::of(name).ok_or_else(|| ServiceError::Usage(name.into()))?;
    let path = Args::parse_as(role)?.config;
    let config = viral_config::load(Some(&path))?;
    viral_runtime::logging::init(config.log.format == LogFormat::Json, &config.log.level);
    let kafka = match (&config.bus.kind, &config.bus.kafka) {
        (BusKind::Kafka, Some(k)) => k.clone(),
        _ => return Err(ServiceError::NeedsKafka),
    };
    if role == Role::Producer
        && config.sources.synthetic.is_none()
        && config.sources.synthetic_runs()
    {
        return Err(build::BuildError {
            key: "sources".into(),
            problem: "the producer needs at least one source ([sources.jetstream], \
                      [sources.file], [sources.synthetic], …)"
                .into(),
        }
        .into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServiceError::Start(format!("cannot start the async runtime: {e}")))?;
    let bus = KafkaBus::new(kafka)
        .map_err(|e| ServiceError::Start(format!("config key `bus.kafka`: {e}")))?;
    let result = rt.block_on(run(role, name, config, Arc::new(bus), routes));
    // Blocking work still running (a transaction round trip) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(
    role: Role,
    name: &str,
    config: Config,
    bus: Arc<dyn Bus>,
    routes: Option<Routes>,
) -> Result<(), ServiceError> {
    let shutdown = viral_runtime::shutdown::on_signal();
    let (metrics, health) = (Metrics::new(), Health::new());
    // The producer has no store; the others connect to theirs in the background.
    let store = match role {
        Role::Producer => None,
        Role::Aggregator | Role::Alerter => {
            let store = build::store(&config)?;
            tokio::spawn(watch_store(store.clone(), health.clone(), shutdown.clone()));
            Some(store)
        }
    };
    let mut router = viral_runtime::http::router(metrics.clone(), health.clone());
    if let (Some(routes), Some(store)) = (routes, &store) {
        router = router.merge(routes(&config, store.clone()));
    }
    let listener = config.http.listener(&metrics);
    let (addr, http) =
        viral_runtime::http::serve(&config.http.listen, router, listener, shutdown.clone())
            .await
            .map_err(|e| {
                ServiceError::Start(format!(
                    "config key `http.listen`: cannot listen on {}: {e}",
                    config.http.listen
                ))
            })?;
    tokio::spawn(watch_bus(bus.clone(), health.clone(), shutdown.clone()));
    // The query API's binary serves the dashboard at the root of the same listener.
    let dashboard = routes.map(|_| format!("http://{addr}/"));
    tracing::info!(service = name, ops = %format!("http://{addr}"), dashboard, "started");

    let settings = settings(&config)?;
    let parts = Parts {
        bus,
        // Separate processes share no simulated clock: only the producer runs on one (the
        // demo's, a paced file's); the stages downstream count on the wall clock.
        clock: match role {
            Role::Producer => build::clock(&config),
            _ => Arc::new(SystemClock),
        },
        metrics,
        health,
    };
    let stop = shutdown.clone();
    let stage = match (role, store) {
        (Role::Producer, _) => stages::producer(&config, &settings, &parts, stop)?,
        (Role::Aggregator, Some(store)) => stages::aggregator(&settings, &parts, store, stop),
        (Role::Alerter, Some(store)) => stages::alerter(&config, &settings, &parts, store, stop)?,
        (role, None) => {
            return Err(ServiceError::Start(format!(
                "the {role:?} stage was started without a store"
            )))
        }
    };
    let mut stage = tokio::spawn(stage);
    let result = tokio::select! {
        r = &mut stage => r,
        _ = shutdown.cancelled() => match tokio::time::timeout(DRAIN, &mut stage).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("did not drain within {DRAIN:?}; exiting anyway (a successor resumes from the last commit)");
                stage.abort();
                Ok(Ok(()))
            }
        },
    };
    shutdown.cancel();
    let _ = http.await;
    match result {
        Ok(Ok(())) => {
            tracing::info!(service = name, "stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(ServiceError::Stage(e)),
        Err(e) => Err(ServiceError::Stage(format!("panicked: {e}"))),
    }
}

/// Keep `/readyz` following the broker.
async fn watch_bus(bus: Arc<dyn Bus>, health: Health, shutdown: CancellationToken) {
    watch("bus", health, shutdown, move || {
        let bus = bus.clone();
        async move { bus.ping().await.map_err(|e| e.to_string()) }
    })
    .await
}

/// Keep `/readyz` following the store (writes also report on it as they go).
async fn watch_store(store: Arc<dyn Store>, health: Health, shutdown: CancellationToken) {
    watch("store", health, shutdown, move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
    .await
}

/// Set `component`'s readiness from `ping` every [`PING_EVERY`], logging each change.
async fn watch<F, Fut>(component: &str, health: Health, shutdown: CancellationToken, ping: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut was = None;
    loop {
        let result = ping().await;
        let ok = result.is_ok();
        health.set(component, ok);
        if was != Some(ok) {
            match result {
                Ok(()) => tracing::info!(component, "reachable"),
                Err(e) => tracing::warn!(component, error = %e, "unreachable"),
            }
            was = Some(ok);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PING_EVERY) => {}
        }
    }
}
