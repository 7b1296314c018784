//! Latency under a steady load: mentions stamped with the wall clock are produced at a
//! fixed rate over 1,000 topics; the aggregator and alerter run as processes; the
//! harness reads the counts topic and receives the webhook. A window "closes" when event
//! time passes its end plus the lateness, which, with mentions stamped now, is wall
//! time `window_end + lateness`; latency is measured from there to the count on the
//! counts topic, and to the webhook request carrying its alert.
//!
//! Every topic is hot (5× its rate) for one minute in four, so each fully hot window
//! crosses the threshold and the next one resolves: a steady stream of alerts.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::routing::post;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message as _};

use crate::data::{self, topic_name, Rng};
use crate::engines::{self, Setup, Windows};
use crate::probe::now_ms;

const TOPICS: u64 = 1_000;

/// (window close, latency) in epoch ms.
type Samples = Arc<Mutex<Vec<(i64, i64)>>>;

pub struct Latency {
    pub rate: u64,
    pub seconds: u64,
    pub windows: Windows,
    pub counts_ms: Vec<i64>,
    pub webhook_ms: Vec<i64>,
    pub produced: u64,
}

pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(s: &Setup, rate: u64, seconds: u64) -> Result<Latency> {
    let w = Windows {
        size: Duration::from_secs(60),
        hop: Duration::from_secs(30),
        lateness: Duration::from_secs(2),
    };
    let late_ms = w.lateness.as_millis() as i64;
    let mentions = format!("bench.latency.{}.mentions", now_ms());
    data::create_topic(&s.brokers, &mentions, s.partitions).await?;

    // The webhook receiver: latency of every alert from its window's close.
    let webhook: Samples = Arc::default();
    let started_ms = now_ms();
    let sink = webhook.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let now = now_ms();
                if let Ok(a) = serde_json::from_slice::<viral_core::Alert>(&body) {
                    let closed = viral_core::time::to_millis(&a.window_end) + late_ms;
                    if let Ok(mut v) = sink.lock() {
                        v.push((closed, now - closed));
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Per window: 60 s × r per topic, 5× when hot; a fully hot window is 300 r, a half
    // hot one 180 r, a cold one 60 r. The threshold sits at 240 r.
    let per_topic = rate as f64 / (TOPICS as f64 * 2.0);
    let threshold = (240.0 * per_topic) as u64;
    let extra = format!(
        "\n[aggregator]\ncommit_interval = \"100ms\"\n\n[[detectors]]\nkind = \"threshold\"\n\
         threshold = {threshold}\n\n[notifiers]\nstdout = false\ncooldown = \"0s\"\n\
         max_per_hour = 0\n\n[notifiers.webhook]\nurl = \"{hook}\"\n"
    );
    let port = engines::free_port();
    let config = engines::viral_config(s, "latency", &mentions, w, port, &extra)?;
    let counts = engines::counts_topic(&config)?;
    data::create_topic(&s.brokers, &counts, s.partitions).await?;
    let dir = s.work.join("latency");
    let spawn = |bin: &str, port: u16| -> Result<std::process::Child> {
        let log = std::fs::File::create(dir.join(format!("{bin}.log")))?;
        Command::new(s.bin.join(bin))
            .arg("--config")
            .arg(&config)
            .env("VIRAL__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {bin}"))
    };
    let mut aggregator = spawn("viral-aggregator", port)?;
    let mut alerter = spawn("viral-alerter", engines::free_port())?;

    // The counts topic, read as it is committed.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .set("group.id", format!("bench-latency-{}", now_ms()))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    consumer.subscribe(&[&counts])?;
    let counted: Samples = Arc::default();
    let into = counted.clone();
    let reader = tokio::spawn(async move {
        loop {
            let Ok(m) = consumer.recv().await else {
                continue;
            };
            let now = now_ms();
            let Some(Ok(c)) = m
                .payload()
                .map(serde_json::from_slice::<viral_core::WindowCount>)
            else {
                continue;
            };
            let closed = viral_core::time::to_millis(&c.window_end) + late_ms;
            if let Ok(mut v) = into.lock() {
                v.push((closed, now - closed));
            }
        }
    });

    // The load: `rate` mentions per second, paced every 10 ms, stamped now.
    let brokers = s.brokers.clone();
    let topic = mentions.clone();
    let produced = tokio::task::spawn_blocking(move || -> Result<u64> {
        let p = data::producer(&brokers)?;
        let names: Vec<String> = (0..TOPICS).map(topic_name).collect();
        let mut rng = Rng::new(0x1a7e);
        let started = Instant::now();
        let per_tick = rate / 100;
        let mut n = 0u64;
        for tick in 0..seconds * 100 {
            let due = started + Duration::from_millis(tick * 10);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let now = now_ms();
            let minute = now.div_euclid(60_000) as u64;
            for _ in 0..per_tick {
                // 250 hot topics at 5× the rate of the 750 others: 1,250 of 2,000 shares.
                let r = rng.next();
                let (k, pick) = ((r >> 20) % (TOPICS / 4), r % 2_000);
                let hot_slot = (4 - minute % 4) % 4;
                let slot = if pick < 1_250 {
                    hot_slot
                } else {
                    (hot_slot + 1 + (r >> 40) % 3) % 4
                };
                let t = k * 4 + slot;
                let name = &names[t as usize];
                data::send(&p, &topic, name, &data::mention(name, n, now, now));
                n += 1;
            }
        }
        use rdkafka::producer::Producer;
        p.flush(Duration::from_secs(30))?;
        Ok(n)
    })
    .await??;
    // The last windows close with the last mentions' lateness; give the pipeline a
    // moment to emit and deliver them, then stop.
    tokio::time::sleep(Duration::from_secs(5)).await;
    reader.abort();
    let _ = aggregator.kill();
    let _ = alerter.kill();
    let _ = aggregator.wait();
    let _ = alerter.wait();
    // Windows closing in the first minute are left out: group joins and topic
    // creation, not steady state.
    let warm = |v: &Samples| -> Vec<i64> {
        let v = v.lock().map(|v| v.clone()).unwrap_or_default();
        let mut v: Vec<i64> = v
            .into_iter()
            .filter(|(closed, _)| *closed >= started_ms + 60_000)
            .map(|(_, lat)| lat)
            .collect();
        v.sort_unstable();
        v
    };
    Ok(Latency {
        rate,
        seconds,
        windows: w,
        counts_ms: warm(&counted),
        webhook_ms: warm(&webhook),
        produced,
    })
}
