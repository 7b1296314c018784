//! What the three service binaries share: their errors, their settings (those of
//! `viral standalone` too: [`crate::stages`]), the swappable edges built from config
//! ([`build`]) and, with the `kafka` feature, the process itself (`process`: command
//! line, ops server, one stage on the shared Kafka bus, a clean stop on SIGTERM).

pub mod build;
#[cfg(feature = "kafka")]
mod process;

use std::sync::Arc;

use viral_config::Config;
use viral_runtime::http::Router;
use viral_store::Store;

use crate::stages::Settings;

#[cfg(feature = "kafka")]
pub use process::{main, Role, DRAIN};

/// HTTP routes a service binary serves next to the ops routes, built from its config and
/// store: the aggregator's binary serves the query API this way, so the stages here do
/// not depend on it.
pub type Routes = fn(&Config, Arc<dyn Store>) -> Router;

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

/// The stage settings a service runs with: [`Settings::of`], as for `viral standalone`.
pub fn settings(config: &Config) -> Result<Settings, ServiceError> {
    Ok(Settings::of(config)?)
}
