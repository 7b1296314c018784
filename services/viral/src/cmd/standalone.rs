//! `viral standalone`: the whole pipeline in one process — source → producer → memory bus
//! → aggregator → SQLite + memory bus → alerter → stdout/webhook — with the same stage code
//! the services run. With no config it runs the built-in demo: a synthetic day of posts
//! on a 600× clock, a viral spike after six simulated hours, an alert within a minute.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinSet;
use viral_bus::MemoryBus;
use viral_config::{BusKind, Config, LogFormat, StoreKind};
use viral_pipeline::service::build;
use viral_pipeline::stages::{self, Parts, Settings};
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
    let demo = config_path.is_none();
    if demo {
        fresh_demo_store(&config)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_pipeline(config, demo))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_pipeline(config: Config, demo: bool) -> anyhow::Result<()> {
    let shutdown = viral_runtime::shutdown::on_signal();
    let settings = settings(&config)?;
    // One clock for every stage: the demo's simulated one (or a paced file's) moves the
    // aggregator's idle advance and the API's "now" as it moves the sources.
    let parts = Parts {
        bus: Arc::new(MemoryBus::new(config.bus.memory_capacity)),
        clock: build::clock(&config),
        metrics: Metrics::new(),
        health: Health::new(),
    };
    parts.health.set("bus", true);
    let store = build::store(&config)?;
    parts.health.set("store", store.ping().await.is_ok());

    let router = viral_runtime::http::router(parts.metrics.clone(), parts.health.clone()).merge(
        viral_aggregator::query_api(&config, store.clone(), parts.clock.clone()),
    );
    let listener = config.http.listener(&parts.metrics);
    let (addr, http) =
        viral_runtime::http::serve(&config.http.listen, router, listener, shutdown.clone())
            .await
            .with_context(|| {
                format!(
                    "config key `http.listen`: cannot listen on {}",
                    config.http.listen
                )
            })?;

    let mut tasks: JoinSet<Result<(), String>> = JoinSet::new();
    let stop = || shutdown.clone();
    tasks.spawn(stages::aggregator(&settings, &parts, store.clone(), stop()));
    tasks.spawn(stages::alerter(&config, &settings, &parts, store, stop())?);
    tasks.spawn(stages::producer(&config, &settings, &parts, stop())?);

    let topics: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
    let synthetic = config.sources.synthetic.clone().unwrap_or_default();
    tracing::info!(
        demo,
        topics = ?topics,
        window = %humantime::format_duration(config.window.size),
        sources = ?config.sources.others(),
        speed = config.sources.synthetic_runs().then_some(synthetic.speed),
        metrics = %format!("http://{addr}/metrics"),
        dashboard = %format!("http://{addr}/"),
        "viral standalone is running; alerts are printed on stdout as JSON lines; Ctrl-C stops"
    );

    let result = supervise(&mut tasks, &shutdown).await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    let _ = http.await;
    result
}

/// The built-in demo replays the same simulated day each run, so its incidents get the
/// same ids as last time's: over last run's store they would count as already delivered,
/// and nothing would be printed. Each demo run therefore starts from an empty store.
fn fresh_demo_store(config: &Config) -> anyhow::Result<()> {
    if config.store.kind != StoreKind::Sqlite {
        return Ok(());
    }
    let db = &config.store.sqlite.path;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "store.sqlite.path: the demo starts from an empty store, and {} cannot be removed",
                        Path::new(&name).display()
                    )
                })
            }
        }
    }
    tracing::info!(store = %db.display(), "the demo starts from an empty store");
    Ok(())
}

/// The stage settings standalone runs with: the services' own ([`Settings::of`]).
fn settings(config: &Config) -> anyhow::Result<Settings> {
    Ok(Settings::of(config)?)
}

/// Wait for Ctrl-C/SIGTERM, or for a stage to fail (which stops the rest).
async fn supervise(
    tasks: &mut JoinSet<Result<(), String>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            done = tasks.join_next() => match done {
                None => return Ok(()),
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(e))) => return Err(anyhow::anyhow!("a pipeline stage failed: {e}")),
                Some(Err(e)) => return Err(anyhow::anyhow!("a pipeline stage panicked: {e}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Every stage setting the config has, off its default.
    const CONFIG: &str = r#"
[[topics]]
name = "ocean-spray"
terms = ["ocean spray"]

[window]
size = "5m"
hop = "1m"
lateness = "20s"
max_delay = "30m"

[aggregator]
idle_timeout = "7s"
samples = 2
commit_interval = "250ms"

[bus]
kind = "memory"
group_prefix = "brand"

[bus.topics]
mentions = "m.v1"
counts = "c.v1"
deadletter = "d.v1"

[notifiers]
cooldown = "2h"
max_per_hour = 9
"#;

    #[test]
    fn standalone_and_the_services_run_the_stages_with_the_same_settings() {
        let config = viral_config::load_str(CONFIG).expect("a valid config");
        let standalone = super::settings(&config).expect("standalone's settings");
        let services = viral_pipeline::service::settings(&config).expect("the services'");
        assert_eq!(standalone, services);
        // And every key reached its stage.
        let (agg, alerter) = (&standalone.aggregator, &standalone.alerter);
        assert_eq!(agg.spec, config.window_spec().expect("a valid window"));
        assert_eq!(
            (agg.idle_timeout, agg.samples, agg.commit_interval),
            (Duration::from_secs(7), 2, Duration::from_millis(250))
        );
        assert_eq!(agg.group, "brand-aggregator");
        assert_eq!(alerter.group, "brand-alerter");
        assert_eq!(alerter.commit_interval, Duration::from_millis(250));
        assert_eq!(
            (alerter.cooldown, alerter.max_per_hour),
            (Duration::from_secs(7200), 9)
        );
        assert_eq!(alerter.tracked, ["ocean-spray"]);
        for topics in [&standalone.producer_topics, &agg.topics, &alerter.topics] {
            assert_eq!(
                (&*topics.mentions, &*topics.counts, &*topics.deadletter),
                ("m.v1", "c.v1", "d.v1")
            );
        }
    }
}
