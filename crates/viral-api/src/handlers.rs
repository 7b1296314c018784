//! One handler per route, and the JSON each answers with. Store failures are 503 (the
//! database is away; retry later), never 500, and nothing a client sends can panic here.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;
use viral_core::time::{format_rfc3339, from_millis};
use viral_core::{Alert, AlertStatus, WindowCount};
use viral_store::{AlertDeliveries, AlertsQuery, CountsQuery, Delivery, Order, StoreError};

use crate::openapi::{AlertDoc, StoredAlertDoc, WindowCountDoc};
use crate::params::{self, AlertsParams, ApiError, CountsParams, ErrorBody};
use crate::QueryState;

/// How many recent alerts are read to find a topic's open incidents.
const RECENT_ALERTS: usize = 100;

pub(crate) fn unavailable(e: StoreError) -> ApiError {
    tracing::warn!(error = %e, "query API: store read failed");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store is unavailable: {e}"),
    )
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad(format!("bad query string: {}", e.body_text())))
}

pub(crate) fn known_topic(state: &QueryState, topic: &str) -> Result<(), ApiError> {
    if state.topics.iter().any(|t| t == topic) {
        return Ok(());
    }
    Err(ApiError(
        StatusCode::NOT_FOUND,
        format!(
            "topic {topic:?} is not tracked; tracked topics: {}",
            state.topics.join(", ")
        ),
    ))
}

pub(crate) fn window_name(state: &QueryState) -> String {
    humantime::format_duration(state.window_size).to_string()
}

/// A tracked topic, its newest window and its open incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicSummary {
    pub name: String,
    /// The stored window size (`30m`).
    pub window: String,
    /// The newest stored window, if any.
    #[schema(value_type = Option<WindowCountDoc>)]
    pub latest: Option<WindowCount>,
    /// Whether counts are arriving: `none` (nothing counted yet), `stale` (the newest
    /// window ended more than three windows ago: no posts reach the pipeline, or it is
    /// down), or `current`. The dashboard says "normal" only for `current`.
    pub data: DataState,
    /// Open incidents: their `firing` alerts (one per detector at most).
    #[schema(value_type = Vec<AlertDoc>)]
    pub incidents: Vec<Alert>,
}

/// Whether a topic's counts are arriving (see [`TopicSummary::data`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataState {
    None,
    Stale,
    Current,
}

impl DataState {
    /// How `latest` stands against `now_ms`, for windows of `window_ms`.
    fn of(latest: Option<&WindowCount>, now_ms: i64, window_ms: i64) -> Self {
        match latest {
            None => Self::None,
            Some(w) if now_ms - w.window_end.timestamp_millis() > 3 * window_ms => Self::Stale,
            Some(_) => Self::Current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicsResponse {
    pub topics: Vec<TopicSummary>,
}

/// One page of a topic's counts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsPage {
    pub topic: String,
    pub window: String,
    pub from: String,
    pub to: String,
    #[schema(value_type = Vec<WindowCountDoc>)]
    pub counts: Vec<WindowCount>,
    /// The `from` of the next page, when this one is full; null at the end.
    pub next: Option<String>,
}

/// One page of a topic's alerts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsPage {
    pub topic: String,
    pub from: String,
    pub to: String,
    #[schema(value_type = Vec<StoredAlertDoc>)]
    pub alerts: Vec<StoredAlert>,
    /// The `from` of the next page, when this one is full; null at the end.
    pub next: Option<String>,
}

/// An alert as stored: the Alert, and what became of it at each notifier.
#[derive(Debug, Serialize)]
pub struct StoredAlert {
    #[serde(flatten)]
    pub alert: Alert,
    pub deliveries: BTreeMap<String, Delivery>,
}

impl From<AlertDeliveries> for StoredAlert {
    fn from(a: AlertDeliveries) -> Self {
        Self {
            alert: a.alert,
            deliveries: a.deliveries,
        }
    }
}

/// Tracked topics with their latest window and open incidents.
#[utoipa::path(get, path = "/api/v1/topics", tag = "viral",
    responses(
        (status = 200, description = "Every tracked topic, in config order", body = TopicsResponse),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn topics(State(state): State<QueryState>) -> Result<Json<TopicsResponse>, ApiError> {
    let mut out = Vec::with_capacity(state.topics.len());
    // One "now" for the whole answer, so every topic is judged at the same moment.
    let now_ms = state.clock.now_ms();
    let window_ms = i64::try_from(state.window_size.as_millis()).unwrap_or(i64::MAX);
    for topic in &state.topics {
        let latest = state
            .store
            .counts(&CountsQuery {
                topic: topic.clone(),
                window_size: state.window_size,
                from: None,
                to: None,
                limit: 1,
                order: Order::NewestFirst,
            })
            .await
            .map_err(unavailable)?
            .pop();
        let recent = state
            .store
            .alerts(&AlertsQuery {
                topic: topic.clone(),
                from: None,
                to: None,
                limit: RECENT_ALERTS,
                order: Order::NewestFirst,
            })
            .await
            .map_err(unavailable)?;
        let data = DataState::of(latest.as_ref(), now_ms, window_ms);
        out.push(TopicSummary {
            name: topic.clone(),
            window: window_name(&state),
            data,
            latest,
            incidents: open_incidents(recent),
        });
    }
    Ok(Json(TopicsResponse { topics: out }))
}

/// The `firing` alerts of incidents with no `resolved` alert among `recent`.
fn open_incidents(recent: Vec<Alert>) -> Vec<Alert> {
    let mut by_id: BTreeMap<String, (Option<Alert>, bool)> = BTreeMap::new();
    for a in recent {
        let e = by_id.entry(a.id.clone()).or_default();
        match a.status {
            AlertStatus::Resolved => e.1 = true,
            AlertStatus::Firing => e.0 = Some(a),
        }
    }
    let mut open: Vec<Alert> = by_id
        .into_values()
        .filter_map(|(firing, resolved)| firing.filter(|_| !resolved))
        .collect();
    open.sort_by_key(|a| std::cmp::Reverse(a.started_at));
    open
}

/// Counts of one topic over time, oldest first, one bounded page.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/counts", tag = "viral",
    params(("topic" = String, Path, description = "A tracked topic's name"), CountsParams),
    responses(
        (status = 200, description = "A page of window counts", body = CountsPage),
        (status = 400, description = "A bad parameter, named in the message", body = ErrorBody),
        (status = 404, description = "The topic is not tracked", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn counts(
    State(state): State<QueryState>,
    Path(topic): Path<String>,
    q: Result<Query<CountsParams>, QueryRejection>,
) -> Result<Json<CountsPage>, ApiError> {
    let p = query(q)?;
    known_topic(&state, &topic)?;
    if let Some(w) = &p.window {
        let size = humantime::parse_duration(w).ok();
        if size != Some(state.window_size) {
            return Err(ApiError::bad(format!(
                "window={w:?}: the store holds {} windows only",
                window_name(&state)
            )));
        }
    }
    let now = from_millis(state.clock.now_ms());
    let r = params::range(
        p.from.as_deref(),
        p.to.as_deref(),
        p.limit.as_deref(),
        now,
        Duration::days(1),
    )?;
    let counts = state
        .store
        .counts(&CountsQuery {
            topic: topic.clone(),
            window_size: state.window_size,
            from: Some(r.from),
            to: Some(r.to),
            limit: r.limit,
            order: Order::OldestFirst,
        })
        .await
        .map_err(unavailable)?;
    // A topic has one window per start, so the next page starts just after the last.
    let next = (counts.len() == r.limit)
        .then(|| counts.last())
        .flatten()
        .map(|c| format_rfc3339(&(c.window_start + Duration::milliseconds(1))));
    Ok(Json(CountsPage {
        window: window_name(&state),
        from: format_rfc3339(&r.from),
        to: format_rfc3339(&r.to),
        topic,
        counts,
        next,
    }))
}

/// Incidents of one topic (their `firing` and `resolved` alerts), oldest first.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/alerts", tag = "viral",
    params(("topic" = String, Path, description = "A tracked topic's name"), AlertsParams),
    responses(
        (status = 200, description = "A page of alerts", body = AlertsPage),
        (status = 400, description = "A bad parameter, named in the message", body = ErrorBody),
        (status = 404, description = "The topic is not tracked", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn alerts(
    State(state): State<QueryState>,
    Path(topic): Path<String>,
    q: Result<Query<AlertsParams>, QueryRejection>,
) -> Result<Json<AlertsPage>, ApiError> {
    let p = query(q)?;
    known_topic(&state, &topic)?;
    let now = from_millis(state.clock.now_ms());
    let r = params::range(
        p.from.as_deref(),
        p.to.as_deref(),
        p.limit.as_deref(),
        now,
        Duration::days(30),
    )?;
    let mut alerts: Vec<StoredAlert> = state
        .store
        .alert_deliveries(&AlertsQuery {
            topic: topic.clone(),
            from: Some(r.from),
            to: Some(r.to),
            limit: r.limit,
            order: Order::OldestFirst,
        })
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(StoredAlert::from)
        .collect();
    // Several alerts can share a window (one per detector), so a full page gives back
    // its last window's alerts and the next page starts at that window: nothing is
    // skipped, unless a single window holds more alerts than a page.
    let mut next = None;
    if alerts.len() == r.limit {
        if let Some(last) = alerts.last().map(|a| a.alert.window_start) {
            let keep = alerts
                .iter()
                .filter(|a| a.alert.window_start < last)
                .count();
            if keep > 0 {
                alerts.truncate(keep);
                next = Some(format_rfc3339(&last));
            } else {
                next = Some(format_rfc3339(&(last + Duration::milliseconds(1))));
            }
        }
    }
    Ok(Json(AlertsPage {
        from: format_rfc3339(&r.from),
        to: format_rfc3339(&r.to),
        topic,
        alerts,
        next,
    }))
}

/// The OpenAPI document of this API.
pub async fn openapi_json() -> impl IntoResponse {
    match crate::openapi::openapi().to_json() {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
