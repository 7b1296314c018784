//! The HTTP ingest source (the original system's API Gateway): other tools `POST
//! /api/v1/posts` with one Post or a JSON array of Posts (the Post message) and a bearer
//! token, and get
//!
//! - 202 `{"accepted": N}` only once the bus has accepted the mentions of every post —
//!   the posts go to the producer as one [`Acked`] batch and the answer waits for its
//!   acknowledgement, so a 202 means the posts are in Kafka, not in a queue that a crash
//!   could lose;
//! - 400 with a reason for each bad post (`{"error", "problems": [{"index", "error"}],
//!   "unlisted_problems"}`, at most 100 listed); nothing of such a request is accepted, so
//!   the client can fix it and resend it whole. Fields over viral's bounds
//!   (`viral_core::limits`: id 1 KiB, url 2 KiB, author 256 bytes, lang 35 bytes) are such
//!   problems; a long text is not (it is matched whole and carried cut to 64 KiB);
//! - 401 without the right token, 413 for a body over `max_body_bytes` or an array of
//!   more than `max_posts` posts, 429 (with
//!   `Retry-After`) when `max_in_flight` requests are already being handled, 503 (with
//!   `Retry-After`) when the bus has not accepted the posts within `ack_timeout` or the
//!   producer is gone.
//!
//! A retried request whose first attempt did get through is harmless: its posts keep
//! their ids, and the aggregator counts an id once per window.

pub(crate) mod body;
mod config;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bounds;

pub use config::HttpIngestConfig;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use viral_core::Post;
use viral_runtime::server::Listener;

use body::{Body, Problems};

use crate::live::SourceMonitor;
use crate::{Acked, Source, SourceError};

/// This source's name in metrics and logs (posts keep the `source` their sender gave).
pub const NAME: &str = "http";
/// The path posts are sent to.
pub const PATH: &str = "/api/v1/posts";

/// What a client is told to wait before retrying a 429 or 503, in seconds.
const RETRY_AFTER_S: u64 = 1;

/// Whether `s` may be a post's `source` (and so a metrics label value).
pub(crate) fn valid_source_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Posts received over HTTP, handed to the producer with an acknowledgement.
pub struct HttpIngestSource {
    config: HttpIngestConfig,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    token: String,
    acked: mpsc::Sender<Acked>,
    monitor: SourceMonitor,
    allowed: Vec<String>,
    ack_timeout: Duration,
    max_posts: usize,
    in_flight: Arc<Semaphore>,
}

impl HttpIngestSource {
    /// Check the configuration and bind `listen` now, so that a bad address or a port in
    /// use stops the process at start-up. `token` is what clients must send as
    /// `Authorization: Bearer …`; batches go into `acked`, towards the producer.
    pub fn bind(
        config: HttpIngestConfig,
        token: String,
        monitor: SourceMonitor,
        acked: mpsc::Sender<Acked>,
    ) -> Result<Self, SourceError> {
        config.validate().map_err(|problem| SourceError::Config {
            source_name: NAME.to_owned(),
            problem,
        })?;
        let start = |problem: String| SourceError::Start {
            source_name: NAME.to_owned(),
            problem,
        };
        let listener = std::net::TcpListener::bind(&config.listen)
            .map_err(|e| start(format!("cannot listen on {}: {e}", config.listen)))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| start(e.to_string()))?;
        let shared = Arc::new(Shared {
            token,
            acked,
            monitor,
            allowed: config.allowed_sources.clone(),
            ack_timeout: config.ack_timeout,
            max_posts: config.max_posts,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        });
        Ok(Self {
            config,
            listener,
            shared,
        })
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn router(&self) -> Router {
        let state = self.shared.clone();
        Router::new()
            .route(PATH, post(ingest))
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            // Checked before the body is read: an unauthenticated or excess request
            // costs no upload.
            .route_layer(middleware::from_fn_with_state(state.clone(), admit))
            .with_state(state)
    }
}

#[async_trait::async_trait]
impl Source for HttpIngestSource {
    fn name(&self) -> &str {
        NAME
    }

    /// Serves until `shutdown`, then finishes the requests in progress. `sink` is not
    /// used: posts go through the acknowledged path instead.
    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        drop(sink);
        let router = self.router();
        let listener =
            tokio::net::TcpListener::from_std(self.listener).map_err(|e| SourceError::Start {
                source_name: NAME.to_owned(),
                problem: e.to_string(),
            })?;
        let addr = listener.local_addr().ok();
        let monitor = self.shared.monitor.clone();
        drop(self.shared);
        tracing::info!(listen = ?addr, path = PATH, "http ingest source started");
        monitor.connected();
        let limits = Listener {
            name: "ingest",
            limits: self.config.limits(),
            metrics: monitor.metrics().clone(),
        };
        viral_runtime::server::serve(listener, router, limits, shutdown).await;
        monitor.stopped();
        Ok(())
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn retry_later(status: StatusCode, message: &str) -> Response {
    let mut r = error(status, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    r
}

/// Equal without revealing, through timing, how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorised(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

/// Authentication, then a place among the requests in flight.
async fn admit(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if !authorised(request.headers(), &s.token) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "send the ingest token as `Authorization: Bearer <token>`",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let Ok(_permit) = s.in_flight.clone().try_acquire_owned() else {
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight; retry shortly",
        );
    };
    next.run(request).await
}

async fn ingest(State(s): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                s.monitor
                    .bad("too_large", &"a request body over max_body_bytes");
                return error(status, "the body is larger than this endpoint accepts");
            }
            return error(status, rejection.body_text());
        }
    };
    let items = match body::read(&body, s.max_posts) {
        Body::Items(items) => items,
        Body::TooMany => {
            s.monitor.bad("too_many", &"a request over max_posts");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "more than {} posts in one request; send them in several",
                    s.max_posts
                ),
            );
        }
        Body::Neither => {
            s.monitor
                .bad("invalid_json", &"neither a Post nor an array");
            return error(
                StatusCode::BAD_REQUEST,
                "expected a Post object or a JSON array of Posts",
            );
        }
        Body::NotJson(e) => {
            s.monitor.bad("invalid_json", &e);
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let count = items.len();
    let mut posts = Vec::with_capacity(count);
    let mut problems = Problems::default();
    for (index, item) in items.into_iter().enumerate() {
        s.monitor.event();
        match check(item, &s.allowed) {
            Ok(post) => posts.push(post),
            Err(problem) => {
                s.monitor.bad("invalid_post", &problem);
                problems.add(index, &problem);
            }
        }
    }
    if !problems.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(problems.answer(count))).into_response();
    }
    let accepted = posts.len();
    if accepted == 0 {
        return (StatusCode::ACCEPTED, Json(json!({ "accepted": 0 }))).into_response();
    }
    let (done, acked) = oneshot::channel();
    let handed = async {
        s.acked.send(Acked { posts, done }).await.ok()?;
        acked.await.ok()
    };
    match tokio::time::timeout(s.ack_timeout, handed).await {
        Ok(Some(())) => (StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))).into_response(),
        Ok(None) => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is shutting down; retry against another instance or later",
        ),
        Err(_) => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bus did not accept the posts in time; retrying is safe (posts are de-duplicated by id)",
        ),
    }
}

/// One element of the request as a Post, or why not, naming the field.
pub(crate) fn check(item: Value, allowed: &[String]) -> Result<Post, String> {
    if !item.is_object() {
        return Err(format!("expected a Post object, got {}", json_kind(&item)));
    }
    let mut post: Post = serde_path_to_error::deserialize(item).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })?;
    // Over-long fields are refused here, where the sender learns of it; the text is
    // not a problem (it is cut for the bus, after matching).
    viral_core::limits::oversized_field(&post)?;
    if !valid_source_name(&post.source) {
        return Err(format!(
            "source: {:?} is not 1 to 64 of ASCII letters, digits, '.', '_' or '-'",
            post.source
        ));
    }
    if !allowed.is_empty() && !allowed.contains(&post.source) {
        return Err(format!(
            "source: {:?} is not accepted here (allowed: {})",
            post.source,
            allowed.join(", ")
        ));
    }
    // A url that is not a web address costs the post its link, not its count.
    crate::keep_web_url(&mut post);
    Ok(post)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
