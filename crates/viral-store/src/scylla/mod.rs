//! ScyllaDB (or Apache Cassandra) store over CQL, with the `scylla` driver: the store of
//! deployments, where counts must outlive any one machine.
//!
//! Every read and write is a prepared statement with every partition-key value bound, so
//! the driver routes it straight to a replica (token- and shard-aware). Writes are
//! idempotent upserts of final values and are marked idempotent, so the driver may retry
//! them on a timeout without risk. Counts are partitioned by (topic, window size, day);
//! `window_buckets` lists a series' days, so range reads visit only partitions that
//! exist and never scan. The schema is `schemas/viral.cql` (see [`schema`]).
//!
//! A service builds the store with [`ScyllaStore::connecting`]: it connects (and
//! migrates) in the background, retrying with backoff, so a service whose database is
//! not up yet still starts, serves `/healthz`, and reports not ready until it can write.

pub mod config;
pub mod schema;
mod statements;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::types::Consistency;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::value::CqlTimestamp;
use viral_core::time::{from_millis, to_millis, Millis};
use viral_core::{Alert, AlertStatus, Sample, WindowCount};
use viral_runtime::backoff::Backoff;

pub use config::{Replication, ScyllaConfig};
use statements::{CqlSample, Statements};

use crate::convert::{
    band_of, count_from_i64, count_to_i64, delivery_from_text, delivery_to_text, range, window_ms,
};
use crate::{AlertDeliveries, AlertsQuery, CountsQuery, Delivery, Order, Store, StoreError};

const DAY_MS: Millis = 24 * 3600 * 1000;

/// Parse a consistency level as written in the config.
pub(crate) fn consistency(s: &str) -> Result<Consistency, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "local_one" => Consistency::LocalOne,
        "quorum" => Consistency::Quorum,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "all" => Consistency::All,
        other => {
            return Err(format!(
                "{other:?} is not one of one, two, three, local_one, quorum, local_quorum, \
                 each_quorum, all"
            ))
        }
    })
}

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

/// The day bucket of a window start (days since the epoch, floored).
fn bucket_of(window_start: Millis) -> i32 {
    // Clamped: a timestamp 5.8 million years away has no meaningful day anyway.
    window_start
        .div_euclid(DAY_MS)
        .clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// A live session and its prepared statements.
struct Connected {
    session: Session,
    st: Statements,
}

struct Inner {
    config: ScyllaConfig,
    connected: OnceLock<Connected>,
    /// (topic, window_ms, bucket) already listed in `window_buckets` by this process:
    /// each is written once, not once per window.
    known_buckets: Mutex<HashSet<(String, i64, i32)>>,
}

/// A [`Store`] on a CQL cluster. Cloning shares the session.
#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

impl ScyllaStore {
    /// Connect now (one attempt), apply the schema if `migrate` is set, and prepare the
    /// statements: for commands that should fail at once when the database is away.
    pub async fn connect(config: ScyllaConfig) -> Result<Self, StoreError> {
        let store = Self::unconnected(config);
        let connected = store.try_connect().await?;
        // Nobody else can have set it: the store has not been shared yet.
        let _ = store.inner.connected.set(connected);
        Ok(store)
    }

    /// A store that connects in the background, retrying with backoff (1 s doubling to
    /// 30 s) until it succeeds; until then every operation fails with a backend error,
    /// which callers already treat as "retry later". Must be called inside a tokio runtime.
    pub fn connecting(config: ScyllaConfig) -> Self {
        let store = Self::unconnected(config);
        let bg = store.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30))
                .with_jitter(0.0);
            loop {
                match bg.try_connect().await {
                    Ok(c) => {
                        let _ = bg.inner.connected.set(c);
                        tracing::info!(nodes = ?bg.inner.config.nodes, keyspace = %bg.inner.config.keyspace, "store connected");
                        return;
                    }
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(error = %e, retry_in = ?delay, "cannot connect to the store");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        });
        store
    }

    fn unconnected(config: ScyllaConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                connected: OnceLock::new(),
                known_buckets: Mutex::new(HashSet::new()),
            }),
        }
    }

    async fn session(&self) -> Result<Session, StoreError> {
        let c = &self.inner.config;
        let consistency = consistency(&c.consistency).map_err(StoreError::OutOfRange)?;
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &c.local_datacenter {
            policy = policy
                .prefer_datacenter(dc.clone())
                .permit_dc_failover(false);
        }
        let profile = ExecutionProfile::builder()
            .consistency(consistency)
            .request_timeout(Some(c.request_timeout))
            .load_balancing_policy(policy.build())
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&c.nodes)
            .connection_timeout(c.request_timeout.min(Duration::from_secs(5)))
            .default_execution_profile_handle(profile.into_handle());
        if let (Some(user), Some(pass)) = (&c.username_env, &c.password_env) {
            // Checked at start-up; read here so the values live only in the driver.
            let user =
                std::env::var(user).map_err(|_| backend("store.scylla.username_env", "not set"))?;
            let pass =
                std::env::var(pass).map_err(|_| backend("store.scylla.password_env", "not set"))?;
            builder = builder.user(user, pass);
        }
        builder
            .build()
            .await
            .map_err(|e| backend(&format!("connecting to {}", c.nodes.join(",")), e))
    }

    async fn try_connect(&self) -> Result<Connected, StoreError> {
        let session = self.session().await?;
        if self.inner.config.migrate {
            schema::apply(&session, &self.inner.config).await?;
        }
        let st = Statements::prepare(&session, &self.inner.config.keyspace).await?;
        Ok(Connected { session, st })
    }

    fn connected(&self) -> Result<&Connected, StoreError> {
        self.inner.connected.get().ok_or_else(|| {
            StoreError::Backend(format!(
                "not connected to {} yet",
                self.inner.config.nodes.join(",")
            ))
        })
    }

    /// Apply `schemas/viral.cql` now, whatever `migrate` says (`viral migrate`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let c = self.connected()?;
        schema::apply(&c.session, &self.inner.config).await
    }

    /// Register the buckets of `counts` that this process has not written yet.
    async fn put_buckets(
        &self,
        c: &Connected,
        topic_ms: &[(String, i64, i32)],
    ) -> Result<(), StoreError> {
        let new: Vec<(String, i64, i32)> = {
            let known = self
                .inner
                .known_buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut seen = HashSet::new();
            topic_ms
                .iter()
                .filter(|k| !known.contains(*k) && seen.insert((*k).clone()))
                .cloned()
                .collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        // The bucket outlives its last row: that row may be written up to a day later.
        let ttl = match self.inner.config.retention.as_secs() {
            0 => 0,
            s => i32::try_from(s + 24 * 3600).unwrap_or(i32::MAX),
        };
        // The futures are built up front: a stream holding a borrowing closure would not
        // be provably `Send` inside the async-trait future.
        let writes: Vec<_> = new
            .iter()
            .map(|(topic, ms, bucket)| {
                c.session
                    .execute_unpaged(&c.st.insert_bucket, (topic, ms, bucket, ttl))
            })
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(self.inner.config.write_concurrency)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| backend("writing window buckets", e))?;
        let mut known = self
            .inner
            .known_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        known.extend(new);
        Ok(())
    }

    /// The buckets of a series between two days, in `order`.
    async fn buckets(
        &self,
        c: &Connected,
        topic: &str,
        ms: i64,
        (lo, hi): (i32, i32),
        order: Order,
    ) -> Result<Vec<i32>, StoreError> {
        let st = match order {
            Order::OldestFirst => &c.st.select_buckets_asc,
            Order::NewestFirst => &c.st.select_buckets_desc,
        };
        c.session
            .execute_iter(st.clone(), (topic, ms, lo, hi))
            .await
            .map_err(|e| backend("reading window buckets", e))?
            .rows_stream::<(i32,)>()
            .map_err(|e| backend("reading window buckets", e))?
            .map_ok(|(b,)| b)
            .try_collect()
            .await
            .map_err(|e| backend("reading window buckets", e))
    }
}

#[async_trait]
impl Store for ScyllaStore {
    async fn put_counts(
        &self,
        window_size: Duration,
        counts: &[WindowCount],
    ) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let ms = window_ms(window_size)?;
        let rows = counts
            .iter()
            .map(|w| {
                let start = to_millis(&w.window_start);
                Ok((
                    w.topic.as_str(),
                    bucket_of(start),
                    start,
                    to_millis(&w.window_end),
                    count_to_i64(w.count)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let c = self.connected()?;
        // Buckets first: a reader must never miss a row because its day is not listed
        // yet. A bucket listed with no row yet (the count write failed) is harmless.
        let keys: Vec<(String, i64, i32)> = rows
            .iter()
            .map(|(t, b, ..)| ((*t).to_owned(), ms, *b))
            .collect();
        self.put_buckets(c, &keys).await?;
        let now = CqlTimestamp(chrono::Utc::now().timestamp_millis());
        let writes: Vec<_> = rows
            .iter()
            .map(|(topic, bucket, start, end, count)| {
                c.session.execute_unpaged(
                    &c.st.insert_count,
                    (
                        topic,
                        ms,
                        bucket,
                        CqlTimestamp(*start),
                        CqlTimestamp(*end),
                        count,
                        now,
                    ),
                )
            })
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(self.inner.config.write_concurrency)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| backend("writing window counts", e))?;
        Ok(())
    }

    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError> {
        let ms = window_ms(q.window_size)?;
        let (from, to) = range(q.from, q.to);
        let mut out = Vec::new();
        if q.limit == 0 || from >= to {
            return Ok(out);
        }
        let c = self.connected()?;
        let days = (bucket_of(from), bucket_of(to.saturating_sub(1)));
        let st = match q.order {
            Order::OldestFirst => &c.st.select_counts_asc,
            Order::NewestFirst => &c.st.select_counts_desc,
        };
        for bucket in self.buckets(c, &q.topic, ms, days, q.order).await? {
            let mut rows = c
                .session
                .execute_iter(
                    st.clone(),
                    (&q.topic, ms, bucket, CqlTimestamp(from), CqlTimestamp(to)),
                )
                .await
                .map_err(|e| backend("reading window counts", e))?
                .rows_stream::<(CqlTimestamp, CqlTimestamp, i64)>()
                .map_err(|e| backend("reading window counts", e))?;
            while let Some(row) = rows.next().await {
                let (start, end, count) = row.map_err(|e| backend("reading window counts", e))?;
                out.push(WindowCount {
                    topic: q.topic.clone(),
                    window_start: from_millis(start.0),
                    window_end: from_millis(end.0),
                    count: count_from_i64(count)?,
                    samples: vec![],
                });
                if out.len() >= q.limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    async fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let count = count_to_i64(alert.count)?;
        let samples: Vec<CqlSample> = alert
            .samples
            .iter()
            .map(|s| CqlSample {
                text: s.text.clone(),
                url: s.url.clone(),
            })
            .collect();
        let c = self.connected()?;
        let values = (
            &alert.topic,
            CqlTimestamp(to_millis(&alert.window_start)),
            &alert.id,
            alert.status.as_str(),
            &alert.detector,
            CqlTimestamp(to_millis(&alert.window_end)),
            count,
            alert.expected,
            alert.score,
            CqlTimestamp(to_millis(&alert.started_at)),
            samples,
            CqlTimestamp(chrono::Utc::now().timestamp_millis()),
            alert.band.map(|b| b.low),
            alert.band.map(|b| b.high),
        );
        c.session
            .execute_unpaged(&c.st.insert_alert, values)
            .await
            .map_err(|e| backend("writing an alert", e))?;
        Ok(())
    }

    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError> {
        // The delivery map rides along in the same rows; dropping it costs nothing.
        let rows = self.alert_deliveries(q).await?;
        Ok(rows.into_iter().map(|a| a.alert).collect())
    }

    async fn put_delivery(
        &self,
        alert: &Alert,
        notifier: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let text = delivery_to_text(delivery)?;
        let c = self.connected()?;
        let values = (
            notifier,
            text,
            &alert.topic,
            CqlTimestamp(to_millis(&alert.window_start)),
            &alert.id,
            alert.status.as_str(),
        );
        c.session
            .execute_unpaged(&c.st.put_delivery, values)
            .await
            .map_err(|e| backend("writing a delivery state", e))?;
        Ok(())
    }

    async fn alert_deliveries(&self, q: &AlertsQuery) -> Result<Vec<AlertDeliveries>, StoreError> {
        let (from, to) = range(q.from, q.to);
        let mut out = Vec::new();
        if q.limit == 0 || from >= to {
            return Ok(out);
        }
        let c = self.connected()?;
        let st = match q.order {
            Order::OldestFirst => &c.st.select_alerts_asc,
            Order::NewestFirst => &c.st.select_alerts_desc,
        };
        let mut rows = c
            .session
            .execute_iter(st.clone(), (&q.topic, CqlTimestamp(from), CqlTimestamp(to)))
            .await
            .map_err(|e| backend("reading alerts", e))?
            .rows_stream::<statements::AlertRow>()
            .map_err(|e| backend("reading alerts", e))?;
        while let Some(row) = rows.next().await {
            let r = row.map_err(|e| backend("reading alerts", e))?;
            let status = match r.status.as_str() {
                "firing" => AlertStatus::Firing,
                "resolved" => AlertStatus::Resolved,
                other => return Err(StoreError::Corrupt(format!("alert status {other:?}"))),
            };
            let deliveries = r
                .deliveries
                .unwrap_or_default()
                .into_iter()
                .map(|(notifier, text)| Ok((notifier, delivery_from_text(&text)?)))
                .collect::<Result<_, StoreError>>()?;
            let alert = Alert {
                id: r.id,
                topic: q.topic.clone(),
                detector: r.detector.unwrap_or_default(),
                status,
                window_start: from_millis(r.window_start.0),
                window_end: from_millis(r.window_end.map_or(r.window_start.0, |t| t.0)),
                count: count_from_i64(r.count.unwrap_or(0))?,
                expected: r.expected,
                band: band_of((r.band_low, r.band_high)),
                score: r.score.unwrap_or(0.0),
                started_at: from_millis(r.started_at.map_or(r.window_start.0, |t| t.0)),
                samples: r
                    .samples
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| Sample {
                        text: s.text,
                        url: s.url,
                    })
                    .collect(),
            };
            out.push(AlertDeliveries { alert, deliveries });
            if out.len() >= q.limit {
                break;
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.connected()?;
        c.session
            .execute_unpaged(&c.st.ping, ())
            .await
            .map_err(|e| backend("ping", e))?;
        Ok(())
    }
}
