//! A restarted alerter judges with the baseline it had: before a topic's first new
//! window it replays the stored history into its detectors, so its alerts — expected
//! values and scores included — are exactly those of an alerter that never stopped.
//! (Without the replay this test fails: the restarted detector's baseline is a day old
//! and its expected values differ.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use viral_bus::{Bus, MemoryBus, TopicNames};
use viral_config::DetectorConfig;
use viral_core::time::from_millis;
use viral_core::{Alert, WindowCount};
use viral_notifiers::{Notifier, NotifyError};
use viral_pipeline::alerter::{Alerter, Judge};
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;
use viral_store::sqlite::SqliteStore;
use viral_store::Store;

const WINDOW_MS: i64 = 30 * 60_000;
const PER_DAY: i64 = 48;

/// Ten days of a topic with a daily rhythm; on day 9 a 3× spike for two hours.
fn history() -> Vec<WindowCount> {
    (0..10 * PER_DAY)
        .map(|i| {
            let hour = (i % PER_DAY) as f64 / 2.0;
            let base = 200.0 + 80.0 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
            let spike = (9 * PER_DAY + 20..9 * PER_DAY + 24).contains(&i);
            WindowCount {
                topic: "brand".into(),
                window_start: from_millis(i * WINDOW_MS),
                window_end: from_millis((i + 1) * WINDOW_MS),
                count: (base * if spike { 3.0 } else { 1.0 }) as u64 + (i % 7) as u64,
                samples: vec![],
            }
        })
        .collect()
}

fn detectors() -> Vec<DetectorConfig> {
    vec![DetectorConfig::Adaptive {
        sensitivity: None,
        name: None,
        resolve_after: None,
    }]
}

/// Records every alert it is given.
#[derive(Default, Clone)]
struct Collect(Arc<Mutex<Vec<Alert>>>);

#[async_trait]
impl Notifier for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_restarted_alerter_judges_with_the_stored_baseline() {
    let all = history();
    let restart_at = (8 * PER_DAY) as usize;

    // What an alerter that never stopped says about days 8–10.
    let mut judge = Judge::new(detectors()).unwrap();
    let want: Vec<Alert> = all
        .iter()
        .flat_map(|w| judge.observe(w))
        .filter(|a| a.window_start >= all[restart_at].window_start)
        .collect();
    assert!(
        want.iter()
            .any(|a| a.status == viral_core::AlertStatus::Firing),
        "the spike is an incident for a warmed-up detector: {want:?}"
    );

    // A new alerter process: the store holds everything the aggregator wrote; the bus
    // re-delivers from the last commit, day 8.
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .put_counts(Duration::from_millis(WINDOW_MS as u64), &all)
        .await
        .unwrap();
    let bus = Arc::new(MemoryBus::new(100_000));
    let topics = TopicNames::default();
    for w in &all[restart_at..] {
        bus.publish(&topics.counts, &w.topic, serde_json::to_vec(w).unwrap())
            .await
            .unwrap();
    }
    let got = Collect::default();
    let alerter = Alerter::new(
        bus.clone(),
        store.clone(),
        vec![Arc::new(got.clone())],
        Metrics::new(),
        Judge::new(detectors()).unwrap(),
    )
    .with_commit_interval(Duration::from_millis(50));
    let stop = CancellationToken::new();
    let task = tokio::spawn(alerter.run(stop.clone()));
    // Every window has been judged once the alerter has stored the last expected alert;
    // the notifier queue is drained when the alerter stops.
    let last = want.last().unwrap().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = store
            .alerts(&viral_store::AlertsQuery {
                topic: "brand".into(),
                from: None,
                to: None,
                limit: 1000,
                order: viral_store::Order::OldestFirst,
            })
            .await
            .unwrap();
        if stored
            .iter()
            .any(|a| a.id == last.id && a.status == last.status)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stored so far: {stored:?}"
        );
        // Polling the store: the alerter has no other output to await here.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(*got.0.lock().unwrap(), want);
}
