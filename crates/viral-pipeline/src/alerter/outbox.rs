//! The alerter's outbox: hands alerts to the notifiers and keeps, in the store next to
//! each alert, what became of it at each notifier — so a restart (even `kill -9`) neither
//! repeats a notification that went out nor loses one that did not.
//!
//! The protocol, per (alert, notifier):
//! 1. the alert is stored; then the notifier's state becomes `pending` (or `held`), and
//!    only then is the alert queued — so anything queued is on record as pending;
//! 2. the notifier's worker delivers it and records `delivered` or `gave_up`;
//! 3. at start-up, every alert still `pending` is queued again (the process died between
//!    1 and 2); an alert judged again after a restart (its window was not committed) is
//!    queued only for notifiers that have no final state yet.
//!
//! A crash between a successful delivery and step 2's record sends it once more: at
//! least once, never zero times. Receivers de-duplicate on the alert id (the webhook's
//! `webhook-id`, the e-mail's `Message-ID`), which stays the same.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use viral_core::Alert;
use viral_notifiers::Notifier;
use viral_runtime::backoff::{Backoff, Pause};
use viral_runtime::metrics::{HeldLabel, Metrics, NotifierLabel, NotifyLabel, StoreLabel};
use viral_store::{AlertsQuery, Delivery, Order, Store, StoreError};

use crate::throttle::Held;

/// How many of each topic's most recent alerts the start-up scan looks at for pending
/// deliveries. Alerts are rare (the throttle caps them), so this reaches far back.
const RESUME_SCAN: usize = 1_000;

/// One queued (alert, notifier) pair: `(id, status, notifier)`.
type Key = (String, &'static str, String);

pub(super) struct Outbox {
    store: Arc<dyn Store>,
    metrics: Metrics,
    /// Each notifier's name and queue; its worker delivers in queue order.
    queues: Vec<(String, mpsc::Sender<Alert>)>,
    /// Pairs queued by this process: an alert the start-up scan queued and that is then
    /// judged again from the bus must not go out twice.
    queued: HashSet<Key>,
}

impl Outbox {
    /// Start one delivery worker per notifier. The workers end once the outbox is dropped
    /// and their queues are drained.
    pub fn start(
        notifiers: &[Arc<dyn Notifier>],
        store: Arc<dyn Store>,
        metrics: Metrics,
        shutdown: &CancellationToken,
        workers: &mut JoinSet<()>,
    ) -> Self {
        let queues = notifiers
            .iter()
            .map(|n| {
                let (tx, rx) = mpsc::channel(1024);
                let worker = Worker {
                    notifier: n.clone(),
                    store: store.clone(),
                    metrics: metrics.clone(),
                    shutdown: shutdown.clone(),
                };
                workers.spawn(worker.run(rx));
                (n.name().to_owned(), tx)
            })
            .collect();
        Self {
            store,
            metrics,
            queues,
            queued: HashSet::new(),
        }
    }

    /// Queue again every recent alert of `topics` that a notifier of ours still has as
    /// pending, oldest first. Retries the store until it answers; `false` if stopped first.
    pub async fn resume(&mut self, topics: &[String], shutdown: &CancellationToken) -> bool {
        let mut pending = Vec::new();
        for topic in topics {
            let query = AlertsQuery {
                topic: topic.clone(),
                from: None,
                to: None,
                limit: RESUME_SCAN,
                order: Order::NewestFirst,
            };
            let store = &*self.store;
            let Some(found) = retrying(&self.metrics, "alert_deliveries", shutdown, || {
                store.alert_deliveries(&query)
            })
            .await
            else {
                return false;
            };
            pending.extend(found.into_iter().filter_map(|a| {
                let names: Vec<String> = a
                    .deliveries
                    .into_iter()
                    .filter(|(_, d)| !d.is_final())
                    .map(|(n, _)| n)
                    .collect();
                (!names.is_empty()).then_some((a.alert, names))
            }));
        }
        pending.sort_by(|(a, _), (b, _)| (a.window_start, &a.id).cmp(&(b.window_start, &b.id)));
        for (alert, names) in pending {
            for name in names {
                if !self.queues.iter().any(|(n, _)| *n == name) {
                    tracing::warn!(id = %alert.id, notifier = %name, "a pending notification for a notifier no longer configured is left as it is");
                    continue;
                }
                tracing::info!(id = %alert.id, status = alert.status.as_str(), notifier = %name, "resending a notification the last run did not finish");
                self.metrics
                    .notifications_resumed
                    .get_or_create(&NotifierLabel {
                        notifier: name.clone(),
                    })
                    .inc();
                self.queue(&alert, &name).await;
            }
        }
        true
    }

    /// Hand a stored alert to every notifier that has not dealt with it yet; `held` is
    /// the throttle's verdict for an alert no notifier has seen. `false` if stopped while
    /// the store was unreachable (the caller must not commit past this alert).
    pub async fn dispatch(
        &mut self,
        alert: &Alert,
        held: Option<Held>,
        shutdown: &CancellationToken,
    ) -> bool {
        let prior = match self.prior(alert, shutdown).await {
            Some(p) => p,
            None => return false,
        };
        if let Some(reason) = held {
            if prior.is_empty() {
                tracing::info!(id = %alert.id, topic = %alert.topic, status = alert.status.as_str(), reason = reason.as_str(), "alert stored, not notified");
                let label = HeldLabel {
                    reason: reason.as_str(),
                };
                self.metrics.notifications_held.get_or_create(&label).inc();
            }
        } else {
            tracing::info!(id = %alert.id, topic = %alert.topic, status = alert.status.as_str(), count = alert.count, "alert");
        }
        let names: Vec<String> = self.queues.iter().map(|(n, _)| n.clone()).collect();
        for name in names {
            // Whatever was decided for this pair before a restart stands: the throttle of
            // a restarted process may judge differently, a notifier must not.
            let state = match prior.get(&name) {
                Some(d) if d.is_final() => continue,
                Some(pending) => pending.clone(),
                None => match held {
                    Some(reason) => Delivery::Held {
                        reason: reason.as_str().into(),
                    },
                    None => Delivery::Pending {
                        since: chrono::Utc::now(),
                    },
                },
            };
            if !prior.contains_key(&name) {
                let store = &*self.store;
                let recorded = retrying(&self.metrics, "put_delivery", shutdown, || {
                    store.put_delivery(alert, &name, &state)
                })
                .await;
                if recorded.is_none() {
                    return false;
                }
            }
            if !state.is_final() {
                self.queue(alert, &name).await;
            }
        }
        true
    }

    /// The alert's delivery states as stored (none for an alert judged the first time).
    async fn prior(
        &self,
        alert: &Alert,
        shutdown: &CancellationToken,
    ) -> Option<BTreeMap<String, Delivery>> {
        let query = AlertsQuery {
            topic: alert.topic.clone(),
            from: Some(alert.window_start),
            to: Some(alert.window_start + chrono::Duration::milliseconds(1)),
            limit: usize::MAX,
            order: Order::OldestFirst,
        };
        let store = &*self.store;
        let found = retrying(&self.metrics, "alert_deliveries", shutdown, || {
            store.alert_deliveries(&query)
        })
        .await?;
        Some(
            found
                .into_iter()
                .find(|a| a.alert.id == alert.id && a.alert.status == alert.status)
                .map(|a| a.deliveries)
                .unwrap_or_default(),
        )
    }

    async fn queue(&mut self, alert: &Alert, name: &str) {
        let key = (alert.id.clone(), alert.status.as_str(), name.to_owned());
        if !self.queued.insert(key) {
            return;
        }
        if let Some((_, q)) = self.queues.iter().find(|(n, _)| n == name) {
            if q.send(alert.clone()).await.is_err() {
                tracing::error!(notifier = name, "a notifier task has stopped");
            }
        }
    }
}

/// Store an alert: it is the incident's record, so retry until the store takes it;
/// `false` if stopped first.
pub(super) async fn store_alert(
    store: &dyn Store,
    metrics: &Metrics,
    alert: &Alert,
    shutdown: &CancellationToken,
) -> bool {
    retrying(metrics, "put_alert", shutdown, || store.put_alert(alert))
        .await
        .is_some()
}

/// Run a store operation until it succeeds (backoff 100 ms doubling to 10 s) or we are
/// stopped (`None`; an operation is always tried at least once). Every attempt is
/// counted in `viral_store_operations_total{op}`.
async fn retrying<T, F, Fut>(
    metrics: &Metrics,
    op: &'static str,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff =
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).with_jitter(0.0);
    loop {
        let result = attempt().await;
        let label = StoreLabel {
            op,
            result: if result.is_ok() { "ok" } else { "error" },
        };
        metrics.store_operations.get_or_create(&label).inc();
        let delay = backoff.next_delay();
        match result {
            Ok(v) => return Some(v),
            Err(e) => tracing::warn!(op, error = %e, retry_in = ?delay, "store operation failed"),
        }
        if !Pause::real().wait(delay, shutdown).await {
            return None;
        }
    }
}

/// One notifier's delivery loop: its alerts in queue order, each outcome recorded.
struct Worker {
    notifier: Arc<dyn Notifier>,
    store: Arc<dyn Store>,
    metrics: Metrics,
    shutdown: CancellationToken,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Alert>) {
        let name = self.notifier.name().to_owned();
        while let Some(alert) = rx.recv().await {
            let started = Instant::now();
            // A delivery still retrying when we are told to stop is abandoned: it is on
            // record as pending, and the next run sends it, so stopping never waits out a
            // receiver's retry budget. Polled first, so one that completes at once
            // (stdout) still completes.
            let notified = tokio::select! {
                biased;
                r = self.notifier.notify(&alert) => r,
                _ = self.shutdown.cancelled() => {
                    tracing::info!(notifier = %name, id = %alert.id, "stopping; the notification stays pending for the next run");
                    continue;
                }
            };
            let (outcome, result) = match notified {
                Ok(()) => (
                    Delivery::Delivered {
                        at: chrono::Utc::now(),
                    },
                    "ok",
                ),
                Err(e) => {
                    tracing::error!(notifier = %name, id = %alert.id, error = %e, "notification failed");
                    let error = e.to_string();
                    let at = chrono::Utc::now();
                    (Delivery::GaveUp { at, error }, "error")
                }
            };
            self.metrics
                .notifications
                .get_or_create(&NotifyLabel {
                    notifier: name.clone(),
                    result,
                })
                .inc();
            self.metrics
                .notification_seconds
                .get_or_create(&NotifierLabel {
                    notifier: name.clone(),
                })
                .observe(started.elapsed().as_secs_f64());
            let store = &*self.store;
            // Stopped before the outcome is on record: it stays pending and the next run
            // sends it again — once more rather than never.
            let _ = retrying(&self.metrics, "put_delivery", &self.shutdown, || {
                store.put_delivery(&alert, &name, &outcome)
            })
            .await;
        }
    }
}
