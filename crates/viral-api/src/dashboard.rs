//! The web dashboard: a few hand-written files (HTML, CSS, vanilla JavaScript drawing
//! SVG) compiled into the binary with `include_str!`, so `viral standalone` and the
//! aggregator serve it with nothing to install and no CDN to reach. There is no build
//! step: the files in `assets/` are what the browser runs.
//!
//! The pages read only the query API (`/api/v1/...`), like any other client. One HTML
//! shell serves every page (`/`, `/topics/{topic}`, `/backtest`); `app.js` picks the view
//! from the path.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../assets/index.html");
const STYLE: &str = include_str!("../assets/style.css");
const APP: &str = include_str!("../assets/app.js");
const CHART: &str = include_str!("../assets/chart.js");
const VIEWS: &str = include_str!("../assets/views.js");
const ICON: &str = include_str!("../assets/icon.svg");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Assets change with the binary only; revalidating is cheap and always right.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

/// `/`, `/topics/{topic}`, `/backtest` and `/assets/*`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/topics/{topic}", get(index))
        .route("/backtest", get(index))
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP) }),
        )
        .route(
            "/assets/chart.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHART) }),
        )
        .route(
            "/assets/views.js",
            get(|| async { asset("text/javascript; charset=utf-8", VIEWS) }),
        )
        .route(
            "/assets/icon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
}
