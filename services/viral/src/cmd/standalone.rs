//! `viral standalone`: the whole pipeline in one process — source → producer → memory bus
//! → aggregator → SQLite + memory bus → alerter → stdout/webhook — with the same stage code
//! the services run. With no config it runs the built-in demo: a synthetic day of posts
//! on a 600× clock, a viral spike after six simulated hours, an alert within a minute.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use viral_bus::{Bus, MemoryBus};
use viral_config::{BusKind, Config, LogFormat};
use viral_pipeline::aggregator::{self, Aggregator};
use viral_pipeline::alerter::{Alerter, Judge};
use viral_pipeline::producer;
use viral_pipeline::service::build;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;

pub fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(config_path)?;
    viral_runtime::logging::init(config.log.format == LogFormat::Json, &config.log.level);
    anyhow::ensure!(
        config.bus.kind == BusKind::Memory,
        "config key `bus.kind`: viral standalone runs on the in-memory bus; set it to \"memory\""
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_pipeline(config, config_path.is_none()))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_pipeline(config: Config, demo: bool) -> anyhow::Result<()> {
    let shutdown = viral_runtime::shutdown::on_signal();
    let (metrics, health) = (Metrics::new(), Health::new());
    let matcher = Arc::new(config.matcher()?);
    let spec = config.window_spec()?;

    let synthetic = config.sources.synthetic.clone().unwrap_or_default();
    let clock = build::clock(&config);

    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(config.bus.memory_capacity));
    health.set("bus", true);
    let store = build::store(&config)?;
    health.set("store", store.ping().await.is_ok());

    let notifiers = build::notifiers(&config)?;
    if config.detectors.is_empty() {
        tracing::warn!("no [[detectors]] configured: windows are counted but nothing will alert");
    }
    let judge = Judge::new(config.detectors.clone())
        .map_err(|(i, e)| anyhow::anyhow!("config key `detectors[{i}].{e}`"))?;

    // The demo's windows are in simulated time: "now" for default ranges too.
    let state = viral_pipeline::service::build::query_state(&config, store.clone(), clock.clone());
    let router =
        viral_runtime::http::router(metrics.clone(), health.clone()).merge(viral_api::router_with(
            state,
            viral_pipeline::service::build::query_limits(&config.http),
        ));
    let listener = config.http.listener(&metrics);
    let (addr, http) =
        viral_runtime::http::serve(&config.http.listen, router, listener, shutdown.clone())
            .await
            .with_context(|| {
                format!(
                    "config key `http.listen`: cannot listen on {}",
                    config.http.listen
                )
            })?;

    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let agg = Aggregator::new(
        bus.clone(),
        store.clone(),
        clock.clone(),
        metrics.clone(),
        health.clone(),
        aggregator::Settings {
            spec,
            idle_timeout: config.aggregator.idle_timeout,
            samples: config.aggregator.samples,
            commit_interval: config.aggregator.commit_interval,
            topics: config.bus.topics.clone(),
            group: config.bus.group("aggregator"),
        },
    );
    let stop = shutdown.clone();
    tasks.spawn(async move { Ok(agg.run(stop).await?) });
    let alerter = Alerter::new(
        bus.clone(),
        store.clone(),
        notifiers,
        metrics.clone(),
        judge,
    )
    .with_topics(config.bus.topics.clone())
    .with_group(config.bus.group("alerter"))
    .with_tracked(config.topics.iter().map(|t| t.name.clone()).collect())
    .with_throttle(viral_pipeline::throttle::Throttle::new(
        config.notifiers.cooldown,
        config.notifiers.max_per_hour,
    ));
    let stop = shutdown.clone();
    tasks.spawn(async move { Ok(alerter.run(stop).await?) });

    let ((live_tx, live), (recorded_tx, recorded)) = (mpsc::channel(4096), mpsc::channel(4096));
    let build::Sources { sources, acked } =
        build::sources(&config, clock.clone(), &metrics, &health)?;
    for source in sources {
        let tx = if source.keeps_time() {
            &recorded_tx
        } else {
            &live_tx
        };
        let (tx, stop) = (tx.clone(), shutdown.clone());
        tasks.spawn(async move { Ok(source.run(tx, stop).await?) });
    }
    drop((live_tx, recorded_tx));
    let inputs = producer::Inputs {
        live,
        recorded,
        acked,
    };
    let producer = producer::Producer {
        matcher,
        bus: bus.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        health: health.clone(),
        topics: config.bus.topics.clone(),
    };
    tasks.spawn(async move { Ok(producer.run(inputs).await?) });

    let topics: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
    tracing::info!(
        demo,
        topics = ?topics,
        window = %humantime::format_duration(config.window.size),
        sources = ?config.sources.others(),
        speed = config.sources.synthetic_runs().then_some(synthetic.speed),
        metrics = %format!("http://{addr}/metrics"),
        "viral standalone is running; alerts are printed on stdout as JSON lines; Ctrl-C stops"
    );

    let result = supervise(&mut tasks, &shutdown).await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    let _ = http.await;
    result
}

/// Wait for Ctrl-C/SIGTERM, or for a stage to fail (which stops the rest).
async fn supervise(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            done = tasks.join_next() => match done {
                None => return Ok(()),
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(e))) => return Err(e.context("a pipeline stage failed")),
                Some(Err(e)) => return Err(anyhow::anyhow!("a pipeline stage panicked: {e}")),
            },
        }
    }
}
