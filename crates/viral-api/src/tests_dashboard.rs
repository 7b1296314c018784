//! The dashboard's routes on a real port over SQLite: replays of the configured and of a
//! proposed detector, the live event stream, and the embedded pages.

use std::time::Duration;

use serde_json::Value;
use viral_store::Store;

use crate::tests::{api, error, get, wc, Api};

/// Windows 9,900..9,999 of topic `a` count 5, except minute 9,990 which counts 50.
async fn history(api: &Api) {
    let all: Vec<_> = (9_900..10_000)
        .map(|m| wc("a", m, if m == 9_990 { 50 } else { 5 }))
        .collect();
    api.store
        .put_counts(Duration::from_secs(60), &all)
        .await
        .unwrap();
}

#[tokio::test]
async fn expected_replays_the_configured_detector_over_every_window() {
    let api = api().await;
    history(&api).await;
    let (status, r) = get(&api, "/api/v1/topics/a/expected").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["detector"], "threshold");
    let n = r["start"].as_array().unwrap().len();
    assert_eq!(n, 100);
    for col in ["count", "expected", "low", "high", "anomalous"] {
        assert_eq!(r[col].as_array().unwrap().len(), n, "{col}");
    }
    let anomalous: Vec<usize> = r["anomalous"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, v)| **v == Value::Bool(true))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(anomalous, [90]);
    let alerts = r["alerts"].as_array().unwrap();
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["window_start"], "1970-01-07T22:30:00Z");
    // A narrower range still replays the history before it (the warm-up).
    let (_, r) = get(
        &api,
        "/api/v1/topics/a/expected?from=1970-01-07T22:35:00Z&to=1970-01-07T22:40:00Z",
    )
    .await;
    assert_eq!(r["start"].as_array().unwrap().len(), 5);
    assert!(error(&api, "/api/v1/topics/a/expected?detector=nope", 404)
        .await
        .contains("configured detectors: [threshold]"));
    assert!(error(&api, "/api/v1/topics/zz/expected", 404)
        .await
        .contains("not tracked"));
}

/// The default 30 days of one-minute windows is more than a replay shows: one day.
const DAY: &str = "from=1970-01-06T22:40:00Z";

#[tokio::test]
async fn backtest_shows_where_a_proposed_detector_would_have_fired() {
    let api = api().await;
    history(&api).await;
    let firing = |r: &Value| {
        r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"] == "firing")
            .count()
    };
    let (s, r) = get(
        &api,
        &format!("/api/v1/topics/a/backtest?detector=threshold&threshold=40&{DAY}"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(firing(&r), 1);
    let (_, r) = get(
        &api,
        &format!("/api/v1/topics/a/backtest?detector=threshold&threshold=100&{DAY}"),
    )
    .await;
    assert_eq!(firing(&r), 0);
    // Burst judges half hours: one busy minute among quiet ones is no burst.
    let (s, r) = get(
        &api,
        &format!("/api/v1/topics/a/backtest?detector=burst&factor=3&min_count=10&{DAY}"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(firing(&r), 0);
    // resolve_after holds the incident: with 1h, the spike's incident is still open at
    // the end of the range, so only its `firing` is there.
    let (s, r) = get(
        &api,
        &format!(
            "/api/v1/topics/a/backtest?detector=threshold&threshold=40&resolve_after=1h&{DAY}"
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let statuses: Vec<&Value> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, ["firing"]);
    // The config file's rules, with the parameter named.
    assert!(error(
        &api,
        "/api/v1/topics/a/backtest?detector=threshold&threshold=0",
        400
    )
    .await
    .contains("threshold: must be at least 1"));
    assert!(
        error(&api, "/api/v1/topics/a/backtest?resolve_after=soon", 400)
            .await
            .contains("resolve_after=\"soon\"")
    );
    let (s, r) = get(
        &api,
        &format!("/api/v1/topics/a/backtest?sensitivity=strict&{DAY}"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["detector"], "adaptive");
    assert!(error(&api, "/api/v1/topics/a/backtest?detector=magic", 400)
        .await
        .contains("detector=\"magic\""));
    assert!(
        error(&api, "/api/v1/topics/a/backtest?detector=threshold", 400)
            .await
            .contains("threshold=N is required")
    );
    assert!(
        error(&api, "/api/v1/topics/a/backtest?sensitivity=wild", 400)
            .await
            .contains("sensitivity")
    );
    assert!(error(
        &api,
        "/api/v1/topics/a/backtest?from=1900-01-01T00:00:00Z",
        400
    )
    .await
    .contains("narrow the range"));
}

/// Read the event stream until `needle` appears (or fail after a deadline).
async fn read_until(resp: &mut reqwest::Response, seen: &mut String, needle: &str) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains(needle) {
            let chunk = resp.chunk().await.unwrap().expect("stream ended");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in the event stream: {seen}"));
}

#[tokio::test]
async fn events_stream_each_newly_stored_window() {
    let api = api().await;
    history(&api).await;
    let mut resp = reqwest::get(format!("{}/api/v1/events?topic=a", api.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut seen = String::new();
    // The newest window at connection time first, then each one as it is stored.
    read_until(
        &mut resp,
        &mut seen,
        "\"window_start\":\"1970-01-07T22:39:00Z\"",
    )
    .await;
    assert!(seen.contains("event: window"), "{seen}");
    api.store
        .put_counts(Duration::from_secs(60), &[wc("a", 10_000, 9)])
        .await
        .unwrap();
    read_until(
        &mut resp,
        &mut seen,
        "\"window_start\":\"1970-01-07T22:40:00Z\"",
    )
    .await;
    assert_eq!(seen.matches("event: window").count(), 2, "{seen}");
    assert!(error(&api, "/api/v1/events?topic=zz", 404)
        .await
        .contains("not tracked"));
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary() {
    let api = api().await;
    for (path, kind, needle) in [
        ("/", "text/html", "/assets/app.js"),
        ("/topics/a", "text/html", "/assets/app.js"),
        ("/backtest", "text/html", "/assets/app.js"),
        ("/assets/app.js", "text/javascript", "EventSource"),
        ("/assets/chart.js", "text/javascript", "drawChart"),
        ("/assets/views.js", "text/javascript", "/api/v1/topics"),
        ("/assets/style.css", "text/css", "prefers-color-scheme"),
        ("/assets/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = reqwest::get(format!("{}{path}", api.base)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let body = r.text().await.unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
        // No CDN: nothing is loaded from another origin.
        assert!(!body.contains("https://cdn"), "{path} loads from a CDN");
    }
}
