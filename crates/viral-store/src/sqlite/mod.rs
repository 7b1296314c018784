//! SQLite store: one file, WAL mode, created on first use — the store of `viral standalone`,
//! which must run with no infrastructure.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool against one connection
//! behind a mutex: SQLite serialises writers anyway, and one connection keeps the prepared
//! statement cache warm. Timestamps and window sizes are integer epoch milliseconds, the
//! same unit the windowing core uses, so a stored bound compares exactly.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection};
use viral_core::time::{from_millis, to_millis};
use viral_core::{Alert, AlertStatus, Sample, WindowCount};

use crate::convert::{
    band_of, count_from_i64, count_to_i64, delivery_from_text, delivery_to_text, range, window_ms,
};
use crate::{AlertDeliveries, AlertsQuery, CountsQuery, Delivery, Order, Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS window_counts (
    topic        TEXT    NOT NULL,
    window_ms    INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (topic, window_ms, window_start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    id           TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    detector     TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    expected     REAL,
    band_low     REAL,
    band_high    REAL,
    score        REAL    NOT NULL,
    started_at   INTEGER NOT NULL,
    samples      TEXT    NOT NULL,
    PRIMARY KEY (id, status)
);
CREATE INDEX IF NOT EXISTS alerts_by_topic ON alerts (topic, window_start);
CREATE TABLE IF NOT EXISTS deliveries (
    id           TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    notifier     TEXT    NOT NULL,
    delivery     TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (id, status, notifier)
) WITHOUT ROWID;
";

/// A [`Store`] in one SQLite file. Cloning shares the connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Open the database file, creating it and its tables if needed; opening an existing
    /// file keeps its data.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        let (store, mode) = Self::init(conn)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Still correct, only readers now block the writer (e.g. on network filesystems
            // that cannot share WAL memory), so it deserves a warning, not a failure.
            tracing::warn!(path = %path.display(), journal_mode = %mode, "SQLite refused WAL mode");
        }
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?).map(|(store, _)| store)
    }

    /// Returns the store and the journal mode SQLite actually granted.
    fn init(conn: Connection) -> Result<(Self, String), StoreError> {
        // Another process (e.g. `viral counts` next to `viral standalone`) may hold the
        // write lock briefly; wait for it instead of failing at once.
        conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        // Two processes opening a new file at once (the aggregator and alerter of one
        // deployment) both try to switch it to WAL and create the tables; SQLite answers
        // one of them "database is locked" at once, without waiting (waiting could
        // deadlock). Every step is idempotent, so the loser simply tries again.
        let mut attempts = 0;
        let mode = loop {
            match Self::prepare_file(&conn) {
                Ok(mode) => break mode,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 100 =>
                {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(backend(e)),
            }
        };
        let store = Self {
            conn: Arc::new(Mutex::new(conn)),
        };
        Ok((store, mode))
    }

    /// WAL mode and the tables; returns the journal mode SQLite granted.
    fn prepare_file(conn: &Connection) -> Result<String, rusqlite::Error> {
        // In-memory databases answer "memory"; either way the pragma is harmless.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        // With WAL, NORMAL survives a killed process (the crash the design demands we
        // tolerate); only an OS crash or power loss can drop the last commits, never
        // consistency, and it saves an fsync per batch.
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        // Files created before alerts carried a band get its columns (NULL in old rows).
        let has_band: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('alerts') WHERE name = 'band_low'",
            [],
            |r| r.get(0),
        )?;
        if !has_band {
            conn.execute_batch(
                "ALTER TABLE alerts ADD COLUMN band_low REAL;
                 ALTER TABLE alerts ADD COLUMN band_high REAL;",
            )?;
        }
        Ok(mode)
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside a previous call cannot leave SQLite inconsistent (it has its
            // own transactions), so a poisoned lock is still safe to use.
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn limit(n: usize) -> i64 {
    // More rows than i64::MAX cannot exist, so saturating changes nothing.
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_counts(
        &self,
        window_size: Duration,
        counts: &[WindowCount],
    ) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let window_ms = window_ms(window_size)?;
        let rows = counts
            .iter()
            .map(|c| {
                Ok((
                    c.topic.clone(),
                    to_millis(&c.window_start),
                    to_millis(&c.window_end),
                    count_to_i64(c.count)?,
                ))
            })
            .collect::<Result<Vec<(String, i64, i64, i64)>, StoreError>>()?;
        let now = chrono::Utc::now().timestamp_millis();
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO window_counts (topic, window_ms, window_start, window_end, count, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (topic, window_ms, window_start)
                         DO UPDATE SET window_end = excluded.window_end, count = excluded.count,
                                       updated_at = excluded.updated_at",
                    )
                    .map_err(backend)?;
                for (topic, start, end, count) in &rows {
                    st.execute(params![topic, window_ms, start, end, count, now])
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError> {
        let window_ms = window_ms(q.window_size)?;
        let (from, to) = range(q.from, q.to);
        let (topic, n) = (q.topic.clone(), limit(q.limit));
        let sql = match q.order {
            Order::OldestFirst => {
                "SELECT window_start, window_end, count FROM window_counts
                 WHERE topic = ?1 AND window_ms = ?2 AND window_start >= ?3 AND window_start < ?4
                 ORDER BY window_start ASC LIMIT ?5"
            }
            Order::NewestFirst => {
                "SELECT window_start, window_end, count FROM window_counts
                 WHERE topic = ?1 AND window_ms = ?2 AND window_start >= ?3 AND window_start < ?4
                 ORDER BY window_start DESC LIMIT ?5"
            }
        };
        self.with(move |c| {
            let mut st = c.prepare_cached(sql).map_err(backend)?;
            let rows = st
                .query_map(params![topic, window_ms, from, to, n], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(backend)?;
            rows.map(|r| {
                let (s, e, count) = r.map_err(backend)?;
                Ok(WindowCount {
                    topic: topic.clone(),
                    window_start: from_millis(s),
                    window_end: from_millis(e),
                    count: count_from_i64(count)?,
                    samples: vec![],
                })
            })
            .collect()
        })
        .await
    }

    async fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let a = alert.clone();
        let count = count_to_i64(a.count)?;
        let samples = serde_json::to_string(&a.samples).map_err(backend)?;
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO alerts (id, status, topic, detector, window_start, window_end, count,
                                     expected, score, started_at, samples, band_low, band_high)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (id, status) DO UPDATE SET
                     topic = excluded.topic, detector = excluded.detector,
                     window_start = excluded.window_start, window_end = excluded.window_end,
                     count = excluded.count, expected = excluded.expected, score = excluded.score,
                     started_at = excluded.started_at, samples = excluded.samples,
                     band_low = excluded.band_low, band_high = excluded.band_high",
            )
            .map_err(backend)?
            .execute(params![
                a.id,
                a.status.as_str(),
                a.topic,
                a.detector,
                to_millis(&a.window_start),
                to_millis(&a.window_end),
                count,
                a.expected,
                a.score,
                to_millis(&a.started_at),
                samples,
                a.band.map(|b| b.low),
                a.band.map(|b| b.high),
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError> {
        let q = q.clone();
        self.with(move |c| select_alerts(c, &q)).await
    }

    async fn put_delivery(
        &self,
        alert: &Alert,
        notifier: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let (id, status) = (alert.id.clone(), alert.status.as_str());
        let (notifier, text) = (notifier.to_owned(), delivery_to_text(delivery)?);
        let now = chrono::Utc::now().timestamp_millis();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO deliveries (id, status, notifier, delivery, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id, status, notifier) DO UPDATE SET
                     delivery = excluded.delivery, updated_at = excluded.updated_at",
            )
            .map_err(backend)?
            .execute(params![id, status, notifier, text, now])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn alert_deliveries(&self, q: &AlertsQuery) -> Result<Vec<AlertDeliveries>, StoreError> {
        let q = q.clone();
        self.with(move |c| {
            let alerts = select_alerts(c, &q)?;
            let mut st = c
                .prepare_cached(
                    "SELECT notifier, delivery FROM deliveries WHERE id = ?1 AND status = ?2",
                )
                .map_err(backend)?;
            alerts
                .into_iter()
                .map(|alert| {
                    let rows = st
                        .query_map(params![alert.id, alert.status.as_str()], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })
                        .map_err(backend)?;
                    let deliveries = rows
                        .map(|r| {
                            let (notifier, text) = r.map_err(backend)?;
                            Ok((notifier, delivery_from_text(&text)?))
                        })
                        .collect::<Result<_, StoreError>>()?;
                    Ok(AlertDeliveries { alert, deliveries })
                })
                .collect()
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(backend)
                .map(|_| ())
        })
        .await
    }
}

/// The alerts `q` asks for, on a connection already held.
fn select_alerts(c: &Connection, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError> {
    let (from, to) = range(q.from, q.to);
    let (topic, n) = (q.topic.as_str(), limit(q.limit));
    let sql = match q.order {
        Order::OldestFirst => {
            "SELECT id, status, topic, detector, window_start, window_end, count, expected,
                    score, started_at, samples, band_low, band_high
             FROM alerts WHERE topic = ?1 AND window_start >= ?2 AND window_start < ?3
             ORDER BY window_start ASC, id ASC, status ASC LIMIT ?4"
        }
        Order::NewestFirst => {
            "SELECT id, status, topic, detector, window_start, window_end, count, expected,
                    score, started_at, samples, band_low, band_high
             FROM alerts WHERE topic = ?1 AND window_start >= ?2 AND window_start < ?3
             ORDER BY window_start DESC, id DESC, status DESC LIMIT ?4"
        }
    };
    let mut st = c.prepare_cached(sql).map_err(backend)?;
    let rows = st
        .query_map(params![topic, from, to, n], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<f64>>(7)?,
                r.get::<_, f64>(8)?,
                r.get::<_, i64>(9)?,
                r.get::<_, String>(10)?,
                (r.get::<_, Option<f64>>(11)?, r.get::<_, Option<f64>>(12)?),
            ))
        })
        .map_err(backend)?;
    rows.map(|r| {
        let (id, status, topic, detector, ws, we, count, expected, score, started, samples, band) =
            r.map_err(backend)?;
        let status = match status.as_str() {
            "firing" => AlertStatus::Firing,
            "resolved" => AlertStatus::Resolved,
            other => return Err(StoreError::Corrupt(format!("alert status {other:?}"))),
        };
        let samples: Vec<Sample> = serde_json::from_str(&samples)
            .map_err(|e| StoreError::Corrupt(format!("alert samples: {e}")))?;
        Ok(Alert {
            id,
            topic,
            detector,
            status,
            window_start: from_millis(ws),
            window_end: from_millis(we),
            count: count_from_i64(count)?,
            expected,
            band: band_of(band),
            score,
            started_at: from_millis(started),
            samples,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests;
