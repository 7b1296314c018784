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
//! - `security`: the headers that keep the dashboard's pages to their own code (CSP).

mod dashboard;
mod events;
mod handlers;
pub mod openapi;
mod params;
mod replay;
mod security;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dashboard;
#[cfg(test)]
mod tests_limits;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{middleware, Extension, Router};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
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

/// How much of its costly work the API does at once (`[http]`'s keys of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// `expected` and `backtest` requests computed at once; more wait their turn. They
    /// replay a detector over up to a year of windows: without a bound, a few hundred at
    /// once starve every other route.
    pub max_concurrent_queries: usize,
    /// Event streams open at once; more are answered 503. Each polls the store every
    /// second for as long as it is open.
    pub max_event_streams: usize,
}

/// The defaults of `[http] max_concurrent_queries` and `max_event_streams` (the config
/// is built into these by the caller: this crate knows nothing of config files).
impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_concurrent_queries: 4,
            max_event_streams: 64,
        }
    }
}

/// `GET /api/v1/topics`, `/api/v1/topics/{topic}/{counts,alerts,expected,backtest}`,
/// `/api/v1/events`, `/api/v1/openapi.json`, and the dashboard (`/`, `/topics/{topic}`,
/// `/backtest`, `/assets/*`), with the default [`QueryLimits`].
pub fn router(state: QueryState) -> Router {
    router_with(state, QueryLimits::default())
}

/// [`router`] within `limits`. Every answer carries the headers of [`security`].
pub fn router_with(state: QueryState, limits: QueryLimits) -> Router {
    let queries = GlobalConcurrencyLimitLayer::with_semaphore(Arc::new(Semaphore::new(
        limits.max_concurrent_queries,
    )));
    let streams = events::Streams::new(limits.max_event_streams);
    Router::new()
        .merge(dashboard::routes())
        .route("/api/v1/topics", get(handlers::topics))
        .route("/api/v1/topics/{topic}/counts", get(handlers::counts))
        .route("/api/v1/topics/{topic}/alerts", get(handlers::alerts))
        .route(
            "/api/v1/topics/{topic}/expected",
            get(replay::expected).layer(queries.clone()),
        )
        .route(
            "/api/v1/topics/{topic}/backtest",
            get(replay::backtest).layer(queries),
        )
        .route(
            "/api/v1/events",
            get(events::events).layer(Extension(streams)),
        )
        .route("/api/v1/openapi.json", get(handlers::openapi_json))
        .with_state(state)
        .layer(middleware::map_response(security::headers))
}
