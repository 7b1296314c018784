//! Alerter stage: every closed window is judged by each configured detector; incidents
//! turn verdicts into one `firing` and one `resolved` alert; alerts are stored and handed
//! to every notifier. After a restart, each topic's stored history is replayed into the
//! detectors (and the throttle) before its first new window is judged.
//!
//! # Layout
//!
//! - [`Alerter`] (here): the consume loop — decode, judge, store, throttle, commit.
//! - [`Judge`] (`viral_core::detect`): detectors and incidents per topic; pure, shared
//!   with `viral backtest` and the query API's replays.
//! - `outbox.rs`: the notifiers' queues and workers, and the delivery state kept with each
//!   alert in the store, so a restart neither repeats nor loses a notification. Each
//!   notifier has its own queue and task, so a slow webhook neither delays stdout nor
//!   reorders one notifier's alerts.

mod outbox;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use viral_bus::{Bus, BusError, Event, Progress, Record, Subscription, TopicNames};
use viral_core::WindowCount;
use viral_notifiers::Notifier;
use viral_runtime::backoff::{Backoff, Pause};
use viral_runtime::metrics::{AlertLabel, Metrics, PartitionLabel, StageLabel};
use viral_store::{CountsQuery, Order, Store};

use outbox::{store_alert, Outbox};
pub use viral_core::detect::{Judge, WARM_UP_DAYS, WARM_UP_WINDOWS};

use crate::deadletter;
use crate::throttle::Throttle;

const STAGE: &str = "alerter";
/// The `topic` label of an alert about a topic the config does not track.
const UNTRACKED: &str = "untracked";

pub struct Alerter {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    notifiers: Vec<Arc<dyn Notifier>>,
    metrics: Metrics,
    judge: Judge,
    topics: TopicNames,
    group: String,
    /// How often consumed offsets (and dead letters) are committed.
    commit_interval: Duration,
    throttle: Throttle,
    /// The tracked topics, whose unfinished notifications are resumed at start-up.
    tracked: Vec<String>,
}

impl Alerter {
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<dyn Store>,
        notifiers: Vec<Arc<dyn Notifier>>,
        metrics: Metrics,
        judge: Judge,
    ) -> Self {
        Self {
            bus,
            store,
            notifiers,
            metrics,
            judge,
            topics: TopicNames::default(),
            group: crate::groups::ALERTER.into(),
            commit_interval: Duration::from_secs(1),
            throttle: Throttle::new(Duration::ZERO, 0),
            tracked: Vec::new(),
        }
    }

    /// The tracked topics (`[[topics]] name`): at start-up, their recent alerts that a
    /// notifier had not finished with when the last run stopped are sent again.
    pub fn with_tracked(mut self, topics: Vec<String>) -> Self {
        self.tracked = topics;
        self
    }

    /// Hold back notifications per `[notifiers] cooldown` and `max_per_hour` (default:
    /// notify every alert).
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    pub fn with_topics(mut self, topics: TopicNames) -> Self {
        self.topics = topics;
        self
    }

    pub fn with_group(mut self, group: String) -> Self {
        self.group = group;
        self
    }

    pub fn with_commit_interval(mut self, every: Duration) -> Self {
        self.commit_interval = every;
        self
    }

    /// Consume window counts until `shutdown` or the bus closes. Notifications the last
    /// run left pending go out first. Queued notifications are delivered before
    /// returning, except those still retrying at `shutdown`, which stay pending for the
    /// next run. A bus failure resubscribes from the last commit; the [`Judge`] ignores
    /// the windows that brings back.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut workers = JoinSet::new();
        let mut outbox = Outbox::start(
            &self.notifiers,
            self.store.clone(),
            self.metrics.clone(),
            &shutdown,
            &mut workers,
        );
        let result = if outbox.resume(&self.tracked, &shutdown).await {
            self.consume_forever(&mut outbox, &shutdown).await
        } else {
            Ok(())
        };
        drop(outbox);
        while workers.join_next().await.is_some() {}
        result
    }

    async fn consume_forever(
        &mut self,
        outbox: &mut Outbox,
        shutdown: &CancellationToken,
    ) -> Result<(), BusError> {
        let mut backoff = Backoff::exponential(Duration::from_millis(200), Duration::from_secs(10))
            .with_jitter(0.0);
        loop {
            let failed = match self.bus.subscribe(&self.topics.counts, &self.group).await {
                Ok(sub) => match self.consume(sub, outbox, shutdown).await {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if shutdown.is_cancelled() {
                return Ok(());
            }
            self.metrics
                .restarts
                .get_or_create(&StageLabel { stage: STAGE })
                .inc();
            let delay = backoff.next_delay();
            tracing::warn!(error = %failed, retry_in = ?delay, "bus failed; resuming from the last commit");
            if !Pause::real().wait(delay, shutdown).await {
                return Ok(());
            }
        }
    }

    async fn consume(
        &mut self,
        mut sub: Box<dyn Subscription>,
        outbox: &mut Outbox,
        shutdown: &CancellationToken,
    ) -> Result<(), BusError> {
        let stage = StageLabel { stage: STAGE };
        // Offsets consumed but not yet committed, and dead letters to go with them.
        let mut done: BTreeMap<i32, i64> = BTreeMap::new();
        let mut letters: Vec<Record> = Vec::new();
        let mut ticker = tokio::time::interval(self.commit_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                _ = shutdown.cancelled() => {
                    return commit(&mut *sub, &mut done, &mut letters).await;
                }
                _ = ticker.tick() => {
                    commit(&mut *sub, &mut done, &mut letters).await?;
                    for (p, lag) in sub.lag() {
                        self.metrics.consumer_lag.get_or_create(&PartitionLabel { stage: STAGE, partition: p }).set(lag);
                    }
                    continue;
                }
                event = sub.next() => match event {
                    Ok(Event::Message(m)) => m,
                    Ok(Event::Revoked(_)) => {
                        commit(&mut *sub, &mut done, &mut letters).await?;
                        continue;
                    }
                    Ok(Event::Assigned(_)) => continue,
                    Err(BusError::Closed) => return commit(&mut *sub, &mut done, &mut letters).await,
                    Err(e) => return Err(e),
                },
            };
            self.metrics.messages_in.get_or_create(&stage).inc();
            let started = Instant::now();
            done.insert(msg.partition, msg.offset + 1);
            let window: WindowCount = match deadletter::decode(&msg) {
                Ok(w) => w,
                Err((reason, error)) => {
                    let topic = &self.topics.deadletter;
                    letters.extend(deadletter::letter(
                        &self.metrics,
                        STAGE,
                        topic,
                        &msg,
                        reason,
                        &error,
                    ));
                    continue;
                }
            };
            if !self.judge.knows(&window.topic) {
                self.warm_up(&window).await;
            }
            for alert in self.judge.observe(&window) {
                self.metrics
                    .alerts
                    .get_or_create(&AlertLabel {
                        topic: if self.tracked.contains(&alert.topic) {
                            alert.topic.clone()
                        } else {
                            UNTRACKED.into()
                        },
                        detector: alert.detector.clone(),
                        status: alert.status.as_str(),
                    })
                    .inc();
                let held = self.throttle.admit(&alert).err();
                let recorded = store_alert(&*self.store, &self.metrics, &alert, shutdown).await
                    && outbox.dispatch(&alert, held, shutdown).await;
                if !recorded {
                    // Stopped while the store was away: commit only what came before this
                    // window, so a successor judges it again, stores its alert and
                    // notifies whoever has not been.
                    done.insert(msg.partition, msg.offset);
                    return commit(&mut *sub, &mut done, &mut letters).await;
                }
            }
            self.metrics
                .processing_seconds
                .get_or_create(&stage)
                .observe(started.elapsed().as_secs_f64());
        }
    }
}

impl Alerter {
    /// The first window of a topic since this process started: replay the topic's stored
    /// history before it into the judge, so a restarted alerter judges with the baseline
    /// and open incidents it had, not from a cold start. Everything before this window
    /// was judged before the last commit (the bus re-delivers everything after it), so
    /// nothing is skipped and nothing judged twice. A store that cannot answer leaves
    /// the topic cold, logged: better late baselines than no alerts.
    async fn warm_up(&mut self, first: &WindowCount) {
        let size = (first.window_end - first.window_start)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let query = CountsQuery {
            topic: first.topic.clone(),
            window_size: size,
            from: Some(first.window_start - chrono::Duration::days(WARM_UP_DAYS)),
            to: Some(first.window_start),
            limit: WARM_UP_WINDOWS,
            order: Order::NewestFirst,
        };
        match self.store.counts(&query).await {
            Ok(mut history) => {
                history.reverse();
                for w in &history {
                    for alert in self.judge.warm(w) {
                        // Rebuilds the cooldowns and the hourly count the last run had.
                        let _ = self.throttle.admit(&alert);
                    }
                }
                tracing::info!(topic = %first.topic, windows = history.len(), "detectors warmed up from the store");
            }
            Err(e) => {
                tracing::warn!(topic = %first.topic, error = %e, "cannot read history; detectors start cold")
            }
        }
    }
}

/// Commit consumed offsets and pending dead letters, if any.
async fn commit(
    sub: &mut dyn Subscription,
    done: &mut BTreeMap<i32, i64>,
    letters: &mut Vec<Record>,
) -> Result<(), BusError> {
    if done.is_empty() && letters.is_empty() {
        return Ok(());
    }
    let progress = done
        .iter()
        .map(|(&partition, &offset)| Progress {
            partition,
            offset,
            checkpoint: None,
        })
        .collect();
    sub.commit(std::mem::take(letters), progress).await?;
    done.clear();
    Ok(())
}
