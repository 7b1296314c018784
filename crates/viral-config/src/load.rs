//! Reading the file and the environment. Figment merges them and records, for every
//! error, the key path and where the value came from; we keep both in the message.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use thiserror::Error;

use crate::model::Config;

/// The configuration `viral standalone` runs with when given no file: one demo topic,
/// 30-minute windows, the original threshold rule at a level the synthetic spike crosses.
pub const DEMO_CONFIG: &str = include_str!("demo.toml");

/// Why the configuration cannot be used. Each message names the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{}", .0.join("\n"))]
    Parse(Vec<String>),
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Load `path` (or the built-in demo configuration), apply `VIRAL__*` overrides, validate.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let base = match path {
        Some(p) => {
            // Figment skips a missing file silently; a missing --config is an error.
            std::fs::metadata(p).map_err(|e| ConfigError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            Figment::from(Toml::file(p))
        }
        None => Figment::from(Toml::string(DEMO_CONFIG)),
    };
    extract(base)
}

/// Load from a TOML string (plus environment overrides): tests and embedded configs.
pub fn load_str(toml: &str) -> Result<Config, ConfigError> {
    extract(Figment::from(Toml::string(toml)))
}

fn extract(base: Figment) -> Result<Config, ConfigError> {
    let figment = base.merge(Env::prefixed("VIRAL__").split("__"));
    let config: Config = figment.extract().map_err(|e| {
        ConfigError::Parse(
            e.into_iter()
                .map(|e| {
                    let key = if e.path.is_empty() {
                        "(top level)".to_string()
                    } else {
                        e.path.join(".")
                    };
                    let from = e
                        .metadata
                        .as_ref()
                        .map(|m| format!(" (from {})", m.name))
                        .unwrap_or_default();
                    format!("config key `{key}`: {}{from}", e.kind)
                })
                .collect(),
        )
    })?;
    crate::validate::validate(&config)?;
    Ok(config)
}
