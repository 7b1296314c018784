//! The entry point the three service binaries share, so each `main.rs` stays one line.
//!
//! A service is one stage on the shared Kafka bus, with its ops server (`/metrics`,
//! `/healthz`, `/readyz` following the broker and the store; on the aggregator also the
//! query API, `/api/v1/…`) on `http.listen`. SIGTERM or Ctrl-C stops
//! it cleanly: the stage commits what it has and the process exits within
//! [`DRAIN`]; whatever it could not finish is redone by its successor from the last
//! commit.

pub mod build;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use viral_bus::{Bus, KafkaBus};
use viral_config::{BusKind, Config, LogFormat};
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;
use viral_sources::SourceError;
use viral_store::Store;

use crate::aggregator::{self, Aggregator};
use crate::alerter::{Alerter, Judge};
use crate::producer;

/// How long a stopping service may take to commit and leave.
pub const DRAIN: Duration = Duration::from_secs(10);
/// How often `/readyz` re-checks the broker and the store.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Why a service stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("usage: {0} --config FILE (or VIRAL_CONFIG=FILE)")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] viral_config::ConfigError),
    #[error(
        "config key `bus.kind`: separate services talk through a shared bus; set it to \
         \"kafka\" with [bus.kafka] brokers, or run the whole pipeline in one process with \
         `viral standalone`"
    )]
    NeedsKafka,
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error("{0}")]
    Start(String),
    #[error("the stage failed: {0}")]
    Stage(String),
}

/// Which stage a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Aggregator,
    Alerter,
}

impl Role {
    fn of(name: &str) -> Option<Self> {
        match name {
            "viral-producer" => Some(Self::Producer),
            "viral-aggregator" => Some(Self::Aggregator),
            "viral-alerter" => Some(Self::Alerter),
            _ => None,
        }
    }
}

/// Run service `name` (`viral-producer`, …) with the process's arguments.
pub fn main(name: &str) -> Result<(), ServiceError> {
    let role = Role::of(name).ok_or_else(|| ServiceError::Usage(name.into()))?;
    let mut args = std::env::args().skip(1);
    let path = match (args.next().as_deref(), args.next()) {
        (Some("--config"), Some(p)) => PathBuf::from(p),
        (Some("--version"), _) => {
            println!("{name} {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        (None, _) => match std::env::var_os("VIRAL_CONFIG") {
            Some(p) => PathBuf::from(p),
            None => return Err(ServiceError::Usage(name.into())),
        },
        _ => return Err(ServiceError::Usage(name.into())),
    };
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
            key: "sources",
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
    let result = rt.block_on(run(role, name, config, Arc::new(bus)));
    // Blocking work still running (a transaction round trip) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(
    role: Role,
    name: &str,
    config: Config,
    bus: Arc<dyn Bus>,
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
    if let (Role::Aggregator, Some(store)) = (role, &store) {
        // The aggregator writes the counts, so it serves them: the query API.
        let clock = Arc::new(viral_runtime::clock::SystemClock);
        let state = build::query_state(&config, store.clone(), clock);
        router = router.merge(viral_api::router_with(
            state,
            build::query_limits(&config.http),
        ));
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
    tracing::info!(service = name, ops = %format!("http://{addr}"), "started");

    let stage = stage(role, &config, bus, store, metrics, health, shutdown.clone())?;
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

type StageFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// The stage of `role`, ready to run until `shutdown`.
fn stage(
    role: Role,
    config: &Config,
    bus: Arc<dyn Bus>,
    store: Option<Arc<dyn Store>>,
    metrics: Metrics,
    health: Health,
    shutdown: CancellationToken,
) -> Result<StageFuture, ServiceError> {
    let store = || {
        store.clone().ok_or_else(|| {
            ServiceError::Start(format!("the {role:?} stage was started without a store"))
        })
    };
    match role {
        Role::Producer => {
            let matcher = Arc::new(config.matcher().map_err(|e| build::BuildError {
                key: "topics",
                problem: e.to_string(),
            })?);
            let clock = build::clock(config);
            let build::Sources { sources, acked } =
                build::sources(config, clock.clone(), &metrics, &health)?;
            let producer = producer::Producer {
                matcher,
                bus,
                clock,
                metrics,
                health,
                topics: config.bus.topics.clone(),
            };
            let ((live_tx, live), (recorded_tx, recorded)) =
                (mpsc::channel(4096), mpsc::channel(4096));
            let mut sourcing = JoinSet::new();
            // Stopped with the service, or when the producer is gone (no source should
            // outlive the stage it feeds).
            let stop_sources = shutdown.child_token();
            for source in sources {
                let tx = if source.keeps_time() {
                    &recorded_tx
                } else {
                    &live_tx
                };
                sourcing.spawn(source.run(tx.clone(), stop_sources.clone()));
            }
            // The producer ends once every source has ended and dropped its sender.
            drop((live_tx, recorded_tx));
            let inputs = producer::Inputs {
                live,
                recorded,
                acked,
            };
            Ok(Box::pin(async move {
                let producing = producer.run(inputs);
                tokio::pin!(producing);
                loop {
                    tokio::select! {
                        produced = &mut producing => {
                            // Every source has ended (a file read to the end ends the
                            // service), or the bus is gone.
                            stop_sources.cancel();
                            while let Some(done) = sourcing.join_next().await {
                                source_result(done)?;
                            }
                            return produced.map_err(|e| e.to_string());
                        }
                        Some(done) = sourcing.join_next() => source_result(done)?,
                    }
                }
            }))
        }
        Role::Aggregator => {
            let store = store()?;
            let agg = Aggregator::new(
                bus,
                store,
                Arc::new(viral_runtime::clock::SystemClock),
                metrics,
                health,
                aggregator::Settings {
                    spec: config.window_spec().map_err(|e| build::BuildError {
                        key: "window",
                        problem: e.to_string(),
                    })?,
                    idle_timeout: config.aggregator.idle_timeout,
                    samples: config.aggregator.samples,
                    commit_interval: config.aggregator.commit_interval,
                    topics: config.bus.topics.clone(),
                    group: config.bus.group("aggregator"),
                },
            );
            Ok(Box::pin(async move {
                agg.run(shutdown).await.map_err(|e| e.to_string())
            }))
        }
        Role::Alerter => {
            let store = store()?;
            // Validated with the config already; the error names the entry and key.
            let judge =
                Judge::new(config.detectors.clone()).map_err(|(i, e)| build::BuildError {
                    key: "detectors",
                    problem: format!("detectors[{i}].{e}"),
                })?;
            let alerter = Alerter::new(bus, store, build::notifiers(config)?, metrics, judge)
                .with_topics(config.bus.topics.clone())
                .with_group(config.bus.group("alerter"))
                .with_tracked(config.topics.iter().map(|t| t.name.clone()).collect())
                .with_commit_interval(config.aggregator.commit_interval)
                .with_throttle(crate::throttle::Throttle::new(
                    config.notifiers.cooldown,
                    config.notifiers.max_per_hour,
                ));
            Ok(Box::pin(async move {
                alerter.run(shutdown).await.map_err(|e| e.to_string())
            }))
        }
    }
}

/// A source that failed (it cannot work at all: bad configuration, a port in use) stops
/// the service; one that finished leaves the others running.
fn source_result(done: Result<Result<(), SourceError>, JoinError>) -> Result<(), String> {
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("a source panicked: {e}")),
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
