//! The API's own bounds: the costly queries wait their turn beyond
//! `max_concurrent_queries` (the rest of the API does not), event streams beyond
//! `max_event_streams` are refused, and every answer carries the security headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use tokio::sync::Semaphore;
use viral_core::{Alert, WindowCount};
use viral_store::sqlite::SqliteStore;
use viral_store::{AlertDeliveries, AlertsQuery, CountsQuery, Delivery, Store, StoreError};

use super::*;
use crate::tests::state;

/// A store whose range reads (what expected bands and backtests do) wait at a gate, so a
/// test can see how many are in progress at once.
struct Gated {
    inner: SqliteStore,
    gate: Semaphore,
    entered: AtomicUsize,
}

impl Gated {
    fn open(dir: &tempfile::TempDir) -> Arc<Self> {
        Arc::new(Self {
            inner: SqliteStore::open(&dir.path().join("viral.db")).unwrap(),
            gate: Semaphore::new(0),
            entered: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Store for Gated {
    async fn put_counts(&self, size: Duration, c: &[WindowCount]) -> Result<(), StoreError> {
        self.inner.put_counts(size, c).await
    }
    async fn counts(&self, q: &CountsQuery) -> Result<Vec<WindowCount>, StoreError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        // Each read takes one permit for good: released by the test, one per read.
        self.gate.acquire().await.unwrap().forget();
        self.inner.counts(q).await
    }
    async fn put_alert(&self, a: &Alert) -> Result<(), StoreError> {
        self.inner.put_alert(a).await
    }
    async fn alerts(&self, q: &AlertsQuery) -> Result<Vec<Alert>, StoreError> {
        self.inner.alerts(q).await
    }
    async fn put_delivery(&self, a: &Alert, n: &str, d: &Delivery) -> Result<(), StoreError> {
        self.inner.put_delivery(a, n, d).await
    }
    async fn alert_deliveries(&self, q: &AlertsQuery) -> Result<Vec<AlertDeliveries>, StoreError> {
        self.inner.alert_deliveries(q).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

type Call = Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

fn call(router: &Router, path: &str) -> Call {
    let mut service = router.clone();
    let request = Request::get(path).body(Body::empty()).unwrap();
    Box::pin(async move {
        std::future::poll_fn(|cx| {
            <Router as tower::Service<Request<Body>>>::poll_ready(&mut service, cx)
        })
        .await?;
        tower::Service::call(&mut service, request).await
    })
}

#[tokio::test]
async fn costly_queries_beyond_the_limit_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::open(&dir);
    let limits = QueryLimits {
        max_concurrent_queries: 2,
        max_event_streams: 1,
    };
    let router = router_with(state(store.clone()), limits);
    let mut calls: Vec<Call> = [
        "/api/v1/topics/a/expected",
        "/api/v1/topics/a/backtest?from=1970-01-07T22:00:00Z&to=1970-01-07T23:00:00Z",
        "/api/v1/topics/b/expected",
        "/api/v1/topics/b/backtest?detector=threshold&threshold=5&from=1970-01-07T22:00:00Z&to=1970-01-07T23:00:00Z",
    ]
    .iter()
    .map(|p| call(&router, p))
    .collect();
    // Each driven as far as it goes: two reach the store, two wait for a place.
    for c in &mut calls {
        if let std::task::Poll::Ready(r) = futures::poll!(c.as_mut()) {
            let r = r.unwrap();
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            panic!("answered at once: {body:?}");
        }
    }
    assert_eq!(store.entered.load(Ordering::SeqCst), 2);
    // Let every read through: all four are answered.
    store.gate.add_permits(1000);
    for c in calls {
        let response = c.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(store.entered.load(Ordering::SeqCst) >= 4);
}

#[tokio::test]
async fn event_streams_beyond_the_limit_are_refused_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::open(&dir);
    store.gate.add_permits(1 << 20);
    let limits = QueryLimits {
        max_concurrent_queries: 1,
        max_event_streams: 1,
    };
    let router = router_with(state(store), limits);
    let open = call(&router, "/api/v1/events").await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let refused = call(&router, "/api/v1/events?topic=a").await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(refused.into_body(), 1 << 16)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("http.max_event_streams"),
        "{body:?}"
    );
    // Closing the open stream makes room.
    drop(open);
    let again = call(&router, "/api/v1/events?topic=a").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::open(&dir);
    store.gate.add_permits(1 << 20);
    let router = router(state(store));
    for path in [
        "/",
        "/topics/a",
        "/assets/views.js",
        "/api/v1/topics",
        "/nope",
    ] {
        let r = call(&router, path).await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}

#[test]
fn the_pages_have_no_inline_script_handler_or_style() {
    // The policy allows none: the page would silently lose them.
    for (name, text) in [
        ("index.html", include_str!("../assets/index.html")),
        ("app.js", include_str!("../assets/app.js")),
        ("views.js", include_str!("../assets/views.js")),
        ("chart.js", include_str!("../assets/chart.js")),
    ] {
        let lower = text.to_lowercase();
        for banned in [
            "innerhtml",
            "outerhtml",
            " style=",
            "\"style\"",
            " onclick=",
            " onload=",
        ] {
            assert!(!lower.contains(banned), "{name} contains {banned:?}");
        }
    }
    let index = include_str!("../assets/index.html");
    assert_eq!(
        index.matches("<script").count(),
        index.matches("<script type=\"module\" src=").count(),
        "every script in index.html is a file"
    );
}
