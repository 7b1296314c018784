//! The entry point the three service binaries share, so each `main.rs` stays one line.
//!
//! A separate service only makes sense on a shared bus (Kafka). Until that bus exists,
//! a service validates its configuration (so deployments can already check their files)
//! and then explains how to run the pipeline instead, rather than starting something
//! that cannot talk to anyone.

use std::path::PathBuf;

use viral_config::LogFormat;

/// Why a service stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("usage: {0} --config FILE (or VIRAL_CONFIG=FILE)")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] viral_config::ConfigError),
    #[error(
        "config key `bus.kind`: separate services talk through a shared bus, and this build \
         has only the in-memory one, which lives inside one process. Run the whole pipeline \
         with `viral standalone` until bus.kind = \"kafka\" is available."
    )]
    NeedsKafka,
}

/// Run service `name` (`viral-producer`, …) with the process's arguments.
pub fn main(name: &str) -> Result<(), ServiceError> {
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
    Err(ServiceError::NeedsKafka)
}
