//! Alerter stage: every closed window is judged by each configured detector; incidents
//! turn verdicts into one `firing` and one `resolved` alert; alerts are stored and handed
//! to every notifier. Each notifier has its own queue and task, so a slow webhook neither
//! delays stdout nor reorders one notifier's alerts. After a restart, each topic's stored
//! history is replayed into the detectors before its first new window is judged.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use viral_bus::{Bus, BusError, Event, Progress, Record, Subscription, TopicNames};
use viral_config::DetectorConfig;
use viral_core::{
    AdaptiveDetector, Alert, BurstDetector, Detector, IncidentTracker, Sensitivity,
    ThresholdDetector, WindowCount,
};
use viral_notifiers::Notifier;
use viral_runtime::metrics::{
    AlertLabel, HeldLabel, Metrics, NotifierLabel, NotifyLabel, PartitionLabel, StageLabel,
    StoreLabel,
};
use viral_store::{CountsQuery, Order, Store};

use crate::deadletter;
use crate::throttle::Throttle;

const STAGE: &str = "alerter";
/// How much stored history a restarted alerter replays into its detectors: four weeks
/// (the weekly rhythm, four times over), at most this many windows.
const WARM_UP_DAYS: i64 = 28;
const WARM_UP_WINDOWS: usize = 20_000;

/// Build the detector a config entry describes (one instance per topic: detectors learn).
pub fn build_detector(cfg: &DetectorConfig) -> Result<Box<dyn Detector>, String> {
    match cfg {
        DetectorConfig::Threshold { threshold, .. } => {
            Ok(Box::new(ThresholdDetector::new(cfg.name(), *threshold)))
        }
        DetectorConfig::Adaptive { sensitivity, .. } => {
            let s = match sensitivity.as_deref() {
                None => Sensitivity::default(),
                Some(s) => Sensitivity::parse(s).ok_or_else(|| {
                    format!("sensitivity {s:?}: use \"sensitive\", \"balanced\" or \"strict\"")
                })?,
            };
            Ok(Box::new(AdaptiveDetector::new(cfg.name(), s)))
        }
        DetectorConfig::Burst {
            factor, min_count, ..
        } => Ok(Box::new(BurstDetector::new(
            cfg.name(),
            factor.unwrap_or(4.0),
            min_count.unwrap_or(20),
        ))),
    }
}

/// One detector of one topic, with that pair's incident.
type Judged = (Box<dyn Detector>, IncidentTracker);

/// A topic's detectors and the last window they judged.
struct TopicJudges {
    detectors: Vec<Judged>,
    last_start: Option<chrono::DateTime<chrono::Utc>>,
}

/// The detectors and incidents of every topic: the pure half of the alerter, shared with
/// offline tools.
///
/// Windows of a topic arrive in order; one at or before the last judged is a repeat (an
/// aggregator re-emitting after a crash, a bus delivering twice) and is ignored, so no
/// detector learns from a window twice and no incident changes on a replayed one.
pub struct Judge {
    configs: Vec<DetectorConfig>,
    topics: HashMap<String, TopicJudges>,
}

impl Judge {
    pub fn new(configs: Vec<DetectorConfig>) -> Result<Self, String> {
        for c in &configs {
            build_detector(c)?;
        }
        Ok(Self {
            configs,
            topics: HashMap::new(),
        })
    }

    /// Whether `topic` has been judged (or warmed up) by this judge.
    pub fn knows(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Feed an already-judged window silently: detectors learn from it and incidents
    /// follow it, as when it was first judged, but nothing is returned. Replaying a
    /// topic's stored history this way after a restart rebuilds exactly the state an
    /// uninterrupted judge would have (detectors and incidents are deterministic).
    pub fn warm(&mut self, window: &WindowCount) {
        let _ = self.observe(window);
    }

    /// Judge one closed window; returns the alerts it causes, in detector order (none for
    /// a repeated window).
    pub fn observe(&mut self, window: &WindowCount) -> Vec<Alert> {
        let configs = &self.configs;
        let topic = self
            .topics
            .entry(window.topic.clone())
            .or_insert_with(|| TopicJudges {
                detectors: configs
                    .iter()
                    .filter_map(|c| build_detector(c).ok())
                    .map(|d| (d, IncidentTracker::new()))
                    .collect(),
                last_start: None,
            });
        if topic
            .last_start
            .is_some_and(|last| window.window_start <= last)
        {
            return Vec::new();
        }
        topic.last_start = Some(window.window_start);
        topic
            .detectors
            .iter_mut()
            .filter_map(|(d, incident)| {
                let verdict = d.observe(window);
                incident.observe(d.name(), window, verdict)
            })
            .collect()
    }
}

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
        }
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

    /// Consume window counts until `shutdown` or the bus closes; queued notifications are
    /// delivered before returning. A bus failure resubscribes from the last commit; the
    /// [`Judge`] ignores the windows that brings back.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut workers = JoinSet::new();
        let queues: Vec<mpsc::Sender<Alert>> = self
            .notifiers
            .iter()
            .map(|n| {
                let (tx, rx) = mpsc::channel(1024);
                workers.spawn(deliver(n.clone(), rx, self.metrics.clone()));
                tx
            })
            .collect();
        let mut backoff = Duration::from_millis(200);
        let result = loop {
            let failed = match self.bus.subscribe(&self.topics.counts, &self.group).await {
                Ok(sub) => match self.consume(sub, &queues, &shutdown).await {
                    Ok(()) => break Ok(()),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if shutdown.is_cancelled() {
                break Ok(());
            }
            self.metrics
                .restarts
                .get_or_create(&StageLabel { stage: STAGE })
                .inc();
            tracing::warn!(error = %failed, retry_in = ?backoff, "bus failed; resuming from the last commit");
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        };
        drop(queues);
        while workers.join_next().await.is_some() {}
        result
    }

    async fn consume(
        &mut self,
        mut sub: Box<dyn Subscription>,
        queues: &[mpsc::Sender<Alert>],
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
                        detector: alert.detector.clone(),
                        status: alert.status.as_str(),
                    })
                    .inc();
                if !store_alert(&*self.store, &self.metrics, &alert, shutdown).await {
                    // Stopped while the store was away: commit only what came before this
                    // window, so a successor judges it again and stores its alert.
                    done.insert(msg.partition, msg.offset);
                    return commit(&mut *sub, &mut done, &mut letters).await;
                }
                if let Err(held) = self.throttle.admit(&alert) {
                    tracing::info!(id = %alert.id, topic = %alert.topic, status = alert.status.as_str(), reason = held.as_str(), "alert stored, not notified");
                    let label = HeldLabel {
                        reason: held.as_str(),
                    };
                    self.metrics.notifications_held.get_or_create(&label).inc();
                    continue;
                }
                tracing::info!(id = %alert.id, topic = %alert.topic, status = alert.status.as_str(), count = alert.count, "alert");
                for q in queues {
                    if q.send(alert.clone()).await.is_err() {
                        tracing::error!("a notifier task has stopped");
                    }
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
                    self.judge.warm(w);
                }
                tracing::info!(topic = %first.topic, windows = history.len(), "detectors warmed up from the store");
            }
            Err(e) => {
                tracing::warn!(topic = %first.topic, error = %e, "cannot read history; detectors start cold")
            }
        }
    }
}

/// The alert is the incident's record: retry the store until it takes it (backoff 100 ms
/// doubling to 10 s) or we are stopped, which returns `false`. (A free function: the
/// alerter itself is not `Sync`, so it cannot be borrowed across the awaits.)
async fn store_alert(
    store: &dyn Store,
    metrics: &Metrics,
    alert: &Alert,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = store.put_alert(alert).await;
        let label = StoreLabel {
            op: "put_alert",
            result: if result.is_ok() { "ok" } else { "error" },
        };
        metrics.store_operations.get_or_create(&label).inc();
        match result {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(error = %e, id = %alert.id, retry_in = ?backoff, "store rejected an alert")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
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

async fn deliver(notifier: Arc<dyn Notifier>, mut rx: mpsc::Receiver<Alert>, metrics: Metrics) {
    let name = notifier.name().to_owned();
    while let Some(alert) = rx.recv().await {
        let started = Instant::now();
        let result = match notifier.notify(&alert).await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::error!(notifier = %name, id = %alert.id, error = %e, "notification failed");
                "error"
            }
        };
        metrics
            .notifications
            .get_or_create(&NotifyLabel {
                notifier: name.clone(),
                result,
            })
            .inc();
        metrics
            .notification_seconds
            .get_or_create(&NotifierLabel {
                notifier: name.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use viral_core::time::from_millis;
    use viral_core::AlertStatus;

    fn window(i: i64, count: u64) -> WindowCount {
        WindowCount {
            topic: "t".into(),
            window_start: from_millis(i * 60_000),
            window_end: from_millis((i + 1) * 60_000),
            count,
            samples: vec![],
        }
    }

    #[test]
    fn repeated_windows_are_judged_once() {
        let mut judge = Judge::new(vec![DetectorConfig::Threshold {
            threshold: 10,
            name: None,
        }])
        .unwrap();
        // A crash made the aggregator emit windows 1 and 2 again.
        let stream = [(0, 1), (1, 50), (2, 1), (1, 50), (2, 1), (3, 60)];
        let alerts: Vec<(i64, AlertStatus)> = stream
            .iter()
            .flat_map(|&(i, c)| judge.observe(&window(i, c)))
            .map(|a| {
                (
                    viral_core::time::to_millis(&a.window_start) / 60_000,
                    a.status,
                )
            })
            .collect();
        assert_eq!(
            alerts,
            [
                (1, AlertStatus::Firing),
                (2, AlertStatus::Resolved),
                (3, AlertStatus::Firing)
            ]
        );
    }
}
