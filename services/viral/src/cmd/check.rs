//! `viral check`: a config is read, validated and turned into every stage's settings,
//! detectors, sources and notifiers (their secrets read from the environment), exactly as
//! a service's start-up would, without connecting to anything or starting a stage. A problem is the start-up error itself (naming the key);
//! a good config gets a short account of what would run. No secret is printed: only the
//! names of the environment variables that hold them, and no URL (a Slack webhook's URL
//! is a secret).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use viral_config::{BusKind, Config, StoreKind};
use viral_core::Judge;
use viral_pipeline::service::build;
use viral_pipeline::stages::Settings;
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(Some(path))?;
    let settings = Settings::of(&config)?;
    config.matcher()?;
    Judge::new(config.detectors.clone())
        .map_err(|(i, e)| anyhow::anyhow!("config key `detectors[{i}].{e}`"))?;
    // Notifiers and sources are built as start-up builds them (reading their secrets from
    // the environment), and dropped: nothing connects. The one thing a source takes at
    // build time is the ingest's port, which the checked service may hold right now.
    let mut notes = Vec::new();
    let notifiers = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let clock = build::clock(&config);
            match build::sources(&config, clock, &Metrics::new(), &Health::new()) {
                Ok(_) => {}
                Err(e) if e.key.ends_with(".listen") => {
                    notes.push(format!("note: {e} (in use by a running service?)"))
                }
                Err(e) => return Err(anyhow::Error::from(e)),
            }
            Ok(build::notifiers(&config)?)
        })?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", path.display())?;
    for line in account(&config, &settings, notifiers.iter().map(|n| n.name())) {
        writeln!(out, "  {line}")?;
    }
    for note in notes {
        writeln!(out, "  {note}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What would run, one line per part.
fn account<'a>(
    config: &Config,
    settings: &Settings,
    notifiers: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let topics: Vec<String> = config
        .topics
        .iter()
        .map(|t| format!("{} [{}]", t.name, t.terms.join(", ")))
        .collect();
    let spec = settings.aggregator.spec;
    let human = |ms: i64| {
        humantime::format_duration(std::time::Duration::from_millis(ms.unsigned_abs())).to_string()
    };
    let window = if spec.hop() == spec.size() {
        format!("{} tumbling", human(spec.size()))
    } else {
        format!("{} hopping every {}", human(spec.size()), human(spec.hop()))
    };
    let detectors: Vec<String> = config
        .detectors
        .iter()
        .map(|d| match d.name() {
            name if name == d.kind() => name.to_owned(),
            name => format!("{name} ({})", d.kind()),
        })
        .collect();
    let bus = match (&config.bus.kind, &config.bus.kafka) {
        (BusKind::Kafka, Some(k)) => format!("kafka at {}", k.brokers),
        (BusKind::Kafka, None) => "kafka".to_owned(),
        (BusKind::Memory, _) => "memory (viral standalone only)".to_owned(),
    };
    let store = match (&config.store.kind, &config.store.scylla) {
        (StoreKind::Scylla, Some(s)) => {
            format!("scylla at {}, keyspace {}", s.nodes.join(","), s.keyspace)
        }
        (StoreKind::Scylla, None) => "scylla".to_owned(),
        (StoreKind::Sqlite, _) => format!("sqlite at {}", config.store.sqlite.path.display()),
    };
    let notifiers: Vec<&str> = notifiers.collect();
    vec![
        format!("topics: {}: {}", topics.len(), topics.join("; ")),
        format!("windows: {window}"),
        format!(
            "detectors: {}",
            if detectors.is_empty() {
                "none (windows are counted, nothing alerts)".to_owned()
            } else {
                detectors.join(", ")
            }
        ),
        format!("sources: {}", {
            let running: Vec<&str> = config.sources.running().iter().map(|(k, _)| *k).collect();
            running.join(", ")
        }),
        format!("bus: {bus}"),
        format!("store: {store}"),
        format!(
            "notifiers: {}",
            if notifiers.is_empty() {
                "none".to_owned()
            } else {
                notifiers.join(", ")
            }
        ),
        format!("http: {}", config.http.listen),
    ]
}
