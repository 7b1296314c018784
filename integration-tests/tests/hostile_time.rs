//! Time from outside cannot blind the services on the real broker: posts from the HTTP
//! ingest dated a month ahead or backdated move no watermark and open no past, and the
//! real posts after them are counted exactly and alerted on; a recording from 2020 fed
//! through the file source lands on the present, every post counted, with no flood of
//! empty windows back to 2020.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use viral_core::time::{format_rfc3339, from_millis, to_millis};
use viral_core::WindowCount;
use viral_integration_tests::services::{Service, ANOTHER_ANY_PORT};

const DAY_MS: i64 = 24 * 3600 * 1000;
const TOKEN: &str = "ingest-secret";

fn brokers() -> String {
    viral_integration_tests::kafka::bootstrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn at(t: i64) -> String {
    format_rfc3339(&from_millis(t))
}

/// POST `body` to the ingest: its status.
async fn ingest(url: &str, body: serde_json::Value) -> u16 {
    let client = reqwest::Client::new();
    match client.post(url).bearer_auth(TOKEN).json(&body).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("ingest: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_dated_a_month_ahead_or_back_blind_nothing_and_real_posts_alert() {
    let mut hook = viral_integration_tests::webhook::start().await;
    let d = Deployment::new(
        "ahead",
        &brokers(),
        1,
        &format!(
            r#"
[sources.http]
listen = "{ANOTHER_ANY_PORT}"
token_env = "VIRAL_TEST_INGEST_TOKEN"

[notifiers.webhook]
url = "{url}"

[[detectors]]
kind = "threshold"
threshold = 5
name = "five"
"#,
            url = hook.url()
        ),
    );
    std::fs::write(&d.posts, "").unwrap();
    // Two-second windows, so that the real posts' window closes within seconds.
    let env = [
        ("VIRAL__WINDOW__SIZE", "2s"),
        ("VIRAL__WINDOW__LATENESS", "1s"),
        ("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "1s"),
        ("VIRAL_TEST_INGEST_TOKEN", TOKEN),
    ];
    let bus = d.bus(1);
    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    let mut aggregator =
        Service::start("viral-aggregator", "aggregator", &d.config, &env, d.logs());
    let mut alerter = Service::start("viral-alerter", "alerter", &d.config, &env, d.logs());
    let mut producer = Service::start("viral-producer", "producer", &d.config, &env, d.logs());
    let url = format!("http://{}/api/v1/posts", producer.reported("listen"));
    let post = |id: &str, created: i64, observed: Option<i64>| {
        let mut p = serde_json::json!({"id": id, "source": "gateway", "text": "Ocean Spray!", "created_at": at(created)});
        if let Some(o) = observed {
            p["observed_at"] = serde_json::json!(at(o));
        }
        p
    };

    let started = now_ms();
    // The first post of a fresh stream, backdated a month, observed_at to match.
    let back = started - 30 * DAY_MS;
    assert_eq!(ingest(&url, post("back", back, Some(back))).await, 202);
    // Written and "seen" a month from now, says the client.
    let ahead = started + 30 * DAY_MS;
    assert_eq!(ingest(&url, post("ahead", ahead, Some(ahead))).await, 202);
    // Real posts, written now.
    let real = now_ms();
    let batch: Vec<_> = (0..5)
        .map(|i| post(&format!("real-{i}"), real, None))
        .collect();
    assert_eq!(ingest(&url, serde_json::json!(batch)).await, 202);

    // Windows come out in order: once the real posts' window is out, so is every one
    // before it.
    let mut got: Vec<WindowCount> = Vec::new();
    while !got
        .last()
        .is_some_and(|w| to_millis(&w.window_start) <= real && real < to_millis(&w.window_end))
    {
        let msg = tokio::time::timeout(PATIENCE, counts.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the real posts' window never closed; got {got:?}\n{}",
                    aggregator.log_tail()
                )
            })
            .expect("the bus is open");
        got.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    // The future-dated post counts once, as of its arrival; the backdated one is late
    // and opened nothing: the windows begin at the first post that counted.
    let total: u64 = got.iter().map(|w| w.count).sum();
    assert_eq!(total, 6, "{got:?}");
    assert!(got.last().unwrap().count >= 5, "{got:?}");
    let first = to_millis(&got[0].window_start);
    assert!(
        first >= started - 2000 && got.len() <= 20,
        "windows from {} ({} of them)",
        at(first),
        got.len()
    );

    // And the real posts are alerted on.
    let alert = loop {
        let req = tokio::time::timeout(PATIENCE, hook.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("no alert\n{}", alerter.log_tail()))
            .expect("the receiver runs");
        if req.body["detector"] == "five" && req.body["status"] == "firing" {
            break req.body;
        }
    };
    let window_start = to_millis(
        &viral_core::time::parse_rfc3339(alert["window_start"].as_str().unwrap()).unwrap(),
    );
    assert!(
        window_start <= real && real < window_start + 2000,
        "{alert}"
    );
    assert!(alert["count"].as_u64().unwrap() >= 5, "{alert}");

    for s in [&mut producer, &mut aggregator, &mut alerter] {
        assert!(s.terminate().success(), "{}", s.log_tail());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2020_recording_lands_on_the_present_every_post_counted_no_flood() {
    let d = Deployment::new("recording", &brokers(), 1, "");
    // The file source's default: move the recording onto the present.
    let config = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, config.replace("time = \"recorded\"\n", "")).unwrap();

    // 300 posts from 2020, recorded at the time of day it was three hours ago, over 100
    // minutes: moved by whole days, they all lie in the past and are sent at once.
    let now = now_ms();
    let tod = (now - 3 * 3600 * 1000).rem_euclid(DAY_MS);
    let t0 = to_millis(&viral_core::time::parse_rfc3339("2020-09-25T00:00:00Z").unwrap()) + tod;
    let shift = (now - 3 * 3600 * 1000) - t0;
    assert_eq!(shift.rem_euclid(DAY_MS), 0);
    let texts = ["Ocean Spray!", "cranberry juice", "juice", "nothing here"];
    let line = |i: i64, shift: i64| {
        let t = t0 + i * 20_000 + shift;
        serde_json::json!({
            "id": format!("rec:{i}"), "source": "test", "text": texts[i as usize % texts.len()],
            "created_at": at(t), "observed_at": at(t + 2000),
        })
        .to_string()
    };
    let file = |shift| (0..300).map(|i| line(i, shift) + "\n").collect::<String>();
    std::fs::write(&d.posts, file(0)).unwrap();
    // What the rules say about the recording at the place it must land.
    let moved = d.dir.path().join("moved.jsonl");
    std::fs::write(&moved, file(shift)).unwrap();
    let want = replay(&d, &moved);
    assert!(want.iter().map(|w| w.count).sum::<u64>() >= 300, "{want:?}");

    let bus = d.bus(1);
    let mut counts = subscribe(&bus, &d.topic("counts")).await;
    let env = [("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "2s")];
    let mut aggregator =
        Service::start("viral-aggregator", "aggregator", &d.config, &env, d.logs());
    // Exactly the replayed windows, then only the silence up to now: nothing in 2020,
    // nothing before the recording's first window.
    let got = produce_and_count(&d, &mut counts, &mut aggregator, &want).await;
    assert!(got.len() < 100, "{} windows", got.len());
}
