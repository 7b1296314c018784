//! The store: where closed windows and alerts are kept for queries, dashboards and the
//! alerter's history.
//!
//! # Layout
//!
//! - [`Store`]: the trait every store implements. Writes are idempotent upserts keyed by
//!   (topic, window size, window start) — no counters — so a retry or a replay after a
//!   crash rewrites the same row instead of counting twice.
//! - [`sqlite`]: an embedded file store for `viral standalone` and small installs.

pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use viral_core::{Alert, WindowCount};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Counts of one topic and window size, `window_start` in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountsQuery {
    pub topic: String,
    pub window_size: Duration,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// Alerts of one topic, `window_start` in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsQuery {
    pub topic: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Upsert closed windows, keyed by (topic, window size, window start).
    async fn put_counts(
        &self,
        window_size: Duration,
        counts: &[WindowCount],
    ) -> Result<(), StoreError>;
    /// Ascending by window start, at most `limit` rows. Samples are not stored.
    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError>;
    /// Upsert keyed by (alert id, status).
    async fn put_alert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Ascending by window start, at most `limit` rows.
    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError>;
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}
