//! The three stages of viral, written once against the [`viral_bus::Bus`],
//! [`viral_store::Store`] and [`viral_notifiers::Notifier`] traits, so the standalone
//! mode (memory bus, SQLite) and the separate services run the very same code.
//!
//! # Layout
//!
//! - [`producer`]: posts from sources → topic matching → mentions on the bus.
//! - [`aggregator`]: mentions → windows (the core engine) → counts on the bus and in the
//!   store; idle watermark advance.
//! - [`alerter`]: counts → detectors → incidents → store and notifiers.
//! - [`throttle`]: the cooldown and hourly limit between incidents and notifiers.
//! - [`deadletter`]: what every consumer does with a message it cannot use.
//! - `outgoing`: the aggregator's output fitted to the bus's size limit.
//! - [`stages`]: the one place a config becomes running stages, for the services and
//!   `viral standalone` alike.
//! - [`service`]: the shared entry point of the service binaries; `service::build`, the
//!   swappable edges (store, notifiers, sources, clock) from config.

pub mod aggregator;
pub mod alerter;
pub mod deadletter;
mod outgoing;
pub mod producer;
pub mod service;
pub mod stages;
pub mod throttle;

/// Consumer group names on the bus.
pub mod groups {
    pub const AGGREGATOR: &str = "viral-aggregator";
    pub const ALERTER: &str = "viral-alerter";
}
