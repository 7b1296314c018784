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
//! - [`Delivery`], [`AlertDeliveries`]: what became of each alert at each notifier, kept
//!   with the alert so a restarted alerter neither repeats nor loses a notification.
//! - [`sqlite`]: an embedded file store for `viral standalone` and small installs.
//! - [`scylla`]: ScyllaDB or Apache Cassandra over CQL, for deployments.
//! - [`testkit`] (feature `testkit`): the one test suite every store must pass, run by
//!   each backend's tests against a real database.

mod convert;
pub mod scylla;
pub mod sqlite;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

/// Which end of a range a query starts from (and keeps, when `limit` cuts it short).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Ascending by `window_start`: pages forward through history.
    #[default]
    OldestFirst,
    /// Descending by `window_start`: "the latest windows", "the current incident".
    NewestFirst,
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
    pub order: Order,
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
    pub order: Order,
}

/// What became of one alert at one notifier. Stored as one small JSON document per
/// (alert, notifier), so a new state needs no schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Handed to the notifier, not yet known to have arrived: a restarted alerter sends
    /// it again.
    Pending { since: DateTime<Utc> },
    /// The notifier reported success.
    Delivered { at: DateTime<Utc> },
    /// The notifier gave up (refused, or its retry budget ran out): the dead-letter record
    /// of a notification, with the last error.
    GaveUp { at: DateTime<Utc>, error: String },
    /// Deliberately not sent (`cooldown`, `rate_limit`).
    Held { reason: String },
}

impl Delivery {
    /// Whether nothing more will be done about it.
    pub fn is_final(&self) -> bool {
        !matches!(self, Delivery::Pending { .. })
    }
}

/// An alert with its delivery state per notifier name.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDeliveries {
    pub alert: Alert,
    pub deliveries: BTreeMap<String, Delivery>,
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
    /// Counts of one topic and window size with `window_start` in `[from, to)`, in `order`
    /// of `window_start`, at most `limit` rows. Returned counts have empty `samples`.
    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError>;
    /// Upsert keyed by (`alert.id`, `alert.status`): an incident has at most one `firing`
    /// and one `resolved` row however often the alerter retries. An alert's
    /// `window_start` is part of its identity (the window that opened or closed the
    /// incident), so a retry carries the same one.
    async fn put_alert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Alerts of a topic with `window_start` in `[from, to)`, in `order` of
    /// (`window_start`, `id`, `status`), at most `limit` rows.
    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError>;
    /// Record what became of a stored alert at `notifier`, replacing its previous state
    /// there. Idempotent.
    async fn put_delivery(
        &self,
        alert: &Alert,
        notifier: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError>;
    /// Like [`Store::alerts`], each with its delivery states.
    async fn alert_deliveries(&self, q: &AlertsQuery) -> Result<Vec<AlertDeliveries>, StoreError>;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}
