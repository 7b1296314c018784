//! Rules that types alone cannot state. Each failure names the key it is about.

use std::collections::HashSet;
use std::net::SocketAddr;

use viral_core::matcher::MatcherError;
use viral_sources::CheckContext;

use crate::load::ConfigError;
use crate::model::{BusKind, Config, StoreKind};

/// An optional section such as `[bus.kafka]`: required (by its key `required`) when
/// `needed`, and checked when present. Its validator reports `key: problem` relative to
/// the section, which is turned into the full key here.
fn section(
    name: &str,
    required: &str,
    needed: bool,
    checked: Option<Result<(), String>>,
) -> Result<(), ConfigError> {
    match checked {
        None if needed => {
            let (parent, kind) = name.rsplit_once('.').unwrap_or(("", name));
            let env = format!("VIRAL__{}__{}", name.replace('.', "__"), required).to_uppercase();
            Err(ConfigError::invalid(
                format!("{name}.{required}"),
                format!("required when {parent}.kind = \"{kind}\" (or set {env})"),
            ))
        }
        Some(Err(e)) => {
            let (key, why) = e.split_once(':').unwrap_or(("", &e));
            Err(ConfigError::invalid(format!("{name}.{key}"), why.trim()))
        }
        _ => Ok(()),
    }
}

pub(crate) fn validate(c: &Config) -> Result<(), ConfigError> {
    topics(c)?;
    c.window_spec()
        .map_err(|e| ConfigError::invalid("window", e.to_string()))?;
    detectors(c)?;
    section(
        "bus.kafka",
        "brokers",
        c.bus.kind == BusKind::Kafka,
        c.bus.kafka.as_ref().map(|k| k.validate()),
    )?;
    for (key, name) in [
        ("bus.topics.mentions", &c.bus.topics.mentions),
        ("bus.topics.counts", &c.bus.topics.counts),
        ("bus.topics.deadletter", &c.bus.topics.deadletter),
    ] {
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
        {
            return Err(ConfigError::invalid(
                key,
                format!("{name:?}: a topic name is letters, digits, '.', '_' and '-'"),
            ));
        }
    }
    if c.aggregator.commit_interval.is_zero() {
        return Err(ConfigError::invalid(
            "aggregator.commit_interval",
            "must be positive",
        ));
    }
    if c.bus.memory_capacity == 0 {
        return Err(ConfigError::invalid(
            "bus.memory_capacity",
            "must be at least 1",
        ));
    }
    section(
        "store.scylla",
        "nodes",
        c.store.kind == StoreKind::Scylla,
        c.store.scylla.as_ref().map(|s| s.validate()),
    )?;
    c.http.listen.parse::<SocketAddr>().map_err(|e| {
        ConfigError::invalid(
            "http.listen",
            format!("{:?} is not an address: {e}", c.http.listen),
        )
    })?;
    if c.aggregator.samples > viral_core::limits::MAX_SAMPLES {
        return Err(ConfigError::invalid(
            "aggregator.samples",
            format!(
                "{}: at most {} (each window count carries them on the bus)",
                c.aggregator.samples,
                viral_core::limits::MAX_SAMPLES
            ),
        ));
    }
    http(c)?;
    if c.aggregator.idle_timeout.is_zero() {
        return Err(ConfigError::invalid(
            "aggregator.idle_timeout",
            "must be positive",
        ));
    }
    if let Some(w) = &c.notifiers.webhook {
        w.validate()
            .map_err(|e| ConfigError::invalid("notifiers.webhook", e))?;
    }
    section(
        "notifiers.email",
        "smtp_host",
        false,
        c.notifiers.email.as_ref().map(|e| e.validate()),
    )?;
    sources(c)?;
    Ok(())
}

/// Event streams send a keep-alive every 15 s (axum's default): an idle timeout must
/// leave room for it.
const MIN_HTTP_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

fn http(c: &Config) -> Result<(), ConfigError> {
    c.http
        .limits()
        .check()
        .map_err(|(key, why)| ConfigError::invalid(format!("http.{key}"), why))?;
    if c.http.idle_timeout < MIN_HTTP_IDLE_TIMEOUT {
        return Err(ConfigError::invalid(
            "http.idle_timeout",
            "must be at least 20s (event streams send a keep-alive every 15 s)",
        ));
    }
    if c.http.max_concurrent_queries == 0 {
        return Err(ConfigError::invalid(
            "http.max_concurrent_queries",
            "must be at least 1",
        ));
    }
    if c.http.max_event_streams == 0 {
        return Err(ConfigError::invalid(
            "http.max_event_streams",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// The sources' tables, each by its own check; the key it names is relative to its
/// table, so the full key is `sources.<table>.<key>`.
fn sources(c: &Config) -> Result<(), ConfigError> {
    let s = &c.sources;
    if s.synthetic.is_some() && !s.synthetic_runs() {
        return Err(ConfigError::invalid(
            "sources.synthetic",
            format!(
                "the synthetic demo runs on its own simulated clock and cannot be combined \
                 with other sources (configured: {}); remove one",
                s.others().join(", ")
            ),
        ));
    }
    let topics = c.topic_terms();
    let ctx = CheckContext {
        topics: &topics,
        http_listen: &c.http.listen,
    };
    for (table, source) in s.configured() {
        source
            .check(&ctx)
            .map_err(|e| ConfigError::invalid(format!("sources.{table}.{}", e.key), e.problem))?;
    }
    Ok(())
}

fn topics(c: &Config) -> Result<(), ConfigError> {
    if c.topics.is_empty() {
        return Err(ConfigError::invalid(
            "topics",
            "at least one [[topics]] is required",
        ));
    }
    let mut seen = HashSet::new();
    for (i, t) in c.topics.iter().enumerate() {
        let key = format!("topics[{i}].name");
        let ok_chars = t
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if t.name.is_empty() || t.name.len() > 100 || !ok_chars {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "{:?}: use 1 to 100 of ASCII letters, digits, '-', '_' or '.'",
                    t.name
                ),
            ));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(ConfigError::invalid(
                key,
                format!("{:?} appears twice", t.name),
            ));
        }
    }
    c.matcher().map(|_| ()).map_err(|e| {
        let i = |name: &str| c.topics.iter().position(|t| t.name == name).unwrap_or(0);
        match &e {
            MatcherError::EmptyTerm { topic, term } => {
                let j = c.topics[i(topic)]
                    .terms
                    .iter()
                    .position(|t| t == term)
                    .unwrap_or(0);
                ConfigError::invalid(format!("topics[{}].terms[{j}]", i(topic)), e.to_string())
            }
            MatcherError::NoTerms { topic } => {
                ConfigError::invalid(format!("topics[{}].terms", i(topic)), e.to_string())
            }
        }
    })
}

fn detectors(c: &Config) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, d) in c.detectors.iter().enumerate() {
        d.validate()
            .map_err(|e| ConfigError::invalid(format!("detectors[{i}].{}", e.key), e.message))?;
        if !names.insert(d.name()) {
            return Err(ConfigError::invalid(
                format!("detectors[{i}].name"),
                format!(
                    "detector name {:?} is used twice; give each a distinct `name`",
                    d.name()
                ),
            ));
        }
    }
    Ok(())
}
