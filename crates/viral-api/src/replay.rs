//! Detectors replayed over stored counts, read-only: what the dashboard draws behind the
//! counts (each window's expected value and normal band) and what a backtest shows (where
//! a detector, configured or proposed, would have fired).
//!
//! Detectors keep their state in the alerter's memory and alerts carry the band only for
//! incident windows, so the band of every window is recomputed here: the topic's stored
//! windows go through the same [`Judge`] the alerter runs, starting [`WARM_UP_DAYS`]
//! before the range (at most [`WARM_UP_WINDOWS`] of them) as the alerter's own warm-up
//! does, so the replay sees what the alerter saw. Everything is read through the
//! [`viral_store::Store`] trait: no second data path.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use viral_core::detect::{DetectorConfig, Judge, WARM_UP_DAYS, WARM_UP_WINDOWS};
use viral_core::time::{format_rfc3339, from_millis, to_millis};
use viral_core::{Alert, WindowCount};
use viral_store::{CountsQuery, Order};

use crate::handlers::{known_topic, query, unavailable, window_name};
use crate::openapi::AlertDoc;
use crate::params::{self, ApiError, ErrorBody};
use crate::QueryState;

/// The most windows one replay shows: a year of 30-minute windows (17,520) fits, a bigger
/// request is a 400 asking for a narrower range.
pub const MAX_REPLAY_WINDOWS: i64 = 20_000;
/// Rows read from the store per call while replaying.
const READ_PAGE: usize = 5_000;

/// `?from=&to=&detector=` of the expected route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpectedParams {
    /// Earliest `window_start` (inclusive), RFC 3339. Default: one day before `to`.
    pub from: Option<String>,
    /// Latest `window_start` (exclusive), RFC 3339. Default: now.
    pub to: Option<String>,
    /// A configured detector's name. Default: the first configured detector.
    pub detector: Option<String>,
}

/// `?detector=&sensitivity=&threshold=&factor=&min_count=&resolve_after=&from=&to=` of the
/// backtest route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BacktestParams {
    /// `adaptive`, `burst` or `threshold`. Default `adaptive`.
    pub detector: Option<String>,
    /// Adaptive: `sensitive`, `balanced` (default) or `strict`.
    pub sensitivity: Option<String>,
    /// Threshold: the count at which it fires (required for `threshold`).
    pub threshold: Option<String>,
    /// Burst: how many times the recent average (default 4).
    pub factor: Option<String>,
    /// Burst: below this many mentions per half hour nothing is a burst (default 20).
    pub min_count: Option<String>,
    /// How long the topic must be normal again before an incident resolves, e.g. `3h`
    /// (default: the detector's own, 3h adaptive, 1h burst, 0s threshold).
    pub resolve_after: Option<String>,
    /// Earliest `window_start` (inclusive), RFC 3339. Default: 30 days before `to`.
    pub from: Option<String>,
    /// Latest `window_start` (exclusive), RFC 3339. Default: now.
    pub to: Option<String>,
}

/// A detector replayed over one topic's stored windows in `[from, to)`. The per-window
/// values are columns (index `i` of each is window `i`, oldest first) to keep a year of
/// windows small on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replay {
    pub topic: String,
    /// The detector's name (as alerts carry it).
    pub detector: String,
    pub window: String,
    pub from: String,
    pub to: String,
    /// Each window's start, in milliseconds since the Unix epoch.
    pub start: Vec<i64>,
    pub count: Vec<u64>,
    /// The detector's baseline for the window, where it has one.
    pub expected: Vec<Option<f64>>,
    /// The low edge of the normal band, where the detector has a band.
    pub low: Vec<Option<f64>>,
    /// The high edge of the normal band (the bar at which it fires).
    pub high: Vec<Option<f64>>,
    /// Whether the detector found the window anomalous.
    pub anomalous: Vec<bool>,
    /// The alerts the detector raises in the range (`firing`, `resolved`), oldest first.
    #[schema(value_type = Vec<AlertDoc>)]
    pub alerts: Vec<Alert>,
}

fn range(
    state: &QueryState,
    from: Option<&str>,
    to: Option<&str>,
    span: Duration,
) -> Result<params::Range, ApiError> {
    let now = from_millis(state.clock.now_ms());
    let r = params::range(from, to, None, now, span)?;
    let window_ms = i64::try_from(state.window_size.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let span_ms = to_millis(&r.to).saturating_sub(to_millis(&r.from));
    let windows = span_ms / window_ms;
    if windows > MAX_REPLAY_WINDOWS {
        return Err(ApiError::bad(format!(
            "from..to spans {windows} windows; at most {MAX_REPLAY_WINDOWS} can be \
             replayed at once: narrow the range"
        )));
    }
    Ok(r)
}

/// The topic's stored windows in `[from - warm-up, to)`, oldest first: the newest
/// [`WARM_UP_WINDOWS`] of the warm-up, then the range page by page.
async fn history(
    state: &QueryState,
    topic: &str,
    r: &params::Range,
) -> Result<Vec<WindowCount>, ApiError> {
    let mut out = state
        .store
        .counts(&CountsQuery {
            topic: topic.to_owned(),
            window_size: state.window_size,
            from: Some(r.from - Duration::days(WARM_UP_DAYS)),
            to: Some(r.from),
            limit: WARM_UP_WINDOWS,
            order: Order::NewestFirst,
        })
        .await
        .map_err(unavailable)?;
    out.reverse();
    let mut from = r.from;
    loop {
        let page = state
            .store
            .counts(&CountsQuery {
                topic: topic.to_owned(),
                window_size: state.window_size,
                from: Some(from),
                to: Some(r.to),
                limit: READ_PAGE,
                order: Order::OldestFirst,
            })
            .await
            .map_err(unavailable)?;
        let full = page.len() == READ_PAGE;
        if let Some(last) = page.last() {
            from = last.window_start + Duration::milliseconds(1);
        }
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// Feed `windows` to the detector `cfg` describes, through the alerter's [`Judge`];
/// report the windows at or after `from`.
pub fn replay(
    cfg: &DetectorConfig,
    windows: &[WindowCount],
    from: DateTime<Utc>,
) -> Result<Replay, String> {
    let mut judge = Judge::new(vec![cfg.clone()]).map_err(|(_, e)| e.to_string())?;
    let mut out = Replay {
        topic: String::new(),
        detector: cfg.name().to_owned(),
        window: String::new(),
        from: String::new(),
        to: String::new(),
        start: Vec::new(),
        count: Vec::new(),
        expected: Vec::new(),
        low: Vec::new(),
        high: Vec::new(),
        anomalous: Vec::new(),
        alerts: Vec::new(),
    };
    for w in windows {
        let shown = w.window_start >= from;
        for j in judge.judge(w) {
            if !shown {
                continue;
            }
            let v = j.verdict;
            out.start.push(to_millis(&w.window_start));
            out.count.push(w.count);
            out.expected.push(v.expected);
            out.low.push(v.band.map(|b| b.low));
            out.high.push(v.band.map(|b| b.high));
            out.anomalous.push(v.anomalous);
            out.alerts.extend(j.alert);
        }
    }
    Ok(out)
}

async fn answer(
    state: &QueryState,
    topic: String,
    cfg: &DetectorConfig,
    r: params::Range,
) -> Result<Json<Replay>, ApiError> {
    let windows = history(state, &topic, &r).await?;
    let mut out = replay(cfg, &windows, r.from).map_err(ApiError::bad)?;
    out.window = window_name(state);
    out.from = format_rfc3339(&r.from);
    out.to = format_rfc3339(&r.to);
    out.topic = topic;
    Ok(Json(out))
}

/// Each window's count with a configured detector's expected value and normal band.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/expected", tag = "viral",
    params(("topic" = String, Path, description = "A tracked topic's name"), ExpectedParams),
    responses(
        (status = 200, description = "The windows with the detector's expectation", body = Replay),
        (status = 400, description = "A bad parameter, named in the message", body = ErrorBody),
        (status = 404, description = "The topic or detector is unknown", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn expected(
    State(state): State<QueryState>,
    Path(topic): Path<String>,
    q: Result<Query<ExpectedParams>, QueryRejection>,
) -> Result<Json<Replay>, ApiError> {
    let p = query(q)?;
    known_topic(&state, &topic)?;
    let cfg = match &p.detector {
        None => state.detectors.first(),
        Some(name) => state.detectors.iter().find(|d| d.name() == name),
    };
    let Some(cfg) = cfg.cloned() else {
        let names: Vec<&str> = state.detectors.iter().map(|d| d.name()).collect();
        return Err(ApiError(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "detector={:?} is not configured; configured detectors: [{}]",
                p.detector.as_deref().unwrap_or(""),
                names.join(", ")
            ),
        ));
    };
    let r = range(
        &state,
        p.from.as_deref(),
        p.to.as_deref(),
        Duration::days(1),
    )?;
    answer(&state, topic, &cfg, r).await
}

fn number<T: std::str::FromStr>(name: &str, v: Option<&str>) -> Result<Option<T>, ApiError> {
    v.map(|s| {
        s.parse::<T>()
            .map_err(|_| ApiError::bad(format!("{name}={s:?} is not a number")))
    })
    .transpose()
}

/// The detector a backtest asks for.
fn proposed(p: &BacktestParams) -> Result<DetectorConfig, ApiError> {
    let resolve_after = p
        .resolve_after
        .as_deref()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                ApiError::bad(format!(
                    "resolve_after={s:?} is not a duration (e.g. 3h): {e}"
                ))
            })
        })
        .transpose()?;
    let cfg = match p.detector.as_deref().unwrap_or("adaptive") {
        "adaptive" => DetectorConfig::Adaptive {
            sensitivity: p.sensitivity.clone(),
            name: None,
            resolve_after,
        },
        "burst" => {
            let factor = number::<f64>("factor", p.factor.as_deref())?;
            if factor.is_some_and(|f| !(f.is_finite() && f > 1.0)) {
                return Err(ApiError::bad("factor must be a number above 1"));
            }
            DetectorConfig::Burst {
                factor,
                min_count: number("min_count", p.min_count.as_deref())?,
                name: None,
                resolve_after,
            }
        }
        "threshold" => DetectorConfig::Threshold {
            threshold: number("threshold", p.threshold.as_deref())?
                .ok_or_else(|| ApiError::bad("threshold=N is required with detector=threshold"))?,
            name: None,
            resolve_after,
        },
        other => {
            return Err(ApiError::bad(format!(
                "detector={other:?}: use \"adaptive\", \"burst\" or \"threshold\""
            )))
        }
    };
    // The same validation as the config file's; the message names the parameter.
    cfg.validate()
        .map_err(|e| ApiError::bad(format!("{}: {}", e.key, e.message)))?;
    Ok(cfg)
}

/// Where a detector (any kind and setting, not only the configured ones) would have
/// fired on the topic's stored history.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/backtest", tag = "viral",
    params(("topic" = String, Path, description = "A tracked topic's name"), BacktestParams),
    responses(
        (status = 200, description = "The windows and the alerts the detector would have raised", body = Replay),
        (status = 400, description = "A bad parameter, named in the message", body = ErrorBody),
        (status = 404, description = "The topic is not tracked", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn backtest(
    State(state): State<QueryState>,
    Path(topic): Path<String>,
    q: Result<Query<BacktestParams>, QueryRejection>,
) -> Result<Json<Replay>, ApiError> {
    let p = query(q)?;
    known_topic(&state, &topic)?;
    let cfg = proposed(&p)?;
    let r = range(
        &state,
        p.from.as_deref(),
        p.to.as_deref(),
        Duration::days(30),
    )?;
    answer(&state, topic, &cfg, r).await
}
