//! Every CQL statement the store runs, prepared once per session. Each names the whole
//! partition key, so the driver can route it to a replica that owns the data.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla::{DeserializeRow, DeserializeValue, SerializeValue};

use crate::StoreError;

/// The `sample` user-defined type.
#[derive(Debug, Clone, SerializeValue, DeserializeValue)]
pub(super) struct CqlSample {
    pub text: String,
    pub url: Option<String>,
}

/// One row of `alerts` as the selects return it. Regular columns are optional because a
/// row written by a future version, or half-expired, may lack them.
#[derive(Debug, DeserializeRow)]
pub(super) struct AlertRow {
    pub window_start: CqlTimestamp,
    pub id: String,
    pub status: String,
    pub detector: Option<String>,
    pub window_end: Option<CqlTimestamp>,
    pub count: Option<i64>,
    pub expected: Option<f64>,
    pub band_low: Option<f64>,
    pub band_high: Option<f64>,
    pub score: Option<f64>,
    pub started_at: Option<CqlTimestamp>,
    pub samples: Option<Vec<CqlSample>>,
    /// Notifier name → [`crate::Delivery`] as JSON.
    pub deliveries: Option<std::collections::HashMap<String, String>>,
}

pub(super) struct Statements {
    pub insert_count: PreparedStatement,
    pub insert_bucket: PreparedStatement,
    pub select_buckets_asc: PreparedStatement,
    pub select_buckets_desc: PreparedStatement,
    pub select_counts_asc: PreparedStatement,
    pub select_counts_desc: PreparedStatement,
    pub insert_alert: PreparedStatement,
    pub select_alerts_asc: PreparedStatement,
    pub select_alerts_desc: PreparedStatement,
    pub put_delivery: PreparedStatement,
    pub ping: PreparedStatement,
}

/// Rows per page of a range read: big enough to amortise round trips, small enough that
/// a year of one-minute windows never lands in memory at once.
const PAGE: i32 = 1000;

async fn prepare(session: &Session, cql: String) -> Result<PreparedStatement, StoreError> {
    let mut st = session
        .prepare(cql.as_str())
        .await
        .map_err(|e| StoreError::Backend(format!("preparing {cql:?}: {e}")))?;
    // Every statement here is an upsert of final values or a read: repeating it is
    // harmless, so the driver may retry or speculate.
    st.set_is_idempotent(true);
    st.set_page_size(PAGE);
    Ok(st)
}

impl Statements {
    pub async fn prepare(session: &Session, ks: &str) -> Result<Self, StoreError> {
        let counts = |dir: &str| {
            format!(
                "SELECT window_start, window_end, count FROM {ks}.window_counts \
                 WHERE topic = ? AND window_ms = ? AND bucket = ? \
                 AND window_start >= ? AND window_start < ? ORDER BY window_start {dir}"
            )
        };
        let buckets = |dir: &str| {
            format!(
                "SELECT bucket FROM {ks}.window_buckets WHERE topic = ? AND window_ms = ? \
                 AND bucket >= ? AND bucket <= ? ORDER BY bucket {dir}"
            )
        };
        let alerts = |dir: &str| {
            format!(
                "SELECT window_start, id, status, detector, window_end, count, expected, \
                 band_low, band_high, score, \
                 started_at, samples, deliveries FROM {ks}.alerts \
                 WHERE topic = ? AND window_start >= ? AND window_start < ? \
                 ORDER BY window_start {dir}"
            )
        };
        Ok(Self {
            insert_count: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.window_counts \
                     (topic, window_ms, bucket, window_start, window_end, count, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            insert_bucket: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.window_buckets (topic, window_ms, bucket) VALUES (?, ?, ?) \
                     USING TTL ?"
                ),
            )
            .await?,
            select_buckets_asc: prepare(session, buckets("ASC")).await?,
            select_buckets_desc: prepare(session, buckets("DESC")).await?,
            select_counts_asc: prepare(session, counts("ASC")).await?,
            select_counts_desc: prepare(session, counts("DESC")).await?,
            insert_alert: prepare(
                session,
                format!(
                    "INSERT INTO {ks}.alerts (topic, window_start, id, status, detector, \
                     window_end, count, expected, score, started_at, samples, updated_at, \
                     band_low, band_high) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            select_alerts_asc: prepare(session, alerts("ASC")).await?,
            select_alerts_desc: prepare(session, alerts("DESC")).await?,
            // One map entry per notifier: notifiers record their outcome independently,
            // without reading the row first.
            put_delivery: prepare(
                session,
                format!(
                    "UPDATE {ks}.alerts SET deliveries[?] = ? \
                     WHERE topic = ? AND window_start = ? AND id = ? AND status = ?"
                ),
            )
            .await?,
            ping: prepare(
                session,
                "SELECT release_version FROM system.local WHERE key = 'local'".into(),
            )
            .await?,
        })
    }
}
