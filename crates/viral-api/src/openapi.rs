//! The OpenAPI document, generated from the handlers' annotations so it cannot drift
//! from the code. The message types live in the pure core crate, which knows nothing of
//! HTTP; their schemas are described here, field for field (and checked against real
//! responses in the tests).

use utoipa::{OpenApi, ToSchema};

use crate::params::ErrorBody;
use crate::{events, handlers, replay};

/// A sample post carried with an alert.
#[derive(ToSchema)]
#[schema(as = Sample)]
#[allow(dead_code)]
pub struct SampleDoc {
    text: String,
    url: Option<String>,
}

/// The count of one topic's mentions in one closed window `[window_start, window_end)`.
#[derive(ToSchema)]
#[schema(as = WindowCount)]
#[allow(dead_code)]
pub struct WindowCountDoc {
    topic: String,
    #[schema(format = DateTime)]
    window_start: String,
    #[schema(format = DateTime)]
    window_end: String,
    count: u64,
}

/// The counts a detector considered normal for a window: it fires at `high` and above.
#[derive(ToSchema)]
#[schema(as = Band)]
#[allow(dead_code)]
pub struct BandDoc {
    low: f64,
    high: f64,
}

/// An incident notification (`firing` or `resolved`).
#[derive(ToSchema)]
#[schema(as = Alert)]
#[allow(dead_code)]
pub struct AlertDoc {
    /// Stable per incident: the idempotency key.
    id: String,
    topic: String,
    detector: String,
    #[schema(pattern = "^(firing|resolved)$")]
    status: String,
    #[schema(format = DateTime)]
    window_start: String,
    #[schema(format = DateTime)]
    window_end: String,
    count: u64,
    /// The detector's baseline, where it has one.
    expected: Option<f64>,
    /// The counts the detector considered normal, where it has a band.
    band: Option<BandDoc>,
    score: f64,
    #[schema(format = DateTime)]
    started_at: String,
    samples: Vec<SampleDoc>,
}

/// What became of an alert at one notifier: `pending` (handed to it, not yet known to
/// have arrived; re-sent after a restart), `delivered`, `gave_up` (refused or out of
/// retry time, with the last `error`) or `held` (cooldown or rate limit, as `reason`).
#[derive(ToSchema)]
#[schema(as = Delivery)]
#[allow(dead_code)]
pub struct DeliveryDoc {
    #[schema(pattern = "^(pending|delivered|gave_up|held)$")]
    state: String,
    /// When a `pending` delivery was queued.
    #[schema(format = DateTime)]
    since: Option<String>,
    /// When it was `delivered` or given up.
    #[schema(format = DateTime)]
    at: Option<String>,
    error: Option<String>,
    reason: Option<String>,
}

/// An alert as stored, with its delivery state per notifier name.
#[derive(ToSchema)]
#[schema(as = StoredAlert)]
#[allow(dead_code)]
pub struct StoredAlertDoc {
    #[serde(flatten)]
    alert: AlertDoc,
    deliveries: std::collections::BTreeMap<String, DeliveryDoc>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "viral query API",
        description = "Stored window counts and incidents of the tracked topics."
    ),
    paths(
        handlers::topics,
        handlers::counts,
        handlers::alerts,
        replay::expected,
        replay::backtest,
        events::events
    ),
    components(schemas(
        handlers::TopicsResponse,
        handlers::TopicSummary,
        handlers::CountsPage,
        handlers::AlertsPage,
        replay::Replay,
        ErrorBody,
        WindowCountDoc,
        AlertDoc,
        BandDoc,
        DeliveryDoc,
        StoredAlertDoc,
        SampleDoc
    ))
)]
struct ApiDoc;

/// The document served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
