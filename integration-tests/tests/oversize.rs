//! Oversized posts through the three services on the real broker, in by the HTTP ingest
//! (issue 17): one body of 1,010,091 bytes used to wedge the producer (a mention over
//! librdkafka's 1,000,000-byte limit, retried forever, every later request 503), and five
//! posts of ~205 KB sent the aggregator into a restart loop (one window's count over the
//! limit, its commit failing forever). After either, real posts must be counted exactly,
//! windows keep being committed, and the alert comes.

mod common;

use common::outage::await_ready;
use common::*;
use serde_json::{json, Value};
use viral_integration_tests::services::{Service, ANOTHER_ANY_PORT};
use viral_integration_tests::webhook;

const TOKEN: &str = "oversize-ingest-token";
/// The threshold detector of [`Deployment`]'s config fires at this count.
const THRESHOLD: usize = 205;
/// Real posts sent in the window: enough for the alert on their own.
const REAL: usize = THRESHOLD + 45;
/// What viral carries of a sample's text, and of a post's (`viral_core::limits`).
const SAMPLE_TEXT_BYTES: usize = 1024;
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The services on their own topics, the ingest on the port it bound, alerts to a webhook.
struct Pipeline {
    d: Deployment,
    ingest: String,
    hook: webhook::Receiver,
    client: reqwest::Client,
    counts: Box<dyn viral_bus::Subscription>,
    services: Vec<Service>,
}

impl Pipeline {
    /// Start the services; `file` is what the file source reads (posts from elsewhere).
    async fn start(name: &str, file: &str) -> Self {
        let hook = webhook::start().await;
        let extra = format!(
            "[sources.http]\nlisten = \"{ANOTHER_ANY_PORT}\"\n\n[notifiers.webhook]\nurl = \"{}\"\n",
            hook.url()
        );
        let d = Deployment::new(
            name,
            &viral_integration_tests::kafka::bootstrap(),
            1,
            &extra,
        );
        std::fs::write(&d.posts, file).unwrap();
        let counts = subscribe(&d.bus(1), &d.topic("counts")).await;
        // Windows close by the posts' own time (a later post), never by idle advance.
        let quiet = [("VIRAL__AGGREGATOR__IDLE_TIMEOUT", "1h")];
        let services = vec![
            Service::start(
                "viral-aggregator",
                "aggregator",
                &d.config,
                &quiet,
                d.logs(),
            ),
            Service::start("viral-alerter", "alerter", &d.config, &[], d.logs()),
            Service::start(
                "viral-producer",
                "producer",
                &d.config,
                &[("VIRAL_INGEST_TOKEN", TOKEN)],
                d.logs(),
            ),
        ];
        for s in &services {
            await_ready(s, true).await;
        }
        Self {
            d,
            ingest: format!("http://{}/api/v1/posts", services[2].reported("listen")),
            hook,
            client: reqwest::Client::new(),
            counts,
            services,
        }
    }

    /// POST `body` to the ingest: its status and answer.
    async fn send(&self, body: String) -> (u16, Value) {
        let response = self
            .client
            .post(&self.ingest)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The counts of `windows` (their starts, in order) of topic ocean-spray, as they come.
    async fn counts_of(&mut self, windows: &[i64]) -> Vec<viral_core::WindowCount> {
        let mut got = Vec::new();
        for &start in windows {
            let start = viral_core::time::from_millis(start);
            loop {
                let msg = tokio::time::timeout(PATIENCE, self.counts.recv())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "no window count for {PATIENCE:?}: is a stage wedged?\n{}",
                            self.tails()
                        )
                    })
                    .expect("the counts topic");
                let c: viral_core::WindowCount = serde_json::from_slice(&msg.payload).unwrap();
                if c.topic == "ocean-spray" && c.window_start == start {
                    got.push(c);
                    break;
                }
            }
        }
        got
    }

    /// The next alert the webhook receives.
    async fn alert(&mut self) -> Value {
        let got = tokio::time::timeout(PATIENCE, self.hook.requests.recv()).await;
        match got {
            Ok(Some(r)) => r.body,
            _ => panic!("no alert for {PATIENCE:?}\n{}", self.tails()),
        }
    }

    fn tails(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("---- {} ----\n{}", s.name, s.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A window start 20 to 30 minutes ago (10-minute windows): recent enough for every
/// rule on late posts, and closed by a post of now.
fn a_recent_window() -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - 20 * 60_000).div_euclid(WINDOW_MS) * WINDOW_MS - WINDOW_MS
}

fn post(id: &str, text: &str, at_ms: i64) -> Value {
    json!({
        "id": id,
        "source": "test",
        "text": text,
        "created_at": viral_core::time::from_millis(at_ms),
        "url": format!("https://example.com/{id}"),
    })
}

/// `n` real posts about ocean spray at `at_ms`, in one request.
fn real_posts(prefix: &str, n: usize, at_ms: i64) -> String {
    let posts: Vec<Value> = (0..n)
        .map(|i| post(&format!("{prefix}{i}"), "I love Ocean Spray", at_ms))
        .collect();
    Value::Array(posts).to_string()
}

/// Every sample viral carries is cut to 1 KiB.
fn assert_small_samples(samples: &Value) {
    let samples = samples.as_array().expect("samples");
    assert!(!samples.is_empty());
    for s in samples {
        let text = s["text"].as_str().unwrap();
        assert!(
            text.len() <= SAMPLE_TEXT_BYTES,
            "a sample of {}",
            text.len()
        );
    }
}

async fn the_alert_follows(p: &mut Pipeline, window: i64, count: usize) {
    let alert = p.alert().await;
    assert_eq!(
        (&alert["topic"], &alert["status"], &alert["count"]),
        (
            &Value::from("ocean-spray"),
            &Value::from("firing"),
            &Value::from(count)
        ),
        "{alert}"
    );
    assert_eq!(
        alert["window_start"],
        json!(viral_core::time::from_millis(window))
    );
    assert_small_samples(&alert["samples"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ingest_body_over_the_bus_limit_neither_wedges_the_producer_nor_is_lost() {
    let w = a_recent_window();
    let at = w + 60_000;
    // From a source without an ingest's 400: a post whose id no cut can fix.
    let long_id = post(&"i".repeat(2000), "Ocean Spray", at);
    let mut p = Pipeline::start("oversize-post", &format!("{long_id}\n")).await;
    let bus = p.d.bus(1);
    let mut dead = subscribe(&bus, &p.d.topic("deadletter")).await;

    // The issue's request: one post, 1,010,091 bytes of body, under the ingest's 1 MiB.
    let head = post("huge", "Ocean Spray ", at).to_string();
    let pad = 1_010_091 - head.len();
    let huge = head.replace("Ocean Spray ", &format!("Ocean Spray {}", "x".repeat(pad)));
    assert_eq!(huge.len(), 1_010_091);
    let (status, answer) = p.send(huge).await;
    assert_eq!(status, 202, "{answer}\n{}", p.tails());

    // A field over its bound is the sender's to fix: 400 naming it.
    let mut bad = post("bad-url", "Ocean Spray", at);
    bad["url"] = json!(format!("https://example.com/{}", "u".repeat(3000)));
    let (status, answer) = p.send(bad.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        answer["problems"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("url: "),
        "{answer}"
    );

    // Real posts after it are taken at once, and counted exactly.
    let (status, answer) = p.send(real_posts("real", REAL, at)).await;
    assert_eq!((status, &answer["accepted"]), (202, &json!(REAL)));
    let now = chrono::Utc::now().timestamp_millis();
    let closer = post("closer", "ocean spray", now).to_string();
    assert_eq!(p.send(closer).await.0, 202);

    let got = p.counts_of(&[w]).await;
    assert_eq!(
        got[0].count,
        REAL as u64 + 1,
        "the real posts and the cut one"
    );
    assert_small_samples(&serde_json::to_value(&got[0].samples).unwrap());
    the_alert_follows(&mut p, w, REAL + 1).await;

    // The post with the long id was dead-lettered with its reason, and counted.
    let letter = tokio::time::timeout(PATIENCE, dead.recv())
        .await
        .expect("a dead letter")
        .expect("the dead-letter topic");
    let letter: Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(
        (&letter["stage"], &letter["reason"], &letter["error"]),
        (
            &json!("producer"),
            &json!("too_large"),
            &json!("id: 2000 bytes, longer than 1024")
        )
    );
    let page = reqwest::get(format!("http://{}/metrics", p.services[2].ops));
    let metrics = page.await.unwrap().text().await.unwrap();
    let line = r#"viral_dead_letters_total{stage="producer",reason="too_large"} 1"#;
    assert!(metrics.contains(line), "{metrics}");

    // On the bus, the oversized post travelled cut.
    let mentions = read_all(&p.d.brokers, &p.d.topic("mentions"));
    let huge: Vec<&Vec<u8>> = mentions
        .values()
        .flatten()
        .map(|(_, m)| m)
        .filter(|m| m.starts_with(br#"{"topic":"ocean-spray","id":"huge""#))
        .collect();
    assert_eq!(huge.len(), 1);
    let mention: Value = serde_json::from_slice(huge[0]).unwrap();
    assert_eq!(mention["text"].as_str().unwrap().len(), MAX_TEXT_BYTES);
    for s in &mut p.services {
        assert!(s.terminate().success(), "{}", s.log_tail());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn five_posts_of_205_kb_leave_every_window_committed_and_the_alert_sent() {
    let mut p = Pipeline::start("oversize-window", "").await;
    let w = a_recent_window();
    let at = w + 60_000;

    // The issue's five posts of ~205 KB, in one request (under the ingest's 1 MiB).
    let text = format!("Ocean Spray {}", "y".repeat(205_000));
    let big: Vec<Value> = (0..5)
        .map(|i| post(&format!("big{i}"), &text, at))
        .collect();
    let body = Value::Array(big).to_string();
    assert!(body.len() > 1_000_000 && body.len() < 1 << 20);
    let (status, answer) = p.send(body).await;
    assert_eq!(status, 202, "{answer}");

    // Real posts after them, in that window and the next.
    assert_eq!(p.send(real_posts("real", REAL, at)).await.0, 202);
    assert_eq!(
        p.send(real_posts("next", 3, w + WINDOW_MS + 60_000))
            .await
            .0,
        202
    );
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        p.send(post("closer", "ocean spray", now).to_string())
            .await
            .0,
        202
    );

    let got = p.counts_of(&[w, w + WINDOW_MS]).await;
    assert_eq!((got[0].count, got[1].count), (REAL as u64 + 5, 3));
    assert_eq!(got[0].samples.len(), SAMPLES);
    assert_small_samples(&serde_json::to_value(&got[0].samples).unwrap());
    the_alert_follows(&mut p, w, REAL + 5).await;

    let aggregator = &mut p.services[0];
    assert!(
        aggregator.terminate().success(),
        "{}",
        aggregator.log_tail()
    );
    let log = std::fs::read_to_string(p.d.logs().join("aggregator.log")).unwrap();
    assert!(
        !log.contains("resuming from the last commit"),
        "the aggregator restarted:\n{log}"
    );
    // The store has what the counts topic has.
    let store = viral_store::sqlite::SqliteStore::open(&p.d.db).unwrap();
    let stored = all_stored_counts(&store).await;
    let stored: Vec<(i64, u64)> = stored
        .iter()
        .filter(|c| c.topic == "ocean-spray")
        .map(|c| (c.window_start.timestamp_millis(), c.count))
        .take(2)
        .collect();
    assert_eq!(stored, [(w, REAL as u64 + 5), (w + WINDOW_MS, 3)]);
}
