//! Delivery state survives a restart: a notification that did not go out before the
//! alerter stopped is sent by the next run, one that went out (or was given up, or held
//! back) is not sent again — even when the next run judges the same windows again.
//! (The same with real processes, Kafka and `kill -9`: integration-tests/tests/alerter_kill.rs.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use viral_bus::{Bus, MemoryBus, TopicNames};
use viral_config::DetectorConfig;
use viral_core::time::from_millis;
use viral_core::{Alert, AlertStatus, WindowCount};
use viral_notifiers::{Notifier, NotifyError};
use viral_pipeline::alerter::{Alerter, Judge};
use viral_pipeline::throttle::Throttle;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;
use viral_store::sqlite::SqliteStore;
use viral_store::{AlertsQuery, Delivery, Order, Store};

const MIN: i64 = 60_000;

fn window(i: i64, count: u64) -> WindowCount {
    WindowCount {
        topic: "brand".into(),
        window_start: from_millis(i * MIN),
        window_end: from_millis((i + 1) * MIN),
        count,
        samples: vec![],
    }
}

fn threshold() -> Judge {
    Judge::new(vec![DetectorConfig::Threshold {
        threshold: 10,
        name: None,
        resolve_after: None,
    }])
    .unwrap()
}

#[derive(Clone, Copy)]
enum Mode {
    Deliver,
    /// Never answers: the receiver is down and the notifier keeps retrying.
    Hang,
    Refuse,
}

/// A notifier that reports every alert it is asked to send.
struct Probe {
    name: &'static str,
    mode: Mode,
    seen: mpsc::UnboundedSender<(String, AlertStatus)>,
}

#[async_trait]
impl Notifier for Probe {
    fn name(&self) -> &str {
        self.name
    }
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let _ = self.seen.send((alert.id.clone(), alert.status));
        match self.mode {
            Mode::Deliver => Ok(()),
            Mode::Hang => std::future::pending().await,
            Mode::Refuse => Err(NotifyError::Rejected { status: 400 }),
        }
    }
}

type Seen = mpsc::UnboundedReceiver<(String, AlertStatus)>;

fn probe(name: &'static str, mode: Mode) -> (Arc<dyn Notifier>, Seen) {
    let (seen, rx) = mpsc::unbounded_channel();
    (Arc::new(Probe { name, mode, seen }), rx)
}

async fn next(rx: &mut Seen) -> (String, AlertStatus) {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a notification within a minute")
        .expect("the notifier is alive")
}

async fn publish(bus: &MemoryBus, windows: &[WindowCount]) {
    let topics = TopicNames::default();
    for w in windows {
        bus.publish(&topics.counts, &w.topic, serde_json::to_vec(w).unwrap())
            .await
            .unwrap();
    }
}

/// (status, notifier → state name) of every stored alert of the topic, oldest first.
async fn states(store: &dyn Store) -> Vec<(AlertStatus, Vec<(String, &'static str)>)> {
    let q = AlertsQuery {
        topic: "brand".into(),
        from: None,
        to: None,
        limit: 100,
        order: Order::OldestFirst,
    };
    store
        .alert_deliveries(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            let d = a
                .deliveries
                .into_iter()
                .map(|(n, d)| {
                    let state = match d {
                        Delivery::Pending { .. } => "pending",
                        Delivery::Delivered { .. } => "delivered",
                        Delivery::GaveUp { .. } => "gave_up",
                        Delivery::Held { .. } => "held",
                    };
                    (n, state)
                })
                .collect();
            (a.alert.status, d)
        })
        .collect()
}

fn owned(v: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    v.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

#[tokio::test]
async fn unfinished_notifications_go_out_after_a_restart_and_finished_ones_never_again() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let bus = Arc::new(MemoryBus::new(1000));
    // One incident: fires at minute 1, resolves at minute 2.
    publish(&bus, &[window(0, 1), window(1, 50), window(2, 1)]).await;

    // Run 1: the webhook's receiver is down, e-mail works, chat refuses.
    let (hook, mut hook_seen) = probe("webhook", Mode::Hang);
    let (mail, mut mail_seen) = probe("email", Mode::Deliver);
    let (chat, mut chat_seen) = probe("chat", Mode::Refuse);
    let stop = CancellationToken::new();
    let run = Alerter::new(
        bus.clone(),
        store.clone(),
        vec![hook, mail, chat],
        Metrics::new(),
        threshold(),
    )
    .with_tracked(vec!["brand".into()])
    .with_group("run-1".into());
    let task = tokio::spawn(run.run(stop.clone()));
    let firing = next(&mut mail_seen).await;
    assert_eq!(firing.1, AlertStatus::Firing);
    assert_eq!(next(&mut mail_seen).await.1, AlertStatus::Resolved);
    assert_eq!(next(&mut chat_seen).await, firing);
    assert_eq!(next(&mut chat_seen).await.1, AlertStatus::Resolved);
    // The webhook is stuck on the firing alert when the alerter is stopped.
    assert_eq!(next(&mut hook_seen).await, firing);
    stop.cancel();
    task.await.unwrap().unwrap();
    let per_alert = owned(&[
        ("chat", "gave_up"),
        ("email", "delivered"),
        ("webhook", "pending"),
    ]);
    assert_eq!(
        states(&*store).await,
        [
            (AlertStatus::Firing, per_alert.clone()),
            (AlertStatus::Resolved, per_alert)
        ]
    );

    // Run 2 is handed the windows again (as a bus does from before an uncommitted
    // offset): it judges the same incident again, and then a second one (minutes 5–6).
    let bus = Arc::new(MemoryBus::new(1000));
    let again = [window(0, 1), window(1, 50), window(2, 1)];
    publish(&bus, &again).await;
    publish(&bus, &[window(5, 60), window(6, 1)]).await;
    let (hook, mut hook_seen) = probe("webhook", Mode::Deliver);
    let (mail, mut mail_seen) = probe("email", Mode::Deliver);
    let (chat, mut chat_seen) = probe("chat", Mode::Deliver);
    let stop = CancellationToken::new();
    let metrics = Metrics::new();
    let run = Alerter::new(
        bus.clone(),
        store.clone(),
        vec![hook, mail, chat],
        metrics.clone(),
        threshold(),
    )
    .with_tracked(vec!["brand".into()])
    .with_group("run-2".into());
    let task = tokio::spawn(run.run(stop.clone()));
    // Each notifier delivers in order, so whatever it would repeat would come before
    // the second incident's alerts.
    let mut hook_got = Vec::new();
    for _ in 0..4 {
        hook_got.push(next(&mut hook_seen).await.1);
    }
    assert_eq!(
        hook_got,
        [
            AlertStatus::Firing,
            AlertStatus::Resolved,
            AlertStatus::Firing,
            AlertStatus::Resolved
        ]
    );
    for seen in [&mut mail_seen, &mut chat_seen] {
        let second = next(seen).await;
        assert_ne!(second.0, firing.0, "the first incident was sent again");
        assert_eq!(next(seen).await, (second.0.clone(), AlertStatus::Resolved));
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(hook_seen.try_recv().is_err() && mail_seen.try_recv().is_err());
    let text = metrics.encode();
    assert!(
        text.contains("viral_notifications_resumed_total{notifier=\"webhook\"} 2"),
        "{text}"
    );
    let first = owned(&[
        ("chat", "gave_up"),
        ("email", "delivered"),
        ("webhook", "delivered"),
    ]);
    let second = owned(&[
        ("chat", "delivered"),
        ("email", "delivered"),
        ("webhook", "delivered"),
    ]);
    assert_eq!(
        states(&*store).await,
        [
            (AlertStatus::Firing, first.clone()),
            (AlertStatus::Resolved, first),
            (AlertStatus::Firing, second.clone()),
            (AlertStatus::Resolved, second)
        ]
    );
}

#[tokio::test]
async fn a_held_notification_stays_held_when_its_window_is_judged_again() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let bus = Arc::new(MemoryBus::new(1000));
    // Two incidents 4 minutes apart: with a 1-hour cooldown the second is held.
    publish(
        &bus,
        &[window(0, 50), window(1, 1), window(4, 50), window(5, 1)],
    )
    .await;
    let (hook, mut seen) = probe("webhook", Mode::Deliver);
    let stop = CancellationToken::new();
    let run = Alerter::new(
        bus.clone(),
        store.clone(),
        vec![hook],
        Metrics::new(),
        threshold(),
    )
    .with_tracked(vec!["brand".into()])
    .with_group("run-1".into())
    .with_throttle(Throttle::new(Duration::from_secs(3600), 0));
    let task = tokio::spawn(run.run(stop.clone()));
    let first = next(&mut seen).await;
    assert_eq!(
        next(&mut seen).await,
        (first.0.clone(), AlertStatus::Resolved)
    );
    // The held incident is stored with its state before the run is stopped.
    let held = owned(&[("webhook", "held")]);
    let delivered = owned(&[("webhook", "delivered")]);
    let want_held = [
        (AlertStatus::Firing, delivered.clone()),
        (AlertStatus::Resolved, delivered.clone()),
        (AlertStatus::Firing, held.clone()),
        (AlertStatus::Resolved, held.clone()),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while states(&*store).await != want_held {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            states(&*store).await
        );
        // Polling the store: held alerts reach no notifier to await.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();

    // Run 2 has no throttle and judges everything again, then a third incident.
    let bus = Arc::new(MemoryBus::new(1000));
    let again = [window(0, 50), window(1, 1), window(4, 50), window(5, 1)];
    publish(&bus, &again).await;
    publish(&bus, &[window(8, 50)]).await;
    let (hook, mut seen) = probe("webhook", Mode::Deliver);
    let stop = CancellationToken::new();
    let run = Alerter::new(
        bus.clone(),
        store.clone(),
        vec![hook],
        Metrics::new(),
        threshold(),
    )
    .with_tracked(vec!["brand".into()])
    .with_group("run-2".into());
    let task = tokio::spawn(run.run(stop.clone()));
    let third = next(&mut seen).await;
    assert_eq!(third.1, AlertStatus::Firing);
    assert_ne!(third.0, first.0);
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(seen.try_recv().is_err());
    let mut want = want_held.to_vec();
    want.push((AlertStatus::Firing, delivered));
    assert_eq!(states(&*store).await, want);
}
