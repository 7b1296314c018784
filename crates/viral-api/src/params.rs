//! Query strings in, validated ranges out. Every rejection is a 400 whose message names
//! the parameter and says what would have been accepted, because an API user's first
//! debugging tool is the error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use viral_core::time::parse_rfc3339;

use crate::{DEFAULT_PAGE, MAX_PAGE};

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong, naming the parameter.
    pub error: String,
}

/// An error answer: its status and message.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// `?from=&to=&window=&limit=` of the counts route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CountsParams {
    /// Earliest `window_start` (inclusive), RFC 3339. Default: one day before `to`.
    pub from: Option<String>,
    /// Latest `window_start` (exclusive), RFC 3339. Default: now.
    pub to: Option<String>,
    /// Window size (`30m`); must be the configured one, the only size stored.
    pub window: Option<String>,
    /// Rows per page, 1 to 5000. Default 500.
    pub limit: Option<String>,
}

/// `?from=&to=&limit=` of the alerts route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsParams {
    /// Earliest `window_start` (inclusive), RFC 3339. Default: 30 days before `to`.
    pub from: Option<String>,
    /// Latest `window_start` (exclusive), RFC 3339. Default: now.
    pub to: Option<String>,
    /// Rows per page, 1 to 5000. Default 500.
    pub limit: Option<String>,
}

/// A validated `[from, to)` and page size.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: usize,
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    parse_rfc3339(value).map_err(|e| {
        ApiError::bad(format!(
            "{name}={value:?} is not an RFC 3339 time such as 2026-11-28T18:00:00Z ({e})"
        ))
    })
}

/// Resolve the defaults and check the range: `from < to`, a page size in bounds.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<&str>,
    now: DateTime<Utc>,
    default_span: chrono::Duration,
) -> Result<Range, ApiError> {
    let to = to.map(|v| time("to", v)).transpose()?.unwrap_or(now);
    let from = match from {
        Some(v) => time("from", v)?,
        None => to
            .checked_sub_signed(default_span)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    };
    if from >= to {
        return Err(ApiError::bad(format!(
            "from ({}) must be before to ({}): the range is [from, to)",
            viral_core::time::format_rfc3339(&from),
            viral_core::time::format_rfc3339(&to)
        )));
    }
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(format!(
                    "limit={v:?} must be a whole number from 1 to {MAX_PAGE}"
                )))
            }
        },
    };
    Ok(Range { from, to, limit })
}
