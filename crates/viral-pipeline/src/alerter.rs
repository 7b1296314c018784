//! Alerter stage: every closed window is judged by each configured detector; incidents
//! turn verdicts into one `firing` and one `resolved` alert; alerts are stored and handed
//! to every notifier. Each notifier has its own queue and task, so a slow webhook neither
//! delays stdout nor reorders one notifier's alerts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use viral_bus::{topics, Bus, BusError};
use viral_config::DetectorConfig;
use viral_core::{Alert, Detector, IncidentTracker, ThresholdDetector, WindowCount};
use viral_notifiers::Notifier;
use viral_runtime::metrics::{
    AlertLabel, Metrics, NotifierLabel, NotifyLabel, StageLabel, StoreLabel,
};
use viral_store::Store;

use crate::deadletter;

const STAGE: &str = "alerter";

/// Build the detector a config entry describes (one instance per topic: detectors learn).
pub fn build_detector(cfg: &DetectorConfig) -> Result<Box<dyn Detector>, String> {
    match cfg {
        DetectorConfig::Threshold { threshold, .. } => {
            Ok(Box::new(ThresholdDetector::new(cfg.name(), *threshold)))
        }
        DetectorConfig::Adaptive { .. } => Err("the adaptive detector is not available yet".into()),
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
        }
    }

    /// Consume window counts until `shutdown` or the bus closes; queued notifications are
    /// delivered before returning.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut sub = self
            .bus
            .subscribe(topics::COUNTS, crate::groups::ALERTER)
            .await?;
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
        let stage = StageLabel { stage: STAGE };
        loop {
            let msg = tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = sub.next() => match msg { Some(m) => m, None => break },
            };
            self.metrics.messages_in.get_or_create(&stage).inc();
            let started = Instant::now();
            let window: WindowCount = match deadletter::decode(&msg) {
                Ok(w) => w,
                Err((reason, error)) => {
                    deadletter::send(&*self.bus, &self.metrics, STAGE, &msg, reason, &error).await;
                    continue;
                }
            };
            for alert in self.judge.observe(&window) {
                self.metrics
                    .alerts
                    .get_or_create(&AlertLabel {
                        detector: alert.detector.clone(),
                        status: alert.status.as_str(),
                    })
                    .inc();
                let result = match self.store.put_alert(&alert).await {
                    Ok(()) => "ok",
                    Err(e) => {
                        tracing::warn!(error = %e, id = %alert.id, "cannot store an alert");
                        "error"
                    }
                };
                self.metrics
                    .store_operations
                    .get_or_create(&StoreLabel {
                        op: "put_alert",
                        result,
                    })
                    .inc();
                tracing::info!(id = %alert.id, topic = %alert.topic, status = alert.status.as_str(), count = alert.count, "alert");
                for q in &queues {
                    if q.send(alert.clone()).await.is_err() {
                        tracing::error!("a notifier task has stopped");
                    }
                }
            }
            sub.commit(msg.partition, msg.offset + 1).await?;
            self.metrics
                .processing_seconds
                .get_or_create(&stage)
                .observe(started.elapsed().as_secs_f64());
        }
        drop(queues);
        while workers.join_next().await.is_some() {}
        Ok(())
    }
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
