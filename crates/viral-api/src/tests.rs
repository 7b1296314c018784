//! The API on a real TCP port over a real SQLite file, called with an HTTP client the
//! way a dashboard or `curl` would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use viral_core::time::from_millis;
use viral_core::{Alert, AlertStatus, WindowCount};
use viral_runtime::clock::SimClock;
use viral_store::sqlite::SqliteStore;
use viral_store::Store;

use super::*;

const MIN_MS: i64 = 60_000;

pub(crate) struct Api {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) base: String,
}

/// The API of [`state`] on a real port.
pub(crate) async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("viral.db")).unwrap());
    let state = state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Api {
        _dir: dir,
        store,
        base: format!("http://{addr}"),
    }
}

/// Topics `a` and `b` with one-minute windows in `store`, the clock stopped at minute
/// 10,000 (so default ranges are fixed), a threshold of 10.
pub(crate) fn state(store: Arc<dyn Store>) -> QueryState {
    QueryState {
        store,
        topics: vec!["a".into(), "b".into()],
        window_size: Duration::from_secs(60),
        clock: Arc::new(SimClock::new(10_000 * MIN_MS, 0.0)),
        detectors: vec![viral_core::DetectorConfig::threshold(10)],
    }
}

pub(crate) fn wc(topic: &str, minute: i64, count: u64) -> WindowCount {
    WindowCount {
        topic: topic.into(),
        window_start: from_millis(minute * MIN_MS),
        window_end: from_millis((minute + 1) * MIN_MS),
        count,
        samples: vec![],
    }
}

fn alert(id: &str, status: AlertStatus, minute: i64) -> Alert {
    Alert {
        id: id.into(),
        topic: "a".into(),
        detector: "threshold".into(),
        status,
        window_start: from_millis(minute * MIN_MS),
        window_end: from_millis((minute + 1) * MIN_MS),
        count: 99,
        expected: None,
        band: None,
        score: 2.0,
        started_at: from_millis(minute * MIN_MS),
        samples: vec![],
    }
}

pub(crate) async fn get(api: &Api, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", api.base)).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The error message of a request that must fail with `status`.
pub(crate) async fn error(api: &Api, path: &str, status: u16) -> String {
    let (got, body) = get(api, path).await;
    assert_eq!(got, status, "{path}: {body}");
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn topics_list_the_latest_window_and_only_open_incidents() {
    let api = api().await;
    let m = Duration::from_secs(60);
    api.store
        .put_counts(m, &[wc("a", 1, 5), wc("a", 3, 7), wc("a", 2, 6)])
        .await
        .unwrap();
    // inc-1 is over; inc-2 still firing.
    for a in [
        alert("inc-1", AlertStatus::Firing, 1),
        alert("inc-1", AlertStatus::Resolved, 2),
        alert("inc-2", AlertStatus::Firing, 3),
    ] {
        api.store.put_alert(&a).await.unwrap();
    }
    let (status, body) = get(&api, "/api/v1/topics").await;
    assert_eq!(status, 200);
    let topics = body["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0]["name"], "a");
    assert_eq!(topics[0]["window"], "1m");
    assert_eq!(topics[0]["latest"]["count"], 7);
    assert_eq!(topics[0]["latest"]["window_start"], "1970-01-01T00:03:00Z");
    let incidents = topics[0]["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["id"], "inc-2");
    assert_eq!(topics[1]["name"], "b");
    assert!(topics[1]["latest"].is_null());
    assert_eq!(topics[1]["incidents"], serde_json::json!([]));
    // The clock is at minute 10,000: a's newest window is long gone, b never had one.
    assert_eq!(topics[0]["data"], "stale");
    assert_eq!(topics[1]["data"], "none");
    api.store.put_counts(m, &[wc("b", 9_998, 0)]).await.unwrap();
    let (_, body) = get(&api, "/api/v1/topics").await;
    assert_eq!(body["topics"][1]["data"], "current");
}

#[tokio::test]
async fn counts_page_with_next_until_every_window_is_read_exactly_once() {
    let api = api().await;
    let all: Vec<WindowCount> = (0..1234).map(|i| wc("a", i, i as u64 * 3)).collect();
    api.store
        .put_counts(Duration::from_secs(60), &all)
        .await
        .unwrap();
    let mut from = "1970-01-01T00:00:00Z".to_owned();
    let mut got: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get(
            &api,
            &format!(
                "/api/v1/topics/a/counts?from={from}&to=1970-01-01T20:34:00Z&limit=500&window=1m"
            ),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        got.extend(page["counts"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => from = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<Value> = all
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn counts_default_to_the_day_before_now() {
    let api = api().await;
    // Now is minute 10,000: minute 8,560 is exactly one day before, 10,000 is not < now.
    api.store
        .put_counts(
            Duration::from_secs(60),
            &[
                wc("a", 8_559, 1),
                wc("a", 8_560, 2),
                wc("a", 9_999, 3),
                wc("a", 10_000, 4),
            ],
        )
        .await
        .unwrap();
    let (status, page) = get(&api, "/api/v1/topics/a/counts").await;
    assert_eq!(status, 200);
    let counts: Vec<u64> = page["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [2, 3]);
    assert!(page["next"].is_null());
}

#[tokio::test]
async fn bad_requests_are_400s_that_name_the_parameter() {
    let api = api().await;
    let base = "/api/v1/topics/a/counts";
    let e = error(&api, &format!("{base}?from=yesterday"), 400).await;
    assert!(e.contains("from=") && e.contains("RFC 3339"), "{e}");
    let e = error(&api, &format!("{base}?to=2026-13-01T00:00:00Z"), 400).await;
    assert!(e.starts_with("to="), "{e}");
    let e = error(
        &api,
        &format!("{base}?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"),
        400,
    )
    .await;
    assert!(e.contains("must be before"), "{e}");
    for limit in ["0", "5001", "lots"] {
        let e = error(&api, &format!("{base}?limit={limit}"), 400).await;
        assert!(e.contains("limit") && e.contains("5000"), "{e}");
    }
    let e = error(&api, &format!("{base}?window=5m"), 400).await;
    assert!(e.contains("1m windows only"), "{e}");
    let e = error(&api, &format!("{base}?color=red"), 400).await;
    assert!(e.contains("color"), "{e}");
    let e = error(&api, "/api/v1/topics/zzz/counts", 404).await;
    assert!(e.contains("\"zzz\"") && e.contains("a, b"), "{e}");
    let e = error(&api, "/api/v1/topics/zzz/alerts", 404).await;
    assert!(e.contains("not tracked"), "{e}");
    let e = error(&api, "/api/v1/topics/a/alerts?from=x", 400).await;
    assert!(e.contains("from="), "{e}");
}

#[tokio::test]
async fn alerts_page_without_splitting_a_window() {
    let api = api().await;
    // Minute 2 has two alerts (two incidents); a page of 2 must not cut between them.
    for a in [
        alert("inc-1", AlertStatus::Firing, 1),
        alert("inc-2", AlertStatus::Firing, 2),
        alert("inc-3", AlertStatus::Firing, 2),
        alert("inc-1", AlertStatus::Resolved, 4),
    ] {
        api.store.put_alert(&a).await.unwrap();
    }
    let mut from = "1970-01-01T00:00:00Z".to_owned();
    let mut pages: Vec<Vec<String>> = Vec::new();
    loop {
        let (status, page) = get(
            &api,
            &format!("/api/v1/topics/a/alerts?from={from}&limit=2"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        pages.push(
            page["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    format!(
                        "{}/{}",
                        a["id"].as_str().unwrap(),
                        a["status"].as_str().unwrap()
                    )
                })
                .collect(),
        );
        match page["next"].as_str() {
            Some(n) => from = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        pages,
        [
            vec!["inc-1/firing"],
            vec!["inc-2/firing", "inc-3/firing"],
            vec!["inc-1/resolved"],
        ]
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let api = api().await;
    let (status, doc) = get(&api, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/topics",
        "/api/v1/topics/{topic}/counts",
        "/api/v1/topics/{topic}/alerts",
        "/api/v1/topics/{topic}/expected",
        "/api/v1/topics/{topic}/backtest",
        "/api/v1/events",
    ] {
        assert!(paths.contains_key(p), "{p} missing: {:?}", paths.keys());
    }
    let params: Vec<&str> = doc["paths"]["/api/v1/topics/{topic}/counts"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["topic", "from", "to", "window", "limit"]);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in ["WindowCount", "Alert", "Sample", "CountsPage", "ErrorBody"] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // The documented WindowCount has exactly the fields the API sends.
    let (_, page) = get(&api, "/api/v1/topics/a/counts").await;
    assert!(page["counts"].as_array().unwrap().is_empty());
    api.store
        .put_counts(Duration::from_secs(60), &[wc("a", 9_000, 1)])
        .await
        .unwrap();
    let (_, page) = get(&api, "/api/v1/topics/a/counts").await;
    let sent: Vec<String> = page["counts"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let documented: Vec<String> = schemas["WindowCount"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let (mut sent, mut documented) = (sent, documented);
    sent.sort();
    documented.sort();
    assert_eq!(sent, documented);
}

#[tokio::test]
async fn alerts_show_what_became_of_them_at_each_notifier() {
    let api = api().await;
    let firing = alert("inc-1", AlertStatus::Firing, 1);
    api.store.put_alert(&firing).await.unwrap();
    let at = from_millis(120_500);
    let states = [
        ("webhook", viral_store::Delivery::Delivered { at }),
        (
            "email",
            viral_store::Delivery::GaveUp {
                at,
                error: "the receiver refused the alert: 550".into(),
            },
        ),
    ];
    for (notifier, d) in &states {
        api.store.put_delivery(&firing, notifier, d).await.unwrap();
    }
    let (status, page) = get(&api, "/api/v1/topics/a/alerts?from=1970-01-01T00:00:00Z").await;
    assert_eq!(status, 200);
    let got = &page["alerts"][0];
    assert_eq!(got["id"], "inc-1");
    assert_eq!(
        got["deliveries"],
        serde_json::json!({
            "email": {"state": "gave_up", "at": "1970-01-01T00:02:00.500Z",
                      "error": "the receiver refused the alert: 550"},
            "webhook": {"state": "delivered", "at": "1970-01-01T00:02:00.500Z"},
        })
    );
    // Every field sent is documented (StoredAlert = Alert + deliveries).
    let (_, doc) = get(&api, "/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let mut documented: Vec<String> = schemas["Alert"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    documented.push("deliveries".into());
    for key in got.as_object().unwrap().keys() {
        assert!(documented.contains(key), "{key} is not documented");
    }
    for key in got["deliveries"]["email"].as_object().unwrap().keys() {
        assert!(
            schemas["Delivery"]["properties"].get(key).is_some(),
            "delivery field {key} is not documented"
        );
    }
}
