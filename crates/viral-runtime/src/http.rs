//! The operational HTTP endpoints every viral process serves: `/metrics` (Prometheus),
//! `/healthz` (the process is alive) and `/readyz` (its bus and store are usable).
//! More routes (the query API, the dashboard) can be merged in by the caller.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
pub use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::server::Listener;

#[derive(Clone)]
struct Ops {
    metrics: Metrics,
    health: Health,
}

/// The operational routes, ready to be merged with others.
pub fn router(metrics: Metrics, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Ops { metrics, health })
}

async fn metrics_handler(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.encode(),
    )
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    let status = if ops.health.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ops.health.snapshot()))
}

/// Bind `listen` and serve `router` until `shutdown`, within `listener`'s limits (see
/// [`crate::server`]). Returns the bound address (useful with port 0) and the server task.
pub async fn serve(
    listen: &str,
    router: Router,
    listener: Listener,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    let addr = tcp.local_addr()?;
    let task = tokio::spawn(crate::server::serve(tcp, router, listener, shutdown));
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_answer() {
        let (metrics, health) = (Metrics::new(), Health::new());
        let stop = CancellationToken::new();
        let listener = Listener {
            name: "http",
            limits: Default::default(),
            metrics: metrics.clone(),
        };
        let (addr, task) = serve(
            "127.0.0.1:0",
            router(metrics.clone(), health.clone()),
            listener,
            stop.clone(),
        )
        .await
        .unwrap();
        let get = |p: &'static str| reqwest::get(format!("http://{addr}{p}"));
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        health.set("bus", false);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        health.set("bus", true);
        let r = get("/readyz").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"bus":true}"#);
        metrics.windows_closed.inc();
        let body = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(body.contains("viral_windows_closed_total 1"), "{body}");
        stop.cancel();
        task.await.unwrap();
    }
}
