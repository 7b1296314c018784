//! The store: where closed windows and alerts are kept for queries, dashboards and the
//! alerter's history. It is one swappable edge of the system: the pipeline only sees the
//! [`Store`] trait, so SQLite (standalone) and ScyllaDB (deployments) are interchangeable.
//!
//! # Layout
//!
//! - [`Store`], [`CountsQuery`], [`AlertsQuery`], [`StoreError`]: the contract every store
//!   implements. Writes are idempotent upserts — counts keyed by (topic, window size,
//!   window start), alerts by (id, status), never counters — so a retry, or a replay after
//!   a crash, rewrites the same row instead of counting twice.
//! - [`sqlite`]: an embedded file store for `viral standalone` and small installs.

pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use viral_core::{Alert, WindowCount};

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation; usually worth retrying.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored row cannot be turned back into a message; retrying will not help.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The caller asked to store or query something the store cannot represent.
    #[error("value out of range for the store: {0}")]
    OutOfRange(String),
}

/// Counts of one topic and window size with `window_start` in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountsQuery {
    pub topic: String,
    pub window_size: Duration,
    /// Inclusive lower bound on `window_start`; `None` = unbounded.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `window_start`; `None` = unbounded.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// Alerts of one topic with `window_start` in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsQuery {
    pub topic: String,
    /// Inclusive lower bound on `window_start`; `None` = unbounded.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `window_start`; `None` = unbounded.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Idempotent upsert keyed by (topic, window size, window start): writing the same
    /// final count twice, or a corrected count, leaves one row. No counters. The batch is
    /// written atomically where the backend allows. `samples` are not stored.
    async fn put_counts(
        &self,
        window_size: Duration,
        counts: &[WindowCount],
    ) -> Result<(), StoreError>;
    /// Counts of one topic and window size with `window_start` in `[from, to)`, ascending
    /// by `window_start`, at most `limit` rows. Returned counts have empty `samples`.
    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError>;
    /// Upsert keyed by (`alert.id`, `alert.status`): an incident has at most one `firing`
    /// and one `resolved` row however often the alerter retries.
    async fn put_alert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Alerts of a topic with `window_start` in `[from, to)`, ascending by `window_start`,
    /// at most `limit` rows.
    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError>;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}
