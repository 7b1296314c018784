//! `kill -9` of the alerter process between firing and delivery, on the real broker with
//! a real webhook receiver: the notification is delivered exactly once after the
//! restart, and a notification already delivered is not sent again by the next restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use viral_bus::Bus;
use viral_core::time::from_millis;
use viral_core::WindowCount;
use viral_integration_tests::services::Service;
use viral_integration_tests::webhook::{self, Received};
use viral_store::{AlertsQuery, Delivery, Order, Store};

const MIN: i64 = 60_000;

/// A recent one-minute window of topic `juice` (threshold 205 in the deployment).
fn window(base: i64, i: i64, count: u64) -> WindowCount {
    WindowCount {
        topic: "juice".into(),
        window_start: from_millis(base + i * MIN),
        window_end: from_millis(base + (i + 1) * MIN),
        count,
        samples: vec![],
    }
}

/// What the aggregator does with a closed window: store it, then publish it (a restarted
/// alerter rebuilds its incidents from the stored ones).
async fn publish(bus: &viral_bus::KafkaBus, d: &Deployment, w: &WindowCount) {
    let store = viral_store::sqlite::SqliteStore::open(&d.db).unwrap();
    store
        .put_counts(Duration::from_millis(MIN as u64), std::slice::from_ref(w))
        .await
        .unwrap();
    bus.publish(&d.topic("counts"), &w.topic, serde_json::to_vec(w).unwrap())
        .await
        .unwrap();
}

async fn next_request(hook: &mut webhook::Receiver, alerter: &Service) -> Received {
    match tokio::time::timeout(PATIENCE, hook.requests.recv()).await {
        Ok(Some(r)) => r,
        _ => panic!(
            "no webhook request within {PATIENCE:?}\n{}",
            alerter.log_tail()
        ),
    }
}

/// The alerter group's committed offset on the (single-partition) counts topic.
fn committed(d: &Deployment) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &d.brokers)
        .set("group.id", format!("{}-alerter", d.prefix))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&d.topic("counts"), 0);
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    match got.elements().first().map(|e| e.offset()) {
        Some(Offset::Offset(o)) => o,
        _ => -1,
    }
}

/// The webhook's delivery state of the incident's `firing` alert, if stored yet.
async fn webhook_state(store: &dyn Store) -> Option<Delivery> {
    let q = AlertsQuery {
        topic: "juice".into(),
        from: None,
        to: None,
        limit: 10,
        order: Order::OldestFirst,
    };
    store
        .alert_deliveries(&q)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.alert.status == viral_core::AlertStatus::Firing)
        .and_then(|a| a.deliveries.get("webhook").cloned())
}

/// Poll until `done` holds (the alerter's store and commits have no event to await).
async fn poll_until<F, Fut>(what: &str, alerter: &Service, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {PATIENCE:?}\n{}",
            alerter.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_between_firing_and_delivery_the_alert_is_delivered_once_after_restart() {
    let mut hook = webhook::start().await;
    let extra = format!(
        "\n[notifiers.webhook]\nurl = \"{}\"\nmax_retry_time = \"1h\"\n",
        hook.url()
    );
    let d = Deployment::new(
        "alerter-kill",
        &viral_integration_tests::kafka::bootstrap(),
        1,
        &extra,
    );
    let bus = d.bus(1);
    let store = viral_store::sqlite::SqliteStore::open(&d.db).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let base = (now - 3_600_000).div_euclid(MIN) * MIN;

    // The receiver is down: the alerter fires, stores the alert and keeps retrying.
    hook.answer(503);
    let mut alerter = Service::start("viral-alerter", "alerter-1", &d.config, &[], d.logs());
    publish(&bus, &d, &window(base, 0, 3)).await;
    publish(&bus, &d, &window(base, 1, 500)).await;
    let first = next_request(&mut hook, &alerter).await;
    assert_eq!(first.status, 503);
    assert_eq!(first.body["status"], "firing");
    let id = first.headers["webhook-id"].clone();
    // Killed after the firing window's offset was committed, so the bus will not bring
    // it back: only the stored delivery state can make the next run send it.
    poll_until("the commit of the firing window", &alerter, || async {
        committed(&d) >= 2
    })
    .await;
    assert!(matches!(
        webhook_state(&store).await,
        Some(Delivery::Pending { .. })
    ));
    alerter.kill9();

    // The receiver is back; the restarted alerter sends the pending alert.
    hook.answer(200);
    let mut alerter = Service::start("viral-alerter", "alerter-2", &d.config, &[], d.logs());
    let mut accepted = Vec::new();
    loop {
        let r = next_request(&mut hook, &alerter).await;
        // Retries of run 1 still in flight when it died may land late: still 503s.
        if r.status == 200 {
            accepted.push(r);
            break;
        }
    }
    poll_until("the record of the delivery", &alerter, || async {
        matches!(
            webhook_state(&store).await,
            Some(Delivery::Delivered { .. })
        )
    })
    .await;
    alerter.kill9();

    // A third run must not send it again; it sends the resolution of the incident, and
    // the webhook's queue is in order, so a repeat would arrive before it.
    let alerter = Service::start("viral-alerter", "alerter-3", &d.config, &[], d.logs());
    publish(&bus, &d, &window(base, 2, 4)).await;
    loop {
        let r = next_request(&mut hook, &alerter).await;
        let resolved = r.body["status"] == "resolved";
        accepted.push(r);
        if resolved {
            break;
        }
    }
    let firing: Vec<&Received> = accepted
        .iter()
        .filter(|r| r.body["status"] == "firing")
        .collect();
    assert_eq!(
        firing.len(),
        1,
        "the firing alert was accepted {} times:\n{}",
        firing.len(),
        alerter.log_tail()
    );
    // One idempotency key across attempts and processes.
    assert_eq!(firing[0].headers["webhook-id"], id);
    let resolved = accepted.last().unwrap();
    assert_eq!(resolved.status, 200);
    assert_eq!(
        resolved.headers["webhook-id"],
        id.replace(":firing", ":resolved")
    );
}
