//! `GET /api/v1/events`: server-sent events as windows close, so the dashboard updates
//! without reloading.
//!
//! Design: each subscriber's stream polls the store for the newest window of its topics
//! every [`POLL`] and sends a `window` event when one is newer than the last it sent. We
//! chose polling over a broadcast channel fed by the aggregator because it is correct on
//! both binaries with no second data path: the store is the one source of truth (a
//! window is shown only once it is stored, exactly what the other routes will return),
//! it works whether the aggregator runs in this process (standalone) or the API is served
//! next to a scaled-out aggregator that wrote some windows from other instances, and a
//! restart or a slow client loses nothing (the client refetches the range on each event,
//! so several windows closing within one poll are not missed). The cost is one
//! newest-row read per topic per second per subscriber, indexed and cheap; a dashboard
//! page subscribes to one topic (`?topic=`) and the overview to all of them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::IntoParams;
use viral_store::{CountsQuery, Order};

use crate::handlers::{known_topic, query};
use crate::params::{ApiError, ErrorBody};
use crate::QueryState;

/// How often a subscriber's topics are checked for a newly closed window.
pub const POLL: Duration = Duration::from_secs(1);

/// `?topic=` of the events route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Only this topic's windows. Default: every tracked topic.
    pub topic: Option<String>,
}

/// The places for event streams (`max_event_streams`); each stream holds one while open.
#[derive(Clone)]
pub struct Streams(Arc<Semaphore>);

impl Streams {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }
}

/// One subscriber: its topics and the newest window start it has sent for each.
struct Subscriber {
    _place: OwnedSemaphorePermit,
    state: QueryState,
    topics: Vec<String>,
    sent: HashMap<String, i64>,
    first: bool,
}

impl Subscriber {
    /// Wait for the next poll, then the events it finds (possibly none).
    async fn next(mut self) -> Option<(Vec<Event>, Self)> {
        if !self.first {
            tokio::time::sleep(POLL).await;
        }
        self.first = false;
        let mut events = Vec::new();
        for topic in &self.topics {
            let newest = self
                .state
                .store
                .counts(&CountsQuery {
                    topic: topic.clone(),
                    window_size: self.state.window_size,
                    from: None,
                    to: None,
                    limit: 1,
                    order: Order::NewestFirst,
                })
                .await;
            match newest {
                Ok(mut rows) => {
                    let Some(w) = rows.pop() else { continue };
                    let start = viral_core::time::to_millis(&w.window_start);
                    if self.sent.get(topic).is_some_and(|&s| s >= start) {
                        continue;
                    }
                    self.sent.insert(topic.clone(), start);
                    if let Ok(ev) = Event::default().event("window").json_data(&w) {
                        events.push(ev);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events: store read failed");
                    events.push(
                        Event::default()
                            .event("error")
                            .data(format!("the store is unavailable: {e}; retrying")),
                    );
                }
            }
        }
        Some((events, self))
    }
}

/// A stream of `window` events (data: the WindowCount JSON), one each time a topic's
/// newest stored window changes, starting with the newest at connection time; `error`
/// events while the store is away. Keep-alive comments every 15 s.
#[utoipa::path(get, path = "/api/v1/events", tag = "viral",
    params(EventsParams),
    responses(
        (status = 200, description = "text/event-stream of `window` events", content_type = "text/event-stream", body = String),
        (status = 404, description = "The topic is not tracked", body = ErrorBody),
        (status = 503, description = "`http.max_event_streams` streams are already open", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<QueryState>,
    Extension(streams): Extension<Streams>,
    q: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let p = query(q)?;
    let place = streams.0.try_acquire_owned().map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams are open (http.max_event_streams); try again later".into(),
        )
    })?;
    let topics = match p.topic {
        Some(t) => {
            known_topic(&state, &t)?;
            vec![t]
        }
        None => state.topics.clone(),
    };
    let sub = Subscriber {
        _place: place,
        state,
        topics,
        sent: HashMap::new(),
        first: true,
    };
    let stream = stream::unfold(sub, Subscriber::next)
        .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
