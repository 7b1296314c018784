//! Helpers for viral's end-to-end tests.
//!
//! # Layout
//!
//! - [`schema`]: validates messages against the JSON Schemas in `schemas/`, the contract
//!   other tools read, with a real JSON Schema validator.
//! - [`webhook`]: a real HTTP server that records what notifiers POST to it.
//! - [`kafka`]: the real Kafka broker Kafka tests use, started on demand.
//! - [`services`]: the service binaries as real processes (start, kill -9, SIGTERM).

pub mod kafka;
pub mod schema;
pub mod services;
pub mod start_up;
pub mod webhook;
