//! The one place a config becomes running stages, used by the three service binaries and
//! by `viral standalone` alike: a setting read here reaches every way of running viral,
//! or none (standalone once ran its alerter without `aggregator.commit_interval`).
//!
//! [`Settings::of`] reads every stage's settings from the config; [`producer`],
//! [`aggregator`] and [`alerter`] build each stage from them and the [`Parts`] the process
//! provides (its bus, store, clock, metrics and health). What differs between the two ways
//! of running stays with the caller: which bus and store, which clock (standalone shares
//! its simulated one; separate services count on the wall clock), and which HTTP routes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use viral_bus::{Bus, TopicNames};
use viral_config::Config;
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;
use viral_sources::SourceError;
use viral_store::Store;

use crate::aggregator::{self, Aggregator};
use crate::alerter::{Alerter, Judge};
use crate::producer;
use crate::service::build::{self, BuildError};
use crate::throttle::Throttle;

/// Every stage's settings, as read from one config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where the producer sends mentions (and dead letters).
    pub producer_topics: TopicNames,
    pub aggregator: aggregator::Settings,
    pub alerter: AlerterSettings,
}

/// What the alerter takes from the config besides its detectors and notifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlerterSettings {
    pub topics: TopicNames,
    pub group: String,
    /// The tracked topics, whose unfinished notifications are resumed at start-up.
    pub tracked: Vec<String>,
    pub commit_interval: Duration,
    pub cooldown: Duration,
    pub max_per_hour: usize,
}

impl Settings {
    /// Every stage's settings from `config`; an error names the key.
    pub fn of(config: &Config) -> Result<Self, BuildError> {
        let spec = config.window_spec().map_err(|e| BuildError {
            key: "window".into(),
            problem: e.to_string(),
        })?;
        Ok(Self {
            producer_topics: config.bus.topics.clone(),
            aggregator: aggregator::Settings {
                spec,
                idle_timeout: config.aggregator.idle_timeout,
                samples: config.aggregator.samples,
                commit_interval: config.aggregator.commit_interval,
                topics: config.bus.topics.clone(),
                group: config.bus.group("aggregator"),
            },
            alerter: AlerterSettings {
                topics: config.bus.topics.clone(),
                group: config.bus.group("alerter"),
                tracked: config.topics.iter().map(|t| t.name.clone()).collect(),
                commit_interval: config.aggregator.commit_interval,
                cooldown: config.notifiers.cooldown,
                max_per_hour: config.notifiers.max_per_hour,
            },
        })
    }
}

/// What the stages of one process share.
#[derive(Clone)]
pub struct Parts {
    pub bus: Arc<dyn Bus>,
    pub clock: SharedClock,
    pub metrics: Metrics,
    pub health: Health,
}

/// A stage, ready to run until its shutdown token is cancelled (or, for the producer,
/// until every source has ended).
pub type Stage = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The producer with every source `[sources]` describes, each in a task of its own. It
/// ends when every source has ended (a file read to the end) or the bus is gone; a source
/// that fails ends it with that source's error.
pub fn producer(
    config: &Config,
    settings: &Settings,
    parts: &Parts,
    shutdown: CancellationToken,
) -> Result<Stage, BuildError> {
    let matcher = Arc::new(config.matcher().map_err(|e| BuildError {
        key: "topics".into(),
        problem: e.to_string(),
    })?);
    let build::Sources { sources, acked } =
        build::sources(config, parts.clock.clone(), &parts.metrics, &parts.health)?;
    let producer = producer::Producer {
        matcher,
        bus: parts.bus.clone(),
        clock: parts.clock.clone(),
        metrics: parts.metrics.clone(),
        health: parts.health.clone(),
        topics: settings.producer_topics.clone(),
    };
    let ((live_tx, live), (recorded_tx, recorded)) = (mpsc::channel(4096), mpsc::channel(4096));
    let mut sourcing = JoinSet::new();
    // Stopped with the process, or when the producer is gone (no source should outlive
    // the stage it feeds).
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

/// A source that failed (it cannot work at all: bad configuration, a port in use) stops
/// the producer; one that finished leaves the others running.
fn source_result(done: Result<Result<(), SourceError>, JoinError>) -> Result<(), String> {
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("a source panicked: {e}")),
    }
}

/// The aggregator, writing to `store`.
pub fn aggregator(
    settings: &Settings,
    parts: &Parts,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> Stage {
    let agg = Aggregator::new(
        parts.bus.clone(),
        store,
        parts.clock.clone(),
        parts.metrics.clone(),
        parts.health.clone(),
        settings.aggregator.clone(),
    );
    Box::pin(async move { agg.run(shutdown).await.map_err(|e| e.to_string()) })
}

/// The alerter with the configured detectors and notifiers, keeping alerts in `store`.
pub fn alerter(
    config: &Config,
    settings: &Settings,
    parts: &Parts,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> Result<Stage, BuildError> {
    if config.detectors.is_empty() {
        tracing::warn!("no [[detectors]] configured: windows are counted but nothing will alert");
    }
    // Validated with the config already; the error names the entry and key.
    let judge = Judge::new(config.detectors.clone()).map_err(|(i, e)| BuildError {
        key: "detectors".into(),
        problem: format!("detectors[{i}].{e}"),
    })?;
    let s = &settings.alerter;
    let alerter = Alerter::new(
        parts.bus.clone(),
        store,
        build::notifiers(config)?,
        parts.metrics.clone(),
        judge,
    )
    .with_topics(s.topics.clone())
    .with_group(s.group.clone())
    .with_tracked(s.tracked.clone())
    .with_commit_interval(s.commit_interval)
    .with_throttle(Throttle::new(s.cooldown, s.max_per_hour));
    Ok(Box::pin(async move {
        alerter.run(shutdown).await.map_err(|e| e.to_string())
    }))
}
