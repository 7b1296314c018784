//! Configuration: one TOML file shared by every viral process (`--config` or
//! `VIRAL_CONFIG`), each key overridable from the environment (`VIRAL__WINDOW__SIZE=10m`:
//! prefix `VIRAL__`, `__` for nesting), validated once at start-up so a bad value stops
//! the process with a message naming the key instead of misbehaving later.
//!
//! # Layout
//!
//! - [`model`]: the sections and keys, with their defaults.
//! - [`sources`]: `[sources]`, one registration line per source; each source's table
//!   is its own crate's type, which checks itself and builds its source.
//! - [`load`]: reading file + environment, turning figment's errors into ours.
//! - [`validate`]: the rules serde cannot express (units, cross-key constraints).
//!
//! A `[[detectors]]` entry is [`viral_core::DetectorConfig`]: its keys, defaults and
//! validation live with the detectors, so everything that builds one agrees.
//!
//! Secrets never live here: keys such as `notifiers.webhook.secret_env` name an
//! environment variable that holds the secret.

mod load;
mod model;
mod sources;
mod validate;

pub use load::{load, load_str, ConfigError, DEMO_CONFIG};
pub use model::*;
pub use sources::SourcesConfig;
