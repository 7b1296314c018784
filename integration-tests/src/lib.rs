//! Helpers for viral's end-to-end tests.
//!
//! # Layout
//!
//! - [`config`]: the viral configs tests write, from one builder.
//! - [`schema`]: validates messages against the JSON Schemas in `schemas/`, the contract
//!   other tools read, with a real JSON Schema validator.
//! - [`webhook`]: a real HTTP server that records what notifiers POST to it.
//! - [`kafka`]: the real Kafka broker Kafka tests use, started on demand.
//! - [`cassandra`]: the real CQL database (Apache Cassandra 5.0) the store tests use.
//! - [`node`]: both of those run by their scripts, shared or a test's own.
//! - [`services`]: the service binaries as real processes (start, kill -9, SIGTERM).

pub mod cassandra;
pub mod config;
pub mod kafka;
pub mod node;
pub mod schema;
pub mod services;
pub mod start_up;
pub mod webhook;
