//! One run of the three services with something they depend on (the broker, the store)
//! stopped in the middle: the services that need it go unready and come back by
//! themselves, and the counts end up exactly those of `viral replay`.

use std::time::{Duration, Instant};

use viral_bus::Bus;
use viral_core::WindowCount;
use viral_integration_tests::services::Service;

use super::*;

/// Wait until the service's `/readyz` says `ready` (an unreachable ops server is not
/// ready either).
pub async fn await_ready(s: &Service, ready: bool) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let url = format!("http://{}/readyz", s.ops);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let is = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
        if is == ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: /readyz never became {ready}:\n{}",
            s.name,
            s.log_tail()
        );
        // Polling: readiness is only observable through the endpoint.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the outage is and who should notice it.
pub struct Outage<'a> {
    pub length: Duration,
    pub stop: &'a dyn Fn(),
    pub resume: &'a dyn Fn(),
    /// The roles (`aggregator`, `alerter`, `producer`) that must go unready.
    pub affected: &'a [&'a str],
}

/// What is left after [`run`]: the two consuming services, still running, and the
/// counts topic as it ended.
pub struct Ran {
    pub aggregator: Service,
    pub alerter: Service,
    pub counts: Vec<WindowCount>,
}

/// Feed `d`'s posts (already written) through the services at `speed`× with the outage
/// in the middle, close every window, and check the counts topic against `viral replay`.
pub async fn run(d: &Deployment, speed: &str, outage: Outage<'_>) -> Ran {
    let bus = d.bus(1);
    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    // The data is historical, so idle advance is kept out of it: the outage must not
    // close windows early.
    let quiet = [("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "1h")];
    let aggregator = Service::start(
        "viral-aggregator",
        "aggregator",
        &d.config,
        &quiet,
        d.logs(),
    );
    let alerter = Service::start("viral-alerter", "alerter", &d.config, &[], d.logs());
    let mut producer = Service::start(
        "viral-producer",
        "producer",
        &d.config,
        &[("VIRAL__SOURCES__FILE__SPEED", speed)],
        d.logs(),
    );
    for s in [&aggregator, &alerter, &producer] {
        await_ready(s, true).await;
    }
    let role = |name: &str| -> &Service {
        match name {
            "aggregator" => &aggregator,
            "alerter" => &alerter,
            _ => &producer,
        }
    };

    let mut output = Awaited::default();
    output.until(&mut counts, |o| o.received >= 20).await;
    (outage.stop)();
    let stopped = Instant::now();
    for name in outage.affected {
        await_ready(role(name), false).await;
    }
    // The outage itself: a duration, not a synchronisation.
    tokio::time::sleep(outage.length.saturating_sub(stopped.elapsed())).await;
    (outage.resume)();
    for s in [&aggregator, &alerter, &producer] {
        await_ready(s, true).await;
    }
    assert!(producer.wait().success(), "{}", producer.log_tail());

    // One mention per topic a day later closes every window the data opened.
    let last = std::fs::read_to_string(&d.posts)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["created_at"].as_str().map(str::to_owned))
        .max()
        .unwrap();
    let later = chrono::DateTime::parse_from_rfc3339(&last).unwrap() + chrono::Duration::days(1);
    // The same as posts, for `viral replay`.
    let mut closers = String::new();
    for (topic, text) in [
        ("ocean-spray", "ocean spray"),
        ("cranberry", "cranberry"),
        ("juice", "juice"),
    ] {
        let post = serde_json::json!({
            "id": format!("closer:{topic}"),
            "source": "test",
            "text": text,
            "created_at": later.to_rfc3339(),
            "observed_at": later.to_rfc3339(),
        });
        closers.push_str(&format!("{post}\n"));
        let mut mention = post;
        mention["topic"] = topic.into();
        bus.publish(
            &d.topic("mentions"),
            topic,
            mention.to_string().into_bytes(),
        )
        .await
        .unwrap();
    }
    let mentions = read_all(&d.brokers, &d.topic("mentions"));
    let want = expected_closed(&mentions);
    assert!(want.len() > 200, "a meaningful run: {} windows", want.len());
    output.until(&mut counts, |o| o.has_all(&want)).await;
    let got = decode_counts(&read_all(&d.brokers, &d.topic("counts")));
    assert_exact(&got, &want, "counts after the outage");

    // Nothing lost between the posts and the counts either: `viral replay` of the posts
    // (closers included) says the same, but for the windows still open at the closers'
    // watermark.
    let all = d.dir.path().join("all.jsonl");
    std::fs::write(&all, std::fs::read_to_string(&d.posts).unwrap() + &closers).unwrap();
    let mut replayed = replay(d, &all);
    let watermark = later - chrono::Duration::milliseconds(LATENESS_MS);
    replayed.retain(|c| c.window_end <= watermark);
    assert_exact(
        &without_samples(got.clone()),
        &replayed,
        "counts after the outage vs viral replay",
    );
    Ran {
        aggregator,
        alerter,
        counts: got,
    }
}
