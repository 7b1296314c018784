//! The query API: how people and dashboards read viral's history over HTTP, the same on
//! `viral standalone` (SQLite) and on the aggregator (ScyllaDB/Cassandra), because it only
//! sees the [`Store`] trait.
//!
//! # Layout
//!
//! - [`router`]: the routes under `/api/v1`, ready to merge with the ops routes.
//! - `params`: query-string parsing and validation; every bad value is a 400 naming the
//!   parameter and what was expected.
//! - `handlers`: one function per route and the JSON shapes they answer with.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers (utoipa) and
//!   served at `/api/v1/openapi.json`.
//! - `replay`: the configured (or a proposed) detector replayed over stored counts: the
//!   expected band behind every window, and backtests.
//! - `events`: server-sent events as windows close (live dashboards).
//! - `dashboard`: the web dashboard's pages, embedded in the binary.

mod dashboard;
mod events;
mod handlers;
pub mod openapi;
mod params;
mod replay;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dashboard;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use viral_runtime::clock::SharedClock;
use viral_store::Store;

/// Rows per page when the client does not say.
pub const DEFAULT_PAGE: usize = 500;
/// The most rows one request may ask for: a page must stay cheap for the store and the
/// client (a year of 30-minute windows is 17,520 rows, so a few pages).
pub const MAX_PAGE: usize = 5000;

/// What the handlers read from.
#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<dyn Store>,
    /// The tracked topics, in config order.
    pub topics: Vec<String>,
    /// The one window size the aggregator stores.
    pub window_size: Duration,
    /// "Now" for default ranges: the wall clock, or standalone's simulated clock.
    pub clock: SharedClock,
    /// The configured detectors, replayed to draw each window's expected band.
    pub detectors: Vec<viral_core::DetectorConfig>,
}

/// `GET /api/v1/topics`, `/api/v1/topics/{topic}/{counts,alerts,expected,backtest}`,
/// `/api/v1/events`, `/api/v1/openapi.json`, and the dashboard (`/`, `/topics/{topic}`,
/// `/backtest`, `/assets/*`).
pub fn router(state: QueryState) -> Router {
    Router::new()
        .merge(dashboard::routes())
        .route("/api/v1/topics", get(handlers::topics))
        .route("/api/v1/topics/{topic}/counts", get(handlers::counts))
        .route("/api/v1/topics/{topic}/alerts", get(handlers::alerts))
        .route("/api/v1/topics/{topic}/expected", get(replay::expected))
        .route("/api/v1/topics/{topic}/backtest", get(replay::backtest))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/openapi.json", get(handlers::openapi_json))
        .with_state(state)
}
